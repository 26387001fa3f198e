"""Errors the core raises. Messages name the field or object at fault and never carry credential values."""


class OperatorError(Exception):
    """Base of every error the core raises on purpose."""


class CatalogError(OperatorError):
    """The templates directory is inconsistent (a packaging bug, not a user error)."""


class MergeConflict(OperatorError):
    """Two layers disagree on the type of a value at `path`; `by`: the later layer, when `path` names the earlier
    one (the later layer's own path is no field the user wrote, as for spec.nodes)."""

    def __init__(self, path: str, base_type: str, override_type: str, by: str = "") -> None:
        self.path = path
        if by:
            super().__init__(f"{path}: {_article(base_type)} where {by} merges {_article(override_type)}")
        else:
            super().__init__(f"{path}: cannot merge {_article(override_type)} over {_article(base_type)}")


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


class RenderError(OperatorError):
    """A template could not be rendered for a chart."""


class ApiWriteError(Exception):
    """The API server refused a write for a reason a person must look at (not a conflict, which a retry resolves):
    no permission, a quota, an admission webhook or policy, an invalid object. The message names the object."""

    def __init__(self, action: str, kind: str, namespace: str, name: str, code: int, message: str) -> None:
        super().__init__(f"{action} {kind} {namespace}/{name}: {code} {message}")
        self.code, self.api_message = code, message

    @property
    def reason(self) -> str:
        """A condition reason: what kind of refusal this is."""
        text = self.api_message.lower()
        if "exceeded quota" in text:
            return "QuotaExceeded"
        if "admission webhook" in text or "validatingadmissionpolic" in text:
            return "AdmissionDenied"
        if self.code == 403:
            return "Forbidden"
        if self.code in (400, 422):
            return "Rejected"
        return "ApiError"


class Conflict(Exception):
    """The API server refused a write made from a stale view of the object (409): someone (often this process, a
    moment ago) changed it since it was read. Nothing a person must look at: the work is done again once the watch
    delivered the newer object."""
