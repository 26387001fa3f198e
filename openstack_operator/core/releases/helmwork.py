"""What the helmbundle operator should do next for a bundle, given its peers: pure decisions, no I/O.

Release states in bundle status: `deployed`, `failed`, `uninstalled`, and `installing`/`uninstalling` while Helm
works on it. The latter is written before Helm starts: a step that was killed (a crash) or stopped (superseded by a
newer spec) never leaves a release that looks deployed at values it may no longer run. A release needs work when
its deployed fingerprint differs from the spec's, or it is not deployed.

Failures are retried for as long as they last, never given up: an API server upgrade, a chart repository outage or
a quota that is raised later are all fixed outside the manifest, and a cloud must not stay failed until someone
edits a value. The delay doubles from FIRST_RETRY_SECONDS up to a cap, with jitter so that many releases that failed
together (an API server restart) do not retry in lockstep; the time of the next attempt is written on the status
when the failure is recorded. Three things retry at once instead: a new fingerprint (any change of chart, version or
values), a bundle `retry` token that differs from the one the failure was recorded under (the osdpl process sets it
when the user changes the osdpl), and a `reapply` request (core.releases.bundles.REAPPLY_ANNOTATION), which also applies
every deployed release again.

A bundle is uninstalled when its spec says `uninstall` (a service was disabled) or when it is being deleted with its
deployment (foreground deletion, a namespace deletion): its finalizer holds it until Helm has uninstalled every
release, dependents first. (A bundle deleted by hand while its osdpl stays keeps its releases: the helmbundle process
lets it go before asking this module.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from openstack_operator.core.models.bundle import Bundle, BundleRelease, ReleaseStatus
from openstack_operator.core.models.workload import WorkloadRef
from openstack_operator.core.releases.bundles import all_uninstalled
from openstack_operator.core.runtime.retry import MAX_RETRY_SECONDS, retry_delay
from openstack_operator.core.health.workloads import scheduled_run

UNINSTALL_TARGET = "uninstall"  # the `target` of a release whose uninstall failed
# The `reason` of a failed release whose chart could not be fetched from its source or did not match its digest;
# Helm never ran.
CHART_UNAVAILABLE = "ChartUnavailable"


@dataclass(frozen=True)
class Step:
    action: str  # "install" or "uninstall"
    release: BundleRelease  # the release entry of the bundle spec


@dataclass(frozen=True)
class Decision:
    steps: tuple[Step, ...] = ()
    waiting_for: str = ""        # why nothing can run yet (a dependency), empty when not blocked
    retry_at: float | None = None  # earliest time a failed release may be retried


def is_current(bundle: Bundle, release: BundleRelease) -> bool:
    status = bundle.release_status(release.name)
    return status.state == "deployed" and status.fingerprint == release.fingerprint \
        and (status.applied_reapply or "") == bundle.spec.reapply


def is_removing(bundle: Bundle) -> bool:
    """Whether the bundle's releases are to be uninstalled: the service was disabled, or the bundle is deleted."""
    return bundle.spec.uninstall or bundle.deleting


def is_deployed(bundle: Bundle) -> bool:
    return not is_removing(bundle) and all(is_current(bundle, release) for release in bundle.spec.releases)


def decide(bundle: Bundle, peers: Mapping[str, Bundle], now: float) -> Decision:
    """`peers`: the other bundles of the same osdpl, by service name."""
    spec = bundle.spec
    token = (spec.retry, spec.reapply)
    if is_removing(bundle):
        dependents = sorted(name for name, peer in peers.items()
                            if spec.service in peer.spec.depends_on and not all_uninstalled(peer))
        if dependents:
            return Decision(waiting_for=f"dependents to uninstall first: {', '.join(dependents)}")
        pending = [r for r in reversed(spec.releases) if bundle.release_status(r.name).state != "uninstalled"]
        if pending:
            due = _retry_due(bundle.release_status(pending[0].name), UNINSTALL_TARGET, token)
            if due is not None and due > now:
                return Decision(retry_at=due)
        return Decision(steps=tuple(Step("uninstall", r) for r in pending))
    missing = [dep for dep in spec.depends_on if dep not in peers or not is_deployed(peers[dep])]
    if missing:
        return Decision(waiting_for=f"dependencies to deploy: {', '.join(missing)}")
    for release in spec.releases:  # in order: a later release of the bundle may need an earlier one
        if is_current(bundle, release):
            continue
        due = _retry_due(bundle.release_status(release.name), release.fingerprint, token)
        if due is not None and due > now:
            return Decision(retry_at=due)
        return Decision(steps=(Step("install", release),))
    return Decision()


