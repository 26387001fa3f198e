"""Errors the core raises. Messages name the field or object at fault and never carry credential values."""


class OperatorError(Exception):
    """Base of every error the core raises on purpose."""


class CatalogError(OperatorError):
    """The templates directory is inconsistent (a packaging bug, not a user error)."""


class MergeConflict(OperatorError):
    """Two layers disagree on the type of a value at `path`."""

    def __init__(self, path: str, base_type: str, override_type: str) -> None:
        self.path = path
        super().__init__(f"{path}: cannot merge a {override_type} over a {base_type}")


class RenderError(OperatorError):
    """A template could not be rendered for a chart."""
