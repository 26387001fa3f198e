"""The owner reference every object the operator writes for an osdpl carries: the garbage collector deletes it with
the osdpl (unless the osdpl is deleted with orphan propagation), and `kubectl get -o wide` shows who made it."""

from __future__ import annotations

from typing import Any, Mapping


def owner_reference(body: Mapping[str, Any]) -> dict[str, Any]:
    """A controller reference to `body` that does not block its deletion (the operator's finalizers order that)."""
    return {"apiVersion": body["apiVersion"], "kind": body["kind"], "name": body["metadata"]["name"],
            "uid": body["metadata"]["uid"], "controller": True, "blockOwnerDeletion": False}
