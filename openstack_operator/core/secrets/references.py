"""Sensitive spec values given by reference (`value_from.secret_key_ref`, core.schema.builders.secret_key_ref):
where a (defaulted) spec holds one, and what the renderer gets for them. Only references the deployment uses count:
one inside a block whose `enabled` is false is not read, so a disabled backend never holds a deployment up.

A reference names a Secret of the osdpl's own namespace and nothing else: an osdpl cannot read another namespace's
Secrets through the operator. The osdpl process reads them before each render (reconcilers.osdpl_apply); offline
commands render placeholders."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterator, Mapping


@dataclass(frozen=True)
class SecretKeyRef:
    name: str
    key: str


def references(spec_fields: Mapping[str, Any], prefix: str = "spec") -> dict[str, SecretKeyRef]:
    """Field path (spec.features...) -> the Secret key it names, for every reference in use."""
    return dict(_walk(spec_fields, prefix))


def _walk(node: Any, path: str) -> Iterator[tuple[str, SecretKeyRef]]:
    if isinstance(node, Mapping):
        if node.get("enabled") is False:
            return
        ref = (node.get("value_from") or {}).get("secret_key_ref") if isinstance(node.get("value_from"), Mapping) \
            else None
        if isinstance(ref, Mapping):
            yield path, SecretKeyRef(str(ref["name"]), str(ref["key"]))
            return
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")


def placeholders(refs: Mapping[str, SecretKeyRef]) -> dict[str, str]:
    """Stand-ins for offline rendering: show where each value lands without reading it."""
    return {path: f"<{path}>" for path in refs}


def digest(values: Mapping[str, str]) -> str:
    """Of the values read: a change re-renders the deployment (its basis, reconcilers.osdpl_apply)."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:20]