def _retry_due(status: ReleaseStatus, target: str, token: tuple[str, str]) -> float | None:
    """When a release that failed at `target` may be tried again; None if it did not fail at that target or a retry
    was asked for since (a new `retry` or `reapply`)."""
    if status.state != "failed" or status.target != target or (status.retry or "", status.reapply or "") != token:
        return None
    if status.next_attempt_at is not None:
        return status.next_attempt_at
    # Recorded before next_attempt_at existed: the delay without jitter.
    return (status.last_attempt_at or 0.0) + retry_delay(status.attempts or 0, draw=0.5)


# The records of a release's status, one constructor per kind; the helmbundle process writes each as its kind says
# (ReleaseStatus.to_patch).

def intent_record(previous: ReleaseStatus, action: str, target: str, started: float) -> ReleaseStatus:
    """The release status written before a Helm step starts, over `previous` (what the status records now): the
    attempts and error so far stay."""
    return replace(previous, state="installing" if action == "install" else "uninstalling", target=target,
                   last_attempt_at=started)


def failure_record(bundle: Bundle, name: str, target: str, reason: str, error: str, started: float,
                   cap: float = MAX_RETRY_SECONDS) -> ReleaseStatus:
    """The release status after an attempt at `target` (a fingerprint, or UNINSTALL_TARGET) that started at
    `started` failed with `error` (already redacted). Attempts count failures in a row at the same target; what the
    last success recorded (fingerprint, revision, chart version, workloads) stays."""
    previous = bundle.release_status(name)
    attempts = ((previous.attempts or 0) if previous.target == target else 0) + 1
    return replace(previous, state="failed", reason=reason or None, target=target, attempts=attempts,
                   last_attempt_at=started, next_attempt_at=round(started + retry_delay(attempts, cap), 3),
                   last_error=error, retry=bundle.spec.retry or None, reapply=bundle.spec.reapply or None)


def deployed_record(target: str, revision: int, chart_version: str, workloads: Iterable[str], reapply: str | None,
                    started: float, summary: Mapping[str, Any] | None = None) -> ReleaseStatus:
    """The release status after Helm deployed the fingerprint `target` (an attempt that started at `started`) under
    the bundle's `reapply` request, with its test run's `summary` if it has one: every failure cleared."""
    return ReleaseStatus(state="deployed", fingerprint=target, target=target, revision=revision,
                         chart_version=chart_version, last_attempt_at=started, applied_reapply=reapply,
                         workloads=tuple(workloads), summary=summary)


def uninstalled_record(previous: ReleaseStatus, started: float) -> ReleaseStatus:
    """The release status after Helm uninstalled it (an attempt that started at `started`): only the chart version
    it ran stays."""
    return ReleaseStatus(state="uninstalled", last_attempt_at=started, chart_version=previous.chart_version)


def is_new_failure(bundle: Bundle, name: str, record: ReleaseStatus) -> bool:
    """Whether a failure is worth an Event: the release was not failing (a success clears `last_error`), or fails
    differently now (another target or another error). The same error again is only a new attempt, also when a
    restart came between."""
    previous = bundle.release_status(name)
    return previous.target != record.target or previous.last_error != record.last_error


LONG_RUNNING_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def long_running_workloads(objects: Iterable[Mapping[str, Any] | None]) -> list[str]:
    """`application/component/Kind/name` of the objects of a release manifest that the health process must find
    running (the ones it watches: labelled `application` and `component`). Jobs are left out: a finished Job may
    be removed by its TTL or by hand without anything being wrong."""
    found = set()
    for item in objects:
        if not item:  # an empty document between two `---`
            continue
        labels = (item.get("metadata") or {}).get("labels") or {}
        if item.get("kind") in LONG_RUNNING_KINDS and labels.get("application") and labels.get("component"):
            found.add(WorkloadRef(labels["application"], labels["component"], item["kind"], item["metadata"]["name"]))
    return sorted(str(ref) for ref in found)  # sorted as the stored strings, as ever


HOOK_ANNOTATION = "helm.sh/hook"
RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"


def jobs_to_recreate(jobs: Iterable[Mapping[str, Any]], release: str) -> list[str]:
    """The Jobs of `release` to delete before Helm upgrades it: a Job's pod template is immutable, and Helm patches
    every object of the new manifest, so an upgrade that changes a Job's template (a new image: every release
    change) fails with "field is immutable". Helm recreates its hook Jobs itself; the charts' plain Jobs (nova's
    bootstrap and cell-setup) it does not. Deleted, they are created from the new manifest and run again, as the
    hook Jobs do on every upgrade. Only finished Jobs: a running one is left to finish (an upgrade that changes it
    fails and is retried)."""
    names = []
    for job in jobs:
        annotations = job["metadata"].get("annotations") or {}
        finished = any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                       for c in (job.get("status") or {}).get("conditions") or [])
        if annotations.get(RELEASE_NAME_ANNOTATION) == release and HOOK_ANNOTATION not in annotations and finished \
                and not scheduled_run(job):
            names.append(str(job["metadata"]["name"]))
    return sorted(names)
