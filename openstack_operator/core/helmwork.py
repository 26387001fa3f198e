"""What the helmbundle operator should do next for a bundle, given its peers: pure decisions, no I/O.

Release states in bundle status: `deployed`, `failed`, `uninstalled` (and `installing`/`uninstalling` while Helm
runs). A release needs work when its deployed fingerprint differs from the spec's, or it is not deployed.
Failures are retried with exponential backoff, at most MAX_ATTEMPTS times per fingerprint; a new fingerprint
(any change of chart, version or values) starts over. A failed uninstall is retried with the same backoff for as
long as it takes: giving up would leave releases behind a deleted deployment. So is an install that failed because
its chart could not be fetched or verified (reason CHART_UNAVAILABLE): the fix (the repository back, a mirror, the
right archive) is outside the manifest and changes no fingerprint, so giving up would need a manifest edit to undo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from openstack_operator.core.bundles import all_uninstalled

MAX_ATTEMPTS = 5
FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 300.0
UNINSTALL_TARGET = "uninstall"  # the `target` of a release whose uninstall failed (retried without limit)
# The `reason` of a failed release whose chart could not be fetched from its source or did not match its digest;
# Helm never ran. Retried with the usual backoff, without an attempt limit.
CHART_UNAVAILABLE = "ChartUnavailable"


@dataclass(frozen=True)
class Step:
    action: str  # "install" or "uninstall"
    release: Mapping[str, Any]  # the release entry of the bundle spec


@dataclass(frozen=True)
class Decision:
    steps: tuple[Step, ...] = ()
    waiting_for: str = ""        # why nothing can run yet (a dependency), empty when not blocked
    retry_at: float | None = None  # earliest time a failed release may be retried
    gave_up: bool = False        # a release failed MAX_ATTEMPTS times at this fingerprint


def release_status(bundle: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    status: Mapping[str, Any] = ((bundle.get("status") or {}).get("releases") or {}).get(name, {})
    return status


def is_current(bundle: Mapping[str, Any], release: Mapping[str, Any]) -> bool:
    status = release_status(bundle, release["name"])
    return status.get("state") == "deployed" and status.get("fingerprint") == release["fingerprint"]


def is_deployed(bundle: Mapping[str, Any]) -> bool:
    spec = bundle["spec"]
    return not spec.get("uninstall") and all(is_current(bundle, release) for release in spec["releases"])


def retry_delay(attempts: int) -> float:
    return min(FIRST_RETRY_SECONDS * 2.0 ** max(attempts - 1, 0), MAX_RETRY_SECONDS)


def decide(bundle: Mapping[str, Any], peers: Mapping[str, Mapping[str, Any]], now: float) -> Decision:
    """`peers`: the other bundles of the same osdpl, by service name."""
    spec = bundle["spec"]
    if spec.get("uninstall"):
        dependents = sorted(name for name, peer in peers.items()
                            if spec["service"] in peer["spec"].get("depends_on", []) and not all_uninstalled(peer))
        if dependents:
            return Decision(waiting_for=f"dependents to uninstall first: {', '.join(dependents)}")
        pending = [r for r in reversed(spec["releases"]) if release_status(bundle, r["name"]).get("state")
                   != "uninstalled"]
        if pending:
            due = _retry_due(release_status(bundle, pending[0]["name"]), UNINSTALL_TARGET)
            if due is not None and due > now:
                return Decision(retry_at=due)
        return Decision(steps=tuple(Step("uninstall", r) for r in pending))
    missing = [dep for dep in spec.get("depends_on", []) if dep not in peers or not is_deployed(peers[dep])]
    if missing:
        return Decision(waiting_for=f"dependencies to deploy: {', '.join(missing)}")
    for release in spec["releases"]:  # in order: a later release of the bundle may need an earlier one
        if is_current(bundle, release):
            continue
        status = release_status(bundle, release["name"])
        if status.get("state") == "failed" and status.get("target") == release["fingerprint"] \
                and int(status.get("attempts", 0)) >= MAX_ATTEMPTS and status.get("reason") != CHART_UNAVAILABLE:
            return Decision(gave_up=True)
        due = _retry_due(status, release["fingerprint"])
        if due is not None and due > now:
            return Decision(retry_at=due)
        return Decision(steps=(Step("install", release),))
    return Decision()


def _retry_due(status: Mapping[str, Any], target: str) -> float | None:
    """When a release that failed at `target` may be tried again; None if it did not fail at that target."""
    if status.get("state") != "failed" or status.get("target") != target:
        return None
    return float(status.get("last_attempt_at", 0)) + retry_delay(int(status.get("attempts", 0)))


def attempts_after_failure(bundle: Mapping[str, Any], name: str, target: str, reason: str = "") -> int:
    """Attempts so far at `target` (a fingerprint, or UNINSTALL_TARGET) that failed for the same `reason` (empty: a
    Helm failure), including the one that just failed. A different reason starts the count over: failures to fetch
    the chart do not use up the attempts Helm gets once the chart is there."""
    status = release_status(bundle, name)
    same = status.get("target") == target and (status.get("reason") or "") == reason
    previous = int(status.get("attempts", 0)) if same else 0
    return previous + 1
