"""Credential rotation as a state machine on the osdpl status (`status.credentials.rotations.<group>`). Pure.

A user asks with an annotation, `openstack.osop.dev/rotate-<group>: <any new value>`, not with a spec field: the
manifest Argo CD or Flux syncs stays as it is in Git, and the value is the request's identity, so re-applying or
repeating it never rotates twice (docs/operations.md). One rotation runs at a time, in two phases:

1. `RollingOut`: the credentials of the group have successors (new user and password, core.secrets.credentials.rotated);
   the releases that use them are upgraded with them; the old users still work meanwhile.
2. once the deployment is Ready with every release rendered from the new credentials (`status.applied_credentials`
   has reached the rotation's revision), the old records are forgotten: `Done`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from openstack_operator.core.catalog import ROTATION_GROUPS
from openstack_operator.core.models.osdpl_status import AppliedView

ROTATE_ANNOTATION_PREFIX = "openstack.osop.dev/rotate-"
RESTORE_ANNOTATION = "openstack.osop.dev/restore-credentials"
ROLLING_OUT, DONE = "RollingOut", "Done"


def rotate_annotation(group: str) -> str:
    return ROTATE_ANNOTATION_PREFIX + group


@dataclass(frozen=True)
class Step:
    """What the secrets process does next about rotations: start one, finish one, or nothing."""
    action: str  # "start", "finish", "wait" (a request waits for a release change) or "none"
    group: str = ""
    request: str = ""


def next_step(annotations: Mapping[str, str], rotations: Mapping[str, Mapping[str, Any]],
              osdpl_status: Mapping[str, Any], generation: int, release_changing: bool) -> Step:
    """`release_changing`: the spec names another OpenStack release than the one that runs, or a rollout of one has
    not finished (core.upgrades.rollout): a requested rotation waits for it (`wait`), so that no release is moved to new
    credentials and a new release in one step."""
    running = next((g for g, r in sorted(rotations.items()) if r.get("phase") == ROLLING_OUT), None)
    if running is not None:
        if rolled_out(osdpl_status, generation, int(rotations[running].get("revision", 0))):
            return Step("finish", running, str(rotations[running].get("request", "")))
        return Step("none")
    for group in ROTATION_GROUPS:
        request = annotations.get(rotate_annotation(group))
        if request and request != (rotations.get(group) or {}).get("request"):
            return Step("wait" if release_changing else "start", group, request)
    return Step("none")


def rolled_out(osdpl_status: Mapping[str, Any], generation: int, revision: int) -> bool:
    """Every release is deployed with credentials of `revision` or later, and its workloads are ready: the Ready
    condition and `applied_credentials` are written together by the osdpl process (its section of the status)."""
    applied = AppliedView.of(osdpl_status)
    return applied.applied_credentials >= revision and applied.ready and applied.ready_generation == generation
