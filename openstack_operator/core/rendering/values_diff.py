"""What an apply would change in one release's values, leaf by leaf, with every secret masked. Pure.

Maps are compared key by key down to their leaves; a list is one leaf (Helm replaces lists whole). The paths are
dotted (`pod.replicas.api`), with a key that holds a dot quoted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from openstack_operator.core.secrets.redact import redact, sensitive_strings

ABSENT: Any = object()  # a side of a change where the key does not exist


@dataclass(frozen=True)
class Change:
    path: str
    old: Any  # ABSENT: added
    new: Any  # ABSENT: removed


def values_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every leaf that differs between `old` and `new`, sorted by path."""
    return sorted(_changes(old, new, ()), key=lambda change: change.path)


def _changes(old: Any, new: Any, path: tuple[str, ...]) -> Iterator[Change]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            yield from _changes(old.get(key, ABSENT), new.get(key, ABSENT), (*path, str(key)))
    elif old != new:
        yield Change(_dotted(path), old, new)


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(json.dumps(part) if "." in part or not part else part for part in path)


def describe(change: Change, secrets: Iterable[str]) -> str:
    """One line, `+ path: new`, `- path: old` or `~ path: old -> new`: values as JSON, every string of `secrets`
    and every value under a key that names a secret (password, ...) masked."""
    hidden = set(secrets) | sensitive_strings(_nest(change.path, change.old)) | \
        sensitive_strings(_nest(change.path, change.new))

    def shown(value: Any) -> str:
        return redact(json.dumps(value, sort_keys=True, ensure_ascii=False), hidden)

    if change.old is ABSENT:
        return f"+ {change.path}: {shown(change.new)}"
    if change.new is ABSENT:
        return f"- {change.path}: {shown(change.old)}"
    return f"~ {change.path}: {shown(change.old)} -> {shown(change.new)}"


def _nest(path: str, value: Any) -> Any:
    """The value under its path's keys, so that sensitive_strings sees the key names (a close enough split: a
    quoted key with a dot only loses its secret-ness by name, never by value)."""
    if value is ABSENT:
        return {}
    for key in reversed(path.split(".")):
        value = {key: value}
    return value

