"""The merge rules of values layering.

- mappings merge key by key, recursively;
- lists and scalars replace what was there (lists are not appended: an override states the whole list);
- `null` replaces anything (Helm then drops the key from the chart's defaults);
- a mapping against a list or a scalar (either way), or a list against a scalar, is a conflict: almost always a
  misplaced key, so it is an error naming the path rather than a silent replacement.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from deepmerge import Merger

from openstack_operator.core.errors import MergeConflict


@dataclass(frozen=True)
class Layer:
    """Values from one source; `source` is the field path users know it by (for error messages)."""

    source: str
    values: Mapping[str, Any]


def kind_of(value: Any) -> str:
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return "scalar"


class _Conflict(Exception):
    def __init__(self, path: list[str], base: Any, override: Any) -> None:
        self.path, self.base, self.override = path, base, override


def _on_type_mismatch(config: Merger, path: list[str], base: Any, override: Any) -> Any:
    base_kind, override_kind = kind_of(base), kind_of(override)
    if base_kind == override_kind or "null" in (base_kind, override_kind):
        return override  # e.g. an int replacing a string: both scalars
    raise _Conflict(path, base, override)


_MERGER = Merger(
    type_strategies=[(dict, ["merge"]), (list, ["override"])],
    fallback_strategies=["override"],
    type_conflict_strategies=[_on_type_mismatch],
)


def merge_layers(layers: Sequence[Layer]) -> dict[str, Any]:
    """Merge layers in order (later wins) into a new dict; the inputs are never modified."""
    result: dict[str, Any] = {}
    for layer in layers:
        try:
            _MERGER.merge(result, copy.deepcopy(dict(layer.values)))
        except _Conflict as conflict:
            where = ".".join([layer.source, *map(str, conflict.path)])
            raise MergeConflict(where, _describe(conflict.base), _describe(conflict.override)) from None
    return result


def _describe(value: Any) -> str:
    kind = kind_of(value)
    return kind if kind != "scalar" else type(value).__name__
