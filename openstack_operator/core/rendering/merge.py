"""The merge rules of values layering.

- mappings merge key by key, recursively;
- lists and scalars replace what was there (lists are not appended: an override states the whole list);
- `null` replaces anything (Helm then drops the key from the chart's defaults);
- a mapping against a list or a scalar (either way), or a list against a scalar, is a conflict: almost always a
  misplaced key, so it is an error naming the path rather than a silent replacement.
"""

from __future__ import annotations

import marshal
from collections import abc
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from openstack_operator.core.errors import MergeConflict, OperatorError


@dataclass(frozen=True)
class Layer:
    """Values from one source; `source` is the field path users know it by (for error messages). `addressable`:
    `source` + a values path is where the user wrote that value; false for a layer built from a differently shaped
    field (spec.nodes), whose conflicts are reported at the earlier layer that wrote the value in its way."""

    source: str
    values: Mapping[str, Any]
    addressable: bool = True


def kind_of(value: Any) -> str:
    if isinstance(value, (dict, abc.Mapping)):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return "scalar"


class MergeConflicts(OperatorError):
    """Every conflict of one merge, each a MergeConflict naming its path: told together, not the first alone."""

    def __init__(self, conflicts: Sequence[MergeConflict]) -> None:
        self.conflicts = list(conflicts)
        super().__init__("; ".join(map(str, self.conflicts)))


@dataclass(frozen=True)
class _Conflict:
    path: list[str]
    base: Any
    override: Any


def merge_layers(layers: Sequence[Layer]) -> dict[str, Any]:
    """Merge layers in order (later wins) into a new dict; the inputs are never modified. Raises MergeConflict,
    or MergeConflicts naming every conflict when there are several."""
    result: dict[str, Any] = {}
    errors: list[MergeConflict] = []
    for index, layer in enumerate(layers):
        conflicts: list[_Conflict] = []
        _merge_into(result, layer.values, [], conflicts)
        errors += [_error(layers, index, conflict) for conflict in conflicts]
    if errors:
        raise errors[0] if len(errors) == 1 else MergeConflicts(errors)
    return result


def _merge_into(result: dict[str, Any], layer: Mapping[str, Any], path: list[str],
                conflicts: list[_Conflict]) -> None:
    """One layer into `result` (which it owns): a conflict is noted and the earlier value kept, so the merge goes
    on. Written out rather than through a generic merge library: this runs for every release of every render."""
    for key, value in layer.items():
        if key in result:
            base = result[key]
            if isinstance(base, dict) and isinstance(value, (dict, abc.Mapping)):
                _merge_into(base, value, [*path, key], conflicts)
                continue
            base_kind, value_kind = kind_of(base), kind_of(value)
            if base_kind != value_kind and "null" not in (base_kind, value_kind):
                conflicts.append(_Conflict([*path, key], base, value))
                continue
        result[key] = _copied(value)


def _copied(value: Any) -> Any:
    """A copy of the containers (the layer's values stay the caller's); scalars are immutable."""
    if isinstance(value, (str, int, float)) or value is None:  # most values: the cheap checks first
        return value
    if type(value) is dict or type(value) is list:
        try:  # the same copy made in C, a third of the walk below's time; format 2 shares no object between two
            return marshal.loads(marshal.dumps(value, 2))  # places, as format 3 would: each container is new
        except ValueError:  # something marshal does not take inside (a Mapping of another type, ...): the walk
            pass
    if isinstance(value, (dict, abc.Mapping)):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


def _error(layers: Sequence[Layer], index: int, conflict: _Conflict) -> MergeConflict:
    layer = layers[index]
    path = [str(key) for key in conflict.path]
    base, override = _describe(conflict.base), _describe(conflict.override)
    origin = None if layer.addressable else _origin(layers[:index], path)
    if origin is None:
        return MergeConflict(".".join([layer.source, *path]), base, override)
    return MergeConflict(".".join([origin.source, *path]), base, override, by=f"{layer.source} (at {'.'.join(path)})")


def _origin(layers: Sequence[Layer], path: list[str]) -> Layer | None:
    """The last of `layers` that holds a value at `path`: the one whose value a later layer conflicts with."""
    for layer in reversed(layers):
        node: Any = layer.values
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                break
            node = node[key]
        else:
            return layer
    return None


# A scalar's type in the words of a YAML reader, not Python's.
_SCALAR_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}


def _describe(value: Any) -> str:
    kind = kind_of(value)
    return kind if kind != "scalar" else _SCALAR_NAMES.get(type(value), type(value).__name__)
