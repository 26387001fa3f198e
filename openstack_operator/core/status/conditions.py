"""The osdpl's status from what the operator knows: desired releases, bundle statuses, generation, and the
workload health the health process wrote on the osdpl (`status.health`, read back from `previous`). Pure.

The status writer compares the result with the stored status and patches only differences, so calling this on
every event costs no API write unless something a user can see changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from openstack_operator.core.health.workloads import PROGRESSING, UNHEALTHY, health_progress, not_ready, release_basis
import datetime

from openstack_operator.core.releases.helmwork import CHART_UNAVAILABLE, UNINSTALL_TARGET
from openstack_operator.core.upgrades.rollout import COMPLETED, STUCK, UPGRADE_STUCK, active, summary

CONDITION_TYPES = ("Ready", "Progressing", "Degraded")
CREDENTIALS_LOST = "CredentialsLost"
MAX_LISTED = 10  # entries named in a condition message; the rest are counted


@dataclass(frozen=True)
class Observed:
    generation: int
    reconciled_generation: int | None  # the generation whose bundles were last written, None before any
    draft: bool
    openstack_version: str
    desired: Mapping[str, Mapping[str, str]]  # service -> release -> fingerprint
    bundles: Mapping[str, Mapping[str, Any]]  # service -> bundle object (spec, status)
    spec_error: str = ""  # set when the spec cannot be rendered
    # (reason, message) when the release change is not acted on (core.upgrades.guard): nothing was written
    upgrade_held: tuple[str, str] | None = None
    deleting: bool = False  # the osdpl is being deleted: releases are being uninstalled
    blocked_by: str = ""  # another osdpl holds the namespace: this one changes nothing (core.releases.bundles.namespace_holder)
    api_error: tuple[str, str] | None = None  # (reason, message) of a write the API server refused
    # (reason, message) when the secrets process has not vetted the credentials: WaitingForCredentials (not created
    # yet) or CredentialsLost (the Secret lost what the cloud uses); nothing was written
    credentials_problem: tuple[str, str] | None = None
    applied_credentials: int | None = None  # the credentials revision the bundles were written with
    upgrade: Mapping[str, Any] | None = None  # the release change rolling out (core.upgrades.rollout), None: none in this look
    previous: Mapping[str, Any] = field(default_factory=dict)  # current osdpl status


def _release_view(status: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("state", "reason", "revision", "chart_version", "attempts", "last_error", "workloads")
    view = {k: status[k] for k in keys if status.get(k) not in (None, "", [])}
    if status.get("state") == "failed" and status.get("next_attempt_at") is not None:
        view["next_attempt"] = _timestamp(float(status["next_attempt_at"]))
    return view


def _timestamp(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def children(observed: Observed) -> dict[str, Any]:
    return release_states(observed.desired, observed.bundles)


def release_states(desired: Mapping[str, Mapping[str, str]],
                   bundles: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """service -> release -> its state as `status.children` shows it: `deployed` only at the `desired` fingerprint."""
    result = {}
    for service, releases in desired.items():
        statuses = ((bundles.get(service, {}).get("status") or {}).get("releases") or {})
        view = {}
        for name, fingerprint in releases.items():
            status = statuses.get(name, {})
            entry = _release_view(status) or {"state": "pending"}
            if status.get("state") in ("installing", "uninstalling") and status.get("last_error"):
                entry["state"] = "failed"  # a retry in flight: still failing until it succeeds (no flapping)
            if status.get("state") == "deployed" and status.get("fingerprint") != fingerprint:
                entry["state"] = "pending"  # deployed, but an older version of the values
            if status.get("state") == "failed" and status.get("target") not in (fingerprint, UNINSTALL_TARGET):
                entry = {"state": "pending"}  # failed with values no longer wanted: the new ones are on their way
            view[name] = entry
        result[service] = view
    return result


def condition(previous: Mapping[str, Any], kind: str, status: bool, reason: str, message: str,
              generation: int, now: str) -> dict[str, Any]:
    """Condition `kind` in the standard shape; its transition time stays while its status does."""
    old: Mapping[str, Any] = next((c for c in previous.get("conditions", []) if c.get("type") == kind), {})
    value = "True" if status else "False"
    return {"type": kind, "status": value, "reason": reason, "message": message,
            "lastTransitionTime": old.get("lastTransitionTime", now) if old.get("status") == value else now,
            "observedGeneration": generation}


def _listing(items: list[str], separator: str = ", ") -> str:
    shown = separator.join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def compute_status(observed: Observed, now: str) -> dict[str, Any]:
    kids = children(observed)
    previous = observed.previous
    health = previous.get("health") or {}
    # The health on the osdpl counts only once the health process has checked the current releases' workloads:
    # until then it may describe workloads of values that were replaced since.
    health_current = previous.get("health_basis") == release_basis(kids)
    unhealthy = not_ready(health, UNHEALTHY, reasons=True) if health_current else []
    # Names only: a rollout's counts change every few seconds and would rewrite the conditions each time.
    starting = not_ready(health, PROGRESSING, reasons=False) if health_current else []
    deployed = [s for s, releases in kids.items() if all(r["state"] == "deployed" for r in releases.values())]
    # Charts that could not be fetched or verified come first and set the Degraded reason: the chart source needs
    # fixing, not the manifest. They are retried without limit, so they never count as exhausted.
    unavailable = [f"{s}/{name}: {r.get('last_error', 'chart unavailable')}" for s, releases in kids.items()
                   for name, r in releases.items() if r["state"] == "failed" and r.get("reason") == CHART_UNAVAILABLE]
    failed = [f"{s}/{name}: {r.get('last_error', 'failed')}" for s, releases in kids.items()
              for name, r in releases.items() if r["state"] == "failed" and r.get("reason") != CHART_UNAVAILABLE]
    waiting = [s for s in kids if s not in deployed]
    current = observed.reconciled_generation == observed.generation
    generation = observed.reconciled_generation if observed.reconciled_generation is not None else 0
    # A look that did not advance the rollout (a refused write, a held change) still reports the one on the status.
    upgrade = observed.upgrade if observed.upgrade is not None else previous.get("upgrade")
    rolling = active(upgrade)
    stuck = rolling and (upgrade or {}).get("phase") == STUCK
    all_done = current and not waiting and not observed.spec_error and not observed.deleting \
        and not observed.upgrade_held and not rolling

    uninstalling = [s for s, releases in kids.items() if any(r["state"] != "uninstalled" for r in releases.values())]
    if observed.blocked_by:
        taken = (f"namespace already holds the deployment {observed.blocked_by}: one OpenStackDeployment per "
                 f"namespace; this one changes nothing while {observed.blocked_by} exists")
        return _blocked_status(observed, taken, now)
    if observed.deleting:
        ready = (False, "Deleting", "the deployment is being deleted")
    elif observed.spec_error:
        ready = (False, "InvalidSpec", observed.spec_error)
    elif observed.upgrade_held:
        ready = (False, *observed.upgrade_held)
    elif observed.api_error:
        ready = (False, *observed.api_error)
    elif observed.credentials_problem:
        ready = (False, *observed.credentials_problem)
    elif rolling:
        ready = (False, "Upgrading", "upgrading " + summary(upgrade or {}))
    elif all_done and not health_current:
        ready = (False, "HealthPending", "waiting for the health process to check the workloads of the releases")
    elif all_done and unhealthy:
        ready = (False, "WorkloadsUnhealthy", "unhealthy: " + _listing(unhealthy))
    elif all_done and starting:
        ready = (False, "WorkloadsProgressing", "not ready yet: " + _listing(starting))
    elif all_done:
        ready = (True, "Deployed",
                 f"{len(deployed)} services deployed, {health_progress(health)} components ready")
    elif not current:
        ready = (False, "Reconciling", f"generation {observed.generation} not applied yet")
    elif unavailable:
        ready = (False, CHART_UNAVAILABLE, "chart not available: " + _listing(unavailable, "; "))
    else:
        ready = (False, "NotReady", "not deployed: " + ", ".join(waiting))

    if observed.deleting:
        progressing = (True, "Deleting", "uninstalling: " + ", ".join(uninstalling) if uninstalling else "finishing")
    elif observed.draft:
        progressing = (False, "Draft", "spec.draft is true: changes are paused")
    elif observed.spec_error:
        progressing = (False, "InvalidSpec", observed.spec_error)
    elif observed.upgrade_held:  # nothing moves until the spec names a release that can follow
        progressing = (False, *observed.upgrade_held)
    elif observed.api_error:
        progressing = (True, "Retrying", "the API server refused a write; retrying with backoff")
    elif observed.credentials_problem and observed.credentials_problem[0] == CREDENTIALS_LOST:
        progressing = (False, CREDENTIALS_LOST, "no release is changed until the credentials are restored")
    elif observed.credentials_problem:
        progressing = (True, *observed.credentials_problem)
    elif stuck:  # as a Deployment past its progress deadline: nothing moves until the service is fixed
        progressing = (False, UPGRADE_STUCK, "upgrade stopped at " + summary(upgrade or {}))
    elif rolling:
        progressing = (True, "Upgrading", "upgrading " + summary(upgrade or {}))
    elif all_done and (starting or not health_current):
        progressing = (True, "WorkloadsProgressing", "rolling out: " + _listing(starting) if starting
                       else "checking workload health")
    elif all_done:
        progressing = (False, "Deployed", "nothing to do")
    else:
        progressing = (True, "Deploying", "working on: " + ", ".join(waiting) if waiting else "applying spec")

    if observed.api_error:
        degraded = (True, *observed.api_error)
    elif observed.credentials_problem and observed.credentials_problem[0] == CREDENTIALS_LOST:
        degraded = (True, *observed.credentials_problem)
    elif stuck:
        degraded = (True, UPGRADE_STUCK, f"the upgrade to {(upgrade or {}).get('to')} stopped at "
                                         f"{(upgrade or {}).get('message')}")
    elif unavailable:
        degraded = (True, CHART_UNAVAILABLE, _listing(unavailable + failed, "; "))
    elif failed:
        degraded = (True, "ReleaseFailed", "; ".join(failed))
    elif unhealthy:
        degraded = (True, "WorkloadsUnhealthy", "unhealthy: " + _listing(unhealthy))
    elif (previous.get("ceph") or {}).get("state") == "Invalid":  # the copy in use stays; a new one waits
        degraded = (True, "CephKeysInvalid", str(previous["ceph"].get("message", "")))
    elif (previous.get("certificate") or {}).get("state") == "Invalid":  # the Gateway's; releases are fine
        degraded = (True, "CertificateInvalid", str(previous["certificate"].get("message", "")))
    else:
        degraded = (False, "AsExpected", "")

    conditions = [condition(previous, kind, *value, observed.generation, now)
                  for kind, value in zip(CONDITION_TYPES, (ready, progressing, degraded))]
    status: dict[str, Any] = {
        "conditions": conditions,
        "children": kids,
        "lcm_progress": f"{len(deployed)}/{len(kids)}",
    }
    if observed.reconciled_generation is not None:
        status["observedGeneration"] = generation
    if observed.applied_credentials is not None:
        status["applied_credentials"] = observed.applied_credentials
    if observed.upgrade is not None:
        status["upgrade"] = dict(observed.upgrade)
    # The release runs once every service moved to it: while a rollout runs, the one it started from.
    if observed.upgrade is not None and observed.upgrade.get("phase") == COMPLETED:
        status["openstack_version"] = observed.upgrade["to"]
    elif all_done:
        status["openstack_version"] = observed.openstack_version
    elif previous.get("openstack_version"):
        status["openstack_version"] = previous["openstack_version"]
    return status


def _blocked_status(observed: Observed, message: str, now: str) -> dict[str, Any]:
    reason = "NamespaceInUse"
    conditions = [condition(observed.previous, kind, value, reason, message, observed.generation, now)
                  for kind, value in zip(CONDITION_TYPES, (False, False, True))]
    return {"conditions": conditions, "children": {}, "lcm_progress": "0/0"}


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


REFUSED = "Refused"  # a HelmBundle's condition: the helmbundle process does not act on it


def refusal_conditions(status: Mapping[str, Any], problem: str | None, generation: int,
                       now: str) -> list[dict[str, Any]] | None:
    """A HelmBundle's conditions with `Refused` as `problem` (core.releases.bundles.trust_problem) says; None when nothing
    changes (a bundle never refused carries no such condition)."""
    old = next((c for c in status.get("conditions") or [] if c.get("type") == REFUSED), None)
    if problem is None and old is None:
        return None
    new = condition(status, REFUSED, problem is not None, "Untrusted" if problem else "Trusted",
                    problem or "as the osdpl of its namespace writes it", generation, now)
    if old is not None and all(old.get(k) == new[k] for k in ("status", "reason", "message")):
        return None
    return [*(c for c in status.get("conditions") or [] if c.get("type") != REFUSED), new]


def condition_states(status: Mapping[str, Any]) -> dict[str, bool]:
    """Each condition type of an osdpl status -> whether it is True (a type not reported yet: False)."""
    reported = {c.get("type"): c.get("status") == "True" for c in status.get("conditions") or []}
    return {kind: reported.get(kind, False) for kind in CONDITION_TYPES}


def failing_releases(status: Mapping[str, Any]) -> int:
    """Releases the osdpl status shows as failed (their last Helm operation failed; retried)."""
    return sum(1 for releases in (status.get("children") or {}).values() for entry in releases.values()
               if entry.get("state") == "failed")
