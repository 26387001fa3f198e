"""Offline twin of the API server's handling of a structural schema: defaulting, validation, CEL rules.

It lets `openstack-operator validate` and the renderer treat a manifest exactly as the cluster will, without a
cluster. Messages follow the API server's wording ("Unsupported value", "Required value", ...) and always start
with the field path. Unknown fields are errors, as with kubectl's default strict field validation.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator, Mapping

import celpy
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

Schema = Mapping[str, Any]

_MISSING = object()


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def apply_defaults(schema: Schema, value: Any) -> Any:
    """Return a copy of `value` with the schema's defaults filled in, parents before children."""
    value = copy.deepcopy(value)
    _default_in_place(schema, value)
    return value


def _default_in_place(schema: Schema, value: Any) -> None:
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                _default_in_place(sub, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for item in value.values():
                _default_in_place(extra, item)
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            _default_in_place(schema["items"], item)


def validate(schema: Schema, value: Any, path: str, old: Any = _MISSING) -> list[Problem]:
    """Every problem of `value` against `schema`; `old` enables CEL transition rules (those using oldSelf)."""
    return list(_check(schema, value, path, old))


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def _type_name(value: Any) -> str:
    for name, types in _JSON_TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name in ("integer", "number")):
            return name
    return "null" if value is None else type(value).__name__


def _check(schema: Schema, value: Any, path: str, old: Any) -> Iterator[Problem]:
    expected = schema.get("type")
    if expected and _type_name(value) != expected and not (expected == "number" and _type_name(value) == "integer"):
        yield Problem(path, f'Invalid value: "{_type_name(value)}": must be of type {expected}')
        return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(f'"{v}"' for v in schema["enum"])
        yield Problem(path, f'Unsupported value: "{value}": supported values: {allowed}')
    yield from _check_bounds(schema, value, path)
    if isinstance(value, dict):
        yield from _check_object(schema, value, path, old)
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from _check(schema["items"], item, f"{path}[{index}]", _MISSING)
    yield from _check_rules(schema, value, path, old)


def _check_bounds(schema: Schema, value: Any, path: str) -> Iterator[Problem]:
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            yield Problem(path, f"Invalid value: \"{value}\": must be at least {schema['minLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield Problem(path, f"Invalid value: \"{value}\": must match '{schema['pattern']}'")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield Problem(path, f"Invalid value: {value}: must be greater than or equal to {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            yield Problem(path, f"Invalid value: {value}: must be less than or equal to {schema['maximum']}")


def _check_object(schema: Schema, value: dict[str, Any], path: str, old: Any) -> Iterator[Problem]:
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for name in schema.get("required", []):
        if name not in value:
            yield Problem(f"{path}.{name}", "Required value")
    for name, item in value.items():
        old_item = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
        if name in properties:
            yield from _check(properties[name], item, f"{path}.{name}", old_item)
        elif isinstance(extra, Mapping):
            yield from _check(extra, item, f"{path}.{name}", old_item)  # map keys: dotted, as the API server
        elif not schema.get("x-kubernetes-preserve-unknown-fields") and (properties or extra is False):
            yield Problem(f"{path}.{name}", "unknown field")


def _check_rules(schema: Schema, value: Any, path: str, old: Any) -> Iterator[Problem]:
    for rule in schema.get("x-kubernetes-validations", []):
        expression = rule["rule"]
        uses_old = "oldSelf" in expression
        if uses_old and old is _MISSING:
            continue  # a transition rule only applies to updates
        activation = {"self": json_to_cel(_escape_keywords(value))}
        if uses_old:
            activation["oldSelf"] = json_to_cel(_escape_keywords(old))
        try:
            passed = bool(_program(expression).evaluate(activation))
        except CELEvalError as exc:
            yield Problem(path, f"Invalid value: rule {expression!r} could not be evaluated: {exc.args[0]}")
            continue
        if not passed:
            yield Problem(path, f"Invalid value: {rule.get('message', expression)}")  # as kube-apiserver 1.36


# Property names that are CEL keywords: the API server exposes them to rules as __<name>__.
_CEL_KEYWORDS = frozenset({"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
                           "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
                           "void", "while"})


def _escape_keywords(value: Any) -> Any:
    if isinstance(value, dict):
        return {(f"__{k}__" if k in _CEL_KEYWORDS else k): _escape_keywords(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_keywords(v) for v in value]
    return value


@lru_cache(maxsize=None)
def _program(expression: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(expression))
