"""JSON merge patches (RFC 7386) of a status: the difference between what is stored and what should be. Pure."""

from __future__ import annotations

from typing import Any, Mapping


def status_patch(previous: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch turning `previous` into `new` for the keys of `new` (other status keys untouched)."""
    return {k: v for k, v in ((k, _merge_diff(previous.get(k), v)) for k, v in new.items()) if v is not _SAME}


_SAME = object()


def _merge_diff(old: Any, new: Any) -> Any:
    """The merge-patch value that turns `old` into `new`; _SAME when they are equal. Maps recurse, so a key that
    disappeared (a service, a release, a cleared `last_error`) is patched to null; anything else is replaced."""
    if old == new:
        return _SAME
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return new
    patch = {k: None for k in old if k not in new}
    for key, value in new.items():
        diff = _merge_diff(old.get(key), value)
        if diff is not _SAME:
            patch[key] = diff
    return patch
