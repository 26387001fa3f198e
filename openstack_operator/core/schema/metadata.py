"""What the API server requires of an object's root and metadata, with its messages (k8s.io/apimachinery's
validation): known root and metadata fields only, label and annotation keys and values, the namespace name. The
CRD's schema cannot state these (the API server checks them before the schema), so they are checked here, offline
and in the processes alike."""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from openstack_operator.core.schema.problem import Problem

ROOT_FIELDS = ("apiVersion", "kind", "metadata", "spec")
# ObjectMeta's fields as the API server decodes them (a manifest sets few of them; an object read back has more).
METADATA_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
    "managedFields"})
MAX_ANNOTATIONS_BYTES = 256 * 1024  # all keys and values of one object's annotations together

_NAME_PART = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME_PART_MESSAGE = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                      f"alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                      f"validation is '{_NAME_PART}')")
_LABEL_VALUE_MESSAGE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                        "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                        f"'my_value',  or '12345', regex used for validation is '({_NAME_PART})?')")
DNS_SUBDOMAIN = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    f"and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '{DNS_SUBDOMAIN}')")
DNS_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    f"with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '{DNS_LABEL}')")


def _type_problem(path: str, value: Any, expected: str) -> Problem:
    actual = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__)
    return Problem(path, f'Invalid value: "{actual}": {path} in body must be of type {expected}: "{actual}"')


def quoted(text: str, limit: int = 256) -> str:
    """A value in a message, quoted as Go's %q would, cut past `limit` characters (messages stay one short line)."""
    cut = text if len(text) <= limit else text[:limit] + "..."
    return json.dumps(cut, ensure_ascii=False)


def _too_long(value: str, limit: int) -> list[str]:
    """The API server's length check: bytes, as Go counts a string."""
    return [f"must be no more than {limit} bytes"] if len(value.encode()) > limit else []


def dns_subdomain_problems(value: str) -> list[str]:
    problems = _too_long(value, 253)
    return problems + ([] if re.fullmatch(DNS_SUBDOMAIN, value) else [DNS_SUBDOMAIN_MESSAGE])


def dns_label_problems(value: str) -> list[str]:
    problems = _too_long(value, 63)
    return problems + ([] if re.fullmatch(DNS_LABEL, value) else [DNS_LABEL_MESSAGE])


def qualified_name_problems(key: str) -> list[str]:
    """A label or annotation key: an optional DNS subdomain prefix and '/', then a name of at most 63 characters."""
    parts = key.split("/")
    if len(parts) > 2:
        return [f"a valid label key {_NAME_PART_MESSAGE} with an optional DNS subdomain prefix and '/' (e.g. "
                "'example.com/MyName')"]
    problems: list[str] = []
    if len(parts) == 2:
        problems += ["prefix part must be non-empty"] if not parts[0] else \
            [f"prefix part {message}" for message in dns_subdomain_problems(parts[0])]
    name = parts[-1]
    if not name:
        return problems + ["name part must be non-empty", f"name part {_NAME_PART_MESSAGE}"]
    problems += [f"name part {message}" for message in _too_long(name, 63)]
    return problems + ([] if re.fullmatch(_NAME_PART, name) else [f"name part {_NAME_PART_MESSAGE}"])


def label_value_problems(value: str) -> list[str]:
    problems = _too_long(value, 63)
    return problems + ([] if not value or re.fullmatch(_NAME_PART, value) else [_LABEL_VALUE_MESSAGE])


def root_problems(doc: Mapping[str, Any]) -> list[Problem]:
    """A manifest's root fields (not an object read back: that has a status). `status` is refused with the reason:
    the API server would drop it silently, and a manifest that seems to set it misleads its reader."""
    problems = []
    for key in doc:
        if key == "status":
            problems.append(Problem("status", "Forbidden: the operator writes the status; remove it from the "
                                              "manifest (the API server ignores it)"))
        elif key not in ROOT_FIELDS:
            problems.append(Problem(str(key), f"unknown field {quoted(str(key))}"))
    return problems


def metadata_problems(metadata: Mapping[str, Any]) -> list[Problem]:
    """Unknown metadata fields, labels, annotations and the namespace, as the API server judges them."""
    problems = [Problem(f"metadata.{key}", f"unknown field {quoted(f'metadata.{key}')}")
                for key in metadata if key not in METADATA_FIELDS]
    namespace = metadata.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        problems.append(_type_problem("metadata.namespace", namespace, "string"))
    elif namespace:
        problems += [Problem("metadata.namespace", f"Invalid value: {quoted(namespace)}: {message}")
                     for message in dns_label_problems(namespace)]
    return problems + _labels_problems(metadata.get("labels")) + _annotations_problems(metadata.get("annotations"))


def _string_map(value: Any, path: str) -> tuple[dict[str, str], list[Problem]]:
    if value is None:
        return {}, []
    if not isinstance(value, dict):
        return {}, [_type_problem(path, value, "object")]
    bad = [_type_problem(f"{path}.{key}", item, "string") for key, item in value.items() if not isinstance(item, str)]
    return {key: item for key, item in value.items() if isinstance(item, str)}, bad


def _labels_problems(value: Any) -> list[Problem]:
    labels, problems = _string_map(value, "metadata.labels")
    for key, label in labels.items():
        problems += [Problem("metadata.labels", f"Invalid value: {quoted(key)}: {message}")
                     for message in qualified_name_problems(key)]
        problems += [Problem("metadata.labels", f"Invalid value: {quoted(label)}: {message}")
                     for message in label_value_problems(label)]
    return problems


def _annotations_problems(value: Any) -> list[Problem]:
    annotations, problems = _string_map(value, "metadata.annotations")
    for key in annotations:  # as a label key, but in any case
        problems += [Problem("metadata.annotations", f"Invalid value: {quoted(key)}: {message}")
                     for message in qualified_name_problems(key.lower())]
    if sum(len(key.encode()) + len(text.encode()) for key, text in annotations.items()) > MAX_ANNOTATIONS_BYTES:
        problems.append(Problem("metadata.annotations", f"Too long: may not be more than {MAX_ANNOTATIONS_BYTES} "
                                                        "bytes"))
    return problems
