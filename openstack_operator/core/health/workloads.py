"""Workload health: from a Deployment's, StatefulSet's, DaemonSet's or Job's own status to a state per
application/component of an osdpl. Pure: the health process feeds it watched objects and a clock.

States, worst last: Ready, Progressing, Unhealthy. A workload that is rolling out is Progressing; it becomes
Unhealthy when its controller reports a failure (progress deadline exceeded, replica failure, a failed Job) or when
it has made no progress (the same not-ready reason, e.g. "1/2 replicas updated") for longer than a grace period:
pods that cannot be scheduled or never become ready do not fail a Deployment until its progress deadline (10
minutes by default) and never fail a StatefulSet or DaemonSet, while a slow rollout that keeps moving, like a
DaemonSet across a thousand nodes, stays Progressing. A Job whose pods run gets no grace (a migration may run
long); a Job whose pods never start does.

A Job a CronJob created (a periodic task: key rotation, cleanup, cell discovery) is not a step of the deployment:
it is no component, is not reported and never holds Ready back, whether it runs, fails or never starts.

Health cannot lie by omission: a Deployment, StatefulSet or DaemonSet the manifest of a deployed release contains
(`workloads` of the release in `status.children`) but the cluster lacks is an Unhealthy workload of its component
(`missing_workloads`). And since Kopf's indexes keep objects deleted while a watch reconnected, the health process
compares them with a fresh LIST now and then and sets such objects aside (`resync_gone`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import AbstractSet, Any, Iterable, Mapping

from openstack_operator.core.models.workload import WorkloadRef

READY, PROGRESSING, UNHEALTHY = "Ready", "Progressing", "Unhealthy"
SEVERITY = {READY: 0, PROGRESSING: 1, UNHEALTHY: 2}
RELEASE_ANNOTATION = "meta.helm.sh/release-name"  # Helm 3 sets it on every object it creates
RELEASE_LABEL = "release_group"  # OpenStack-Helm's label for the same
# The CronJob controller stamps it on every Job it creates (Kubernetes 1.32+); it stays when the Job is orphaned.
CRONJOB_SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_REASON = 200  # a controller's message can be long; the status stays small
MISSING_REASON = "missing: not found in the cluster (deleted?)"


@dataclass(frozen=True)
class Assessment:
    state: str
    reason: str
    graced: bool = True  # stuck in this state for the grace period is Unhealthy (not for a Job at work)
    awaited: bool = False  # a Job at work: OpenStack-Helm pods may wait for it (init containers)


@dataclass(frozen=True)
class Workload:
    """What health needs of one watched object: small, so that thousands of them cost little memory."""
    uid: str
    generation: int  # of the spec: to tell whether a view of the workload includes a given change
    kind: str
    name: str
    application: str
    component: str
    release: str
    assessment: Assessment


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 3] + "..."


def _generation_pending(body: Mapping[str, Any]) -> bool:
    status = body.get("status") or {}
    return int(status.get("observedGeneration") or 0) < int(body["metadata"].get("generation") or 0)


def _deployment(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Assessment:
    progressing, failure = _condition(status, "Progressing"), _condition(status, "ReplicaFailure")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Assessment(UNHEALTHY, _short(f"progress deadline exceeded: {progressing.get('message', '')}"))
    if failure.get("status") == "True":
        return Assessment(UNHEALTHY, _short(f"replica failure: {failure.get('message', '')}"))
    wanted = int(spec.get("replicas", 1))
    updated, total = int(status.get("updatedReplicas") or 0), int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < wanted:
        return Assessment(PROGRESSING, f"{updated}/{wanted} replicas updated")
    if total > updated:
        return Assessment(PROGRESSING, f"{total - updated} old replicas terminating")
    if available < wanted:
        return Assessment(PROGRESSING, f"{available}/{wanted} replicas available")
    return Assessment(READY, f"{available}/{wanted} replicas available")


def _on_delete(spec: Mapping[str, Any]) -> bool:
    """Pods are replaced only when someone deletes them: an old revision is not a rollout in progress."""
    return (spec.get("updateStrategy") or {}).get("type") == "OnDelete"


def _statefulset(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Assessment:
    wanted = int(spec.get("replicas", 1))
    ready, updated = int(status.get("readyReplicas") or 0), int(status.get("updatedReplicas") or 0)
    # A partition keeps the pods below it on the old revision on purpose: only those above it must be updated.
    partition = int(((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition") or 0)
    if not _on_delete(spec):
        if partition > 0 and updated < wanted - partition:
            return Assessment(PROGRESSING, f"{updated}/{wanted - partition} replicas above the partition updated")
        if partition == 0 and status.get("updateRevision") and \
                status.get("currentRevision") != status["updateRevision"]:
            return Assessment(PROGRESSING, f"{updated}/{wanted} replicas updated")
    if ready < wanted:
        return Assessment(PROGRESSING, f"{ready}/{wanted} replicas ready")
    return Assessment(READY, f"{ready}/{wanted} replicas ready")


def _daemonset(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Assessment:
    wanted = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    available = int(status.get("numberAvailable") or 0)
    if updated < wanted and not _on_delete(spec):
        return Assessment(PROGRESSING, f"{updated}/{wanted} nodes updated")
    if available < wanted:
        return Assessment(PROGRESSING, f"{available}/{wanted} nodes available")
    return Assessment(READY, f"{available}/{wanted} nodes available")


def _job(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Assessment:
    failed = _condition(status, "Failed")
    if failed.get("status") == "True":
        return Assessment(UNHEALTHY, _short(f"failed: {failed.get('reason', '')}: {failed.get('message', '')}"))
    if _condition(status, "Complete").get("status") == "True":
        return Assessment(READY, "completed")
    if spec.get("suspend"):
        return Assessment(PROGRESSING, "suspended", graced=False)  # on purpose: not stuck, and no one's to wait for
    failures = int(status.get("failed") or 0)
    attempts = f", {failures} failed attempts" if failures else ""
    # `ready` counts the Job's ready pods (Kubernetes 1.24+); without it, active pods are taken as running.
    if int(status.get("active") or 0) and int(status.get("ready", 1) or 0):
        return Assessment(PROGRESSING, "running" + attempts, graced=False, awaited=True)
    return Assessment(PROGRESSING, "pods not running yet" + attempts)


def assess(body: Mapping[str, Any]) -> Assessment:
    """The state of one workload from its spec and status alone (no clock)."""
    kind = body["kind"]
    spec, status = body.get("spec") or {}, body.get("status") or {}
    if kind != "Job" and _generation_pending(body):
        return Assessment(PROGRESSING, "change not yet seen by its controller")
    if kind == "Deployment":
        return _deployment(spec, status)
    if kind == "StatefulSet":
        return _statefulset(spec, status)
    if kind == "DaemonSet":
        return _daemonset(spec, status)
    if kind == "Job":
        return _job(spec, status)
    raise ValueError(f"not a workload kind: {kind}")


def with_grace(assessment: Assessment, unchanged_since: float, now: float, grace: float) -> Assessment:
    """Progressing with the same reason for `grace` seconds is Unhealthy (unless the state may last: `graced`)."""
    if assessment.state != PROGRESSING or not assessment.graced or now - unchanged_since < grace:
        return assessment
    return Assessment(UNHEALTHY, f"no progress for more than {grace:g}s: {assessment.reason}")


def workload_release(body: Mapping[str, Any]) -> str:
    metadata = body["metadata"]
    return str((metadata.get("annotations") or {}).get(RELEASE_ANNOTATION)
               or (metadata.get("labels") or {}).get(RELEASE_LABEL) or "")


def scheduled_run(body: Mapping[str, Any]) -> bool:
    """Whether `body` is a Job a CronJob created (by its schedule or `kubectl create job --from=cronjob/...`): its
    owner references name a CronJob, or it carries the CronJob controller's scheduled-time annotation. OpenStack-Helm
    labels a CronJob's Jobs (its job template) with `application`, `component` and `release_group`: the label
    selector alone would count them. Decided on metadata alone: items of a LIST carry no `kind`, and only Jobs are
    owned by CronJobs or carry that annotation."""
    metadata = body.get("metadata") or {}
    return any(ref.get("kind") == "CronJob" for ref in metadata.get("ownerReferences") or []) or \
        CRONJOB_SCHEDULED_ANNOTATION in (metadata.get("annotations") or {})


def listed_generations(bodies: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, str]]:
    """uid -> (metadata.generation, release) of listed workloads that are steps of a deployment: what the health
    process indexes, to compare its indexes with a fresh LIST."""
    return {body["metadata"]["uid"]: (int(body["metadata"].get("generation") or 0), workload_release(body))
            for body in bodies if not scheduled_run(body)}


def workload_of(body: Mapping[str, Any]) -> Workload:
    metadata = body["metadata"]
    labels = metadata.get("labels") or {}
    return Workload(uid=metadata.get("uid", ""), generation=int(metadata.get("generation") or 0), kind=body["kind"],
                    name=metadata["name"], application=labels.get("application", ""),
                    component=labels.get("component", ""), release=workload_release(body), assessment=assess(body))


def component_health(workloads: Iterable[Workload]) -> dict[str, dict[str, dict[str, str]]]:
    """application -> component -> {state, reason}: the worst of the component's workloads, the reason naming
    the workload when the component has several."""
    grouped: dict[tuple[str, str], list[Workload]] = {}
    for workload in workloads:
        grouped.setdefault((workload.application, workload.component), []).append(workload)
    health: dict[str, dict[str, dict[str, str]]] = {}
    for (application, component), members in sorted(grouped.items()):
        worst = max(sorted(members, key=lambda w: (w.kind, w.name)), key=lambda w: SEVERITY[w.assessment.state])
        reason = worst.assessment.reason
        if len(members) > 1 or worst.assessment.state != READY:
            reason = f"{worst.kind} {worst.name}: {reason}"
        health.setdefault(application, {})[component] = {"state": worst.assessment.state, "reason": _short(reason)}
    return health


def health_progress(health: Mapping[str, Mapping[str, Mapping[str, str]]]) -> str:
    entries = [entry for components in health.values() for entry in components.values()]
    return f"{sum(1 for e in entries if e.get('state') == READY)}/{len(entries)}"


def not_ready(health: Mapping[str, Mapping[str, Mapping[str, str]]], state: str, reasons: bool) -> list[str]:
    """`application/component` (with ` (reason)` if `reasons`) of every entry in `state`, for condition messages."""
    return [f"{app}/{comp}" + (f" ({entry.get('reason', '')})" if reasons else "")
            for app, components in sorted(health.items())
            for comp, entry in sorted(components.items()) if entry.get("state") == state]


def release_basis(children: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """A digest of the deployed releases and their revisions. The health process writes the basis it checked
    workloads against next to `status.health`; while it differs from the current releases', the health on the
    osdpl may predate the latest Helm change and cannot make the osdpl Ready."""
    deployed = sorted(f"{service}/{name}={release.get('revision')}" for service, releases in children.items()
                      for name, release in releases.items() if release.get("state") == "deployed")
    return hashlib.sha256(json.dumps(deployed).encode()).hexdigest()[:16]


def releases_of(children: Mapping[str, Mapping[str, Any]]) -> set[str]:
    return {name for releases in children.values() for name in releases}


def missing_workloads(children: Mapping[str, Mapping[str, Mapping[str, Any]]],
                      present: Iterable[Workload]) -> list[Workload]:
    """The workloads deployed releases should have (each release's `workloads` in `children`, entries
    "application/component/Kind/name") that `present` (the osdpl's namespace) lacks, as Unhealthy workloads of their
    component. Health computed from what exists alone cannot see a deleted workload: with all of them deleted it
    reads "0/0 components ready", and the osdpl Ready. Never Progressing: Helm created every object before it marked
    the release deployed, and nothing recreates a deleted one (an unchanged release is not upgraded again). Jobs are
    not expected: a TTL or a hook deletion policy removes them legitimately. A release without `workloads` (status
    written before they were recorded) expects nothing."""
    have = {(w.release, w.kind, w.name) for w in present}
    missing = []
    for releases in children.values():
        for release, entry in releases.items():
            if entry.get("state") != "deployed":
                continue
            for expected in entry.get("workloads") or ():
                ref = WorkloadRef.parse(expected)
                if ref is None or (release, ref.kind, ref.name) in have:
                    continue
                missing.append(Workload(uid="", generation=0, kind=ref.kind, name=ref.name,
                                        application=ref.application, component=ref.component, release=release,
                                        assessment=Assessment(UNHEALTHY, MISSING_REASON)))
    return missing


def resync_gone(gone: AbstractSet[str], snapshot: Mapping[str, str], listed: AbstractSet[str],
                indexed: AbstractSet[str]) -> tuple[set[str], dict[str, str]]:
    """Kopf re-lists after a watch reconnects but emits no DELETED for what was deleted meanwhile: its indexes keep
    such objects forever. `snapshot` (uid -> namespace of the indexed workloads, taken before a LIST) less `listed`
    (the uids the LIST returned) was deleted since; an object created after the snapshot is in neither, so it is never
    marked. Returns the uids to set aside from now on (`gone` and the new ones, less those no longer `indexed`: Kopf
    did drop them) and the newly gone (uid -> namespace), whose osdpls need a check."""
    newly = {uid: namespace for uid, namespace in snapshot.items() if uid not in listed and uid not in gone}
    return set(gone).union(newly).intersection(indexed), newly
