"""A JSON merge patch (RFC 7386) applied as the API server applies it, for the fake gateways of the reconciler
tests."""

from __future__ import annotations

import copy
from typing import Any, Mapping


def merged(target: Any, patch: Any) -> Any:
    """`target` with `patch` applied (neither is changed): maps merge key by key, null removes a key, anything else
    replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merged(result.get(key), value)
    return result
