"""The osdpl's status from what the operator knows: desired releases, bundle statuses, generation. Pure.

The status writer compares the result with the stored status and patches only differences, so calling this on
every event costs no API write unless something a user can see changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from openstack_operator.core.helmwork import MAX_ATTEMPTS

CONDITION_TYPES = ("Ready", "Progressing", "Degraded")


@dataclass(frozen=True)
class Observed:
    generation: int
    reconciled_generation: int | None  # the generation whose bundles were last written, None before any
    draft: bool
    openstack_version: str
    desired: Mapping[str, Mapping[str, str]]  # service -> release -> fingerprint
    bundles: Mapping[str, Mapping[str, Any]]  # service -> bundle object (spec, status)
    spec_error: str = ""  # set when the spec cannot be rendered
    deleting: bool = False  # the osdpl is being deleted: releases are being uninstalled
    previous: Mapping[str, Any] = field(default_factory=dict)  # current osdpl status


def _release_view(status: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("state", "revision", "chart_version", "attempts", "last_error")
    return {k: status[k] for k in keys if status.get(k) not in (None, "")}


def children(observed: Observed) -> dict[str, Any]:
    result = {}
    for service, releases in observed.desired.items():
        statuses = ((observed.bundles.get(service, {}).get("status") or {}).get("releases") or {})
        view = {}
        for name, fingerprint in releases.items():
            status = statuses.get(name, {})
            entry = _release_view(status) or {"state": "pending"}
            if status.get("state") == "deployed" and status.get("fingerprint") != fingerprint:
                entry["state"] = "pending"  # deployed, but an older version of the values
            view[name] = entry
        result[service] = view
    return result


def _condition(previous: Mapping[str, Any], kind: str, status: bool, reason: str, message: str,
               generation: int, now: str) -> dict[str, Any]:
    old: Mapping[str, Any] = next((c for c in previous.get("conditions", []) if c.get("type") == kind), {})
    value = "True" if status else "False"
    return {"type": kind, "status": value, "reason": reason, "message": message,
            "lastTransitionTime": old.get("lastTransitionTime", now) if old.get("status") == value else now,
            "observedGeneration": generation}


def compute_status(observed: Observed, now: str) -> dict[str, Any]:
    kids = children(observed)
    deployed = [s for s, releases in kids.items() if all(r["state"] == "deployed" for r in releases.values())]
    failed = [f"{s}/{name}: {r.get('last_error', 'failed')}" for s, releases in kids.items()
              for name, r in releases.items() if r["state"] == "failed"]
    exhausted = [f"{s}/{name}" for s, releases in kids.items() for name, r in releases.items()
                 if r["state"] == "failed" and int(r.get("attempts", 0)) >= MAX_ATTEMPTS]
    waiting = [s for s in kids if s not in deployed]
    current = observed.reconciled_generation == observed.generation
    generation = observed.reconciled_generation if observed.reconciled_generation is not None else 0
    all_done = current and not waiting and not observed.spec_error and not observed.deleting

    uninstalling = [s for s, releases in kids.items() if any(r["state"] != "uninstalled" for r in releases.values())]
    if observed.deleting:
        ready = (False, "Deleting", "the deployment is being deleted")
    elif observed.spec_error:
        ready = (False, "InvalidSpec", observed.spec_error)
    elif all_done:
        ready = (True, "Deployed", f"{len(deployed)} services deployed")
    elif not current:
        ready = (False, "Reconciling", f"generation {observed.generation} not applied yet")
    else:
        ready = (False, "NotReady", "not deployed: " + ", ".join(waiting))

    if observed.deleting:
        progressing = (True, "Deleting", "uninstalling: " + ", ".join(uninstalling) if uninstalling else "finishing")
    elif observed.draft:
        progressing = (False, "Draft", "spec.draft is true: changes are paused")
    elif observed.spec_error:
        progressing = (False, "InvalidSpec", observed.spec_error)
    elif exhausted:
        progressing = (False, "RetriesExhausted", "gave up after retries: " + ", ".join(exhausted))
    elif all_done:
        progressing = (False, "Deployed", "nothing to do")
    else:
        progressing = (True, "Deploying", "working on: " + ", ".join(waiting) if waiting else "applying spec")

    degraded = (True, "ReleaseFailed", "; ".join(failed)) if failed else (False, "AsExpected", "")

    previous = observed.previous
    conditions = [_condition(previous, kind, *value, observed.generation, now)
                  for kind, value in zip(CONDITION_TYPES, (ready, progressing, degraded))]
    status: dict[str, Any] = {
        "conditions": conditions,
        "children": kids,
        "lcm_progress": f"{len(deployed)}/{len(kids)}",
    }
    if observed.reconciled_generation is not None:
        status["observedGeneration"] = generation
    if all_done:
        status["openstack_version"] = observed.openstack_version
    elif previous.get("openstack_version"):
        status["openstack_version"] = previous["openstack_version"]
    return status


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
