"""Offline twin of the API server's handling of a structural schema: defaulting, validation, CEL rules.

It lets `openstack-operator validate` and the renderer treat a manifest exactly as the cluster will, without a
cluster. Messages are the API server's own (kube-apiserver 1.36: the same wording and value formatting) and
always start with the field path; tests/integration/test_crds.py runs each case of tests/osdpl_cases.py against
both. Unknown fields are errors, as with kubectl's default strict field validation.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from typing import Any, Iterator, Mapping

from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from openstack_operator.core.schema.cel_library import program
from openstack_operator.core.schema.problem import Problem

Schema = Mapping[str, Any]

_MISSING = object()


def apply_defaults(schema: Schema, value: Any) -> Any:
    """Return a copy of `value` as the API server stores it: nulls of non-nullable fields without a default dropped
    (kube-apiserver's PruneNonNullableNullsWithoutDefaults), then the schema's defaults filled in, parents before
    children, a null counting as missing where there is a default. Nulls where the schema says nothing (inside
    free-form `values`) and list items are kept: a null list item is then a type error, as on the API server."""
    value = copy.deepcopy(value)
    _prune_nulls(schema, value)
    _default_in_place(schema, value)
    return value


def _field_schema(schema: Schema | None, name: str) -> Schema | None:
    if schema is None:
        return None
    if name in schema.get("properties", {}):
        sub: Schema = schema["properties"][name]
        return sub
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


def _prunable_null(value: Any, schema: Schema | None) -> bool:
    return value is None and schema is not None and not schema.get("nullable") and "default" not in schema


def _prune_nulls(schema: Schema | None, value: Any) -> None:
    if isinstance(value, dict):
        for name in list(value):
            sub = _field_schema(schema, name)
            if _prunable_null(value[name], sub):
                del value[name]
            else:
                _prune_nulls(sub, value[name])
    elif isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        for item in value:
            _prune_nulls(items, item)


def _null_to_default(value: Any, schema: Schema) -> bool:
    return value is None and not schema.get("nullable") and "default" in schema


def _default_in_place(schema: Schema, value: Any) -> None:
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if "default" in sub and (name not in value or _null_to_default(value[name], sub)):
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                _default_in_place(sub, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for name in value:
                if name in schema.get("properties", {}):
                    continue
                if _null_to_default(value[name], extra):
                    value[name] = copy.deepcopy(extra["default"])
                _default_in_place(extra, value[name])
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            if _null_to_default(item, schema["items"]):
                value[index] = copy.deepcopy(schema["items"]["default"])
            _default_in_place(schema["items"], value[index])


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


def _check(schema: Schema, value: Any, path: str, old: Any, cel_path: str | None = None) -> Iterator[Problem]:
    """`cel_path`: the path CEL rules report, where a map entry is `[key]` (the schema's own checks: `.key`)."""
    cel_path = path if cel_path is None else cel_path
    expected = schema.get("type")
    if expected and _type_name(value) != expected and not (expected == "number" and _type_name(value) == "integer"):
        actual = _type_name(value)
        yield Problem(path, f'Invalid value: "{actual}": {path} in body must be of type {expected}: "{actual}"')
        return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(f'"{v}"' for v in schema["enum"])
        yield Problem(path, f'Unsupported value: {_go_value(value)}: supported values: {allowed}')
    yield from _check_bounds(schema, value, path)
    if isinstance(value, dict):
        yield from _check_object(schema, value, path, old, cel_path)
    elif isinstance(value, list):
        if "items" in schema:
            for index, item in enumerate(value):
                yield from _check(schema["items"], item, f"{path}[{index}]", _MISSING, f"{cel_path}[{index}]")
        yield from _check_list_type(schema, value, path)
    yield from _check_rules(schema, value, cel_path, old)


def _check_list_type(schema: Schema, value: list[Any], path: str) -> Iterator[Problem]:
    """x-kubernetes-list-type set/map: the second occurrence of an item (set) or of a key (map) is an error, as
    kube-apiserver's listtype validation reports it (later repeats of the same value are not reported again)."""
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        keys = value
    elif list_type == "map":
        if any(item is not None and not isinstance(item, dict) for item in value):
            return  # the items' type error is reported already
        names = schema.get("x-kubernetes-list-map-keys", [])
        keys = [{k: item[k] for k in names if k in item} if isinstance(item, dict) else {} for item in value]
    else:
        return
    seen: dict[Any, int] = {}
    for index, key in enumerate(keys):
        identity = _identity(key)
        seen[identity] = seen.get(identity, 0) + 1
        if seen[identity] == 2:
            yield Problem(f"{path}[{index}]", f"Duplicate value: {_go_value(key)}")


def _identity(value: Any) -> Any:
    """Equality as Go's: 1, 1.0 and true are different values; objects and lists compare by their JSON."""
    if isinstance(value, (dict, list)):
        return "json", json.dumps(value, sort_keys=True, separators=(",", ":"))
    return type(value).__name__, value


def _go_value(value: Any) -> str:
    """A bad value as the API server prints it (k8s.io/apimachinery field.Error): strings quoted, numbers and
    booleans plain, anything else as compact JSON with sorted keys."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))  # Go's %v: 2.0 prints as 2
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _check_bounds(schema: Schema, value: Any, path: str) -> Iterator[Problem]:
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            yield Problem(path, f"Invalid value: {_go_value(value)}: {path} in body should be at least "
                                f"{schema['minLength']} chars long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield Problem(path, f"Too long: may not be more than {schema['maxLength']} bytes")  # as kube-apiserver
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield Problem(path, f"Invalid value: {_go_value(value)}: {path} in body should match '{schema['pattern']}'")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield Problem(path, f"Invalid value: {_go_value(value)}: {path} in body should be greater than or equal "
                                f"to {_go_value(schema['minimum'])}")
        if "maximum" in schema and value > schema["maximum"]:
            yield Problem(path, f"Invalid value: {_go_value(value)}: {path} in body should be less than or equal "
                                f"to {_go_value(schema['maximum'])}")


def _check_object(schema: Schema, value: dict[str, Any], path: str, old: Any, cel_path: str) -> Iterator[Problem]:
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for name in schema.get("required", []):
        if name not in value:
            yield Problem(f"{path}.{name}", "Required value")
    for name, item in value.items():
        old_item = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
        if name in properties:
            yield from _check(properties[name], item, f"{path}.{name}", old_item, f"{cel_path}.{name}")
        elif isinstance(extra, Mapping):
            # map keys: dotted in the schema's errors, [key] in CEL's, as the API server
            yield from _check(extra, item, f"{path}.{name}", old_item, f"{cel_path}[{name}]")
        elif not schema.get("x-kubernetes-preserve-unknown-fields") and (properties or extra is False):
            yield Problem(f"{path}.{name}", "unknown field")


def _check_rules(schema: Schema, value: Any, path: str, old: Any) -> Iterator[Problem]:
    rules = schema.get("x-kubernetes-validations", [])
    if not rules:
        return
    # Converted once for all the node's rules: a large object (features) carries dozens of them.
    current = json_to_cel(_cel_input(schema, value))
    transitions = old is not _MISSING and any("oldSelf" in rule["rule"] for rule in rules)
    previous = json_to_cel(_cel_input(schema, old)) if transitions else None
    for rule in rules:
        expression = rule["rule"]
        uses_old = "oldSelf" in expression
        if uses_old and old is _MISSING:
            continue  # a transition rule only applies to updates
        activation = {"self": current}
        if uses_old:
            activation["oldSelf"] = previous
        try:
            passed = bool(_program(expression).evaluate(activation))
        except CELEvalError as exc:
            yield Problem(path, f"Invalid value: rule {expression!r} could not be evaluated: {exc.args[0]}")
            continue
        if not passed:  # as kube-apiserver 1.36, at the rule's fieldPath if it names one (".a.b"), with the value
            # when the rule is on a scalar
            shown = f"{_go_value(value)}: " if isinstance(value, (str, int, float)) else ""
            yield Problem(path + rule.get("fieldPath", ""), f"Invalid value: {shown}{rule.get('message', expression)}")


# Property names that are CEL keywords: the API server exposes them to rules as __<name>__.
_CEL_KEYWORDS = frozenset({"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
                           "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
                           "void", "while"})


def _cel_input(schema: Schema | None, value: Any) -> Any:
    """`value` as the API server hands it to a rule: properties that are CEL keywords as __<name>__, and a
    `number` field, or an integer beyond int64 (which JSON decoding makes a float64), as a double. celpy's int is
    64-bit: a rule on an object holding a large allocation ratio would not even convert otherwise."""
    if isinstance(value, dict):
        return {(f"__{k}__" if k in _CEL_KEYWORDS else k): _cel_input(_field_schema(schema, k), v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_cel_input(schema.get("items") if schema is not None else None, v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and (
            (schema is not None and schema.get("type") == "number") or not -2**63 <= value < 2**63):
        return float(value)
    return value


@lru_cache(maxsize=None)
def _program(expression: str) -> Any:
    return program(expression)  # celpy with kube-apiserver's short-circuits and libraries
