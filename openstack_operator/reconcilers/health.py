"""health process: the health of each osdpl's workloads, written on the osdpl as `status.health`.

Deployments, StatefulSets, DaemonSets and Jobs labelled `application` and `component` are watched (the label
selector is applied by the API server) and kept in Kopf indexes as small projections, so nothing is ever listed
twice; Jobs created by CronJobs are left out (periodic tasks, not steps of the deployment). A workload belongs to
the osdpl whose `status.children` has its Helm release, and health is written for the namespace's holder only
(core.releases.bundles.served_osdpl: one deployment per namespace). A workload event in a namespace schedules its
osdpls for a health check: 0.1 s later if the osdpl's health was not written within the last coalescing window (a
lone change shows fast), else when that window ends (a burst of hundreds of events costs one PATCH per window). A
PATCH is sent only when `health`, `health_progress` or `health_basis` differ from what the osdpl holds. The osdpl
process turns `status.health` into the Ready/Progressing/Degraded conditions.

What is not there counts too. A workload a deployed release's manifest has (its `workloads` in `status.children`)
that is not indexed is an Unhealthy component ("missing"), so deleting workloads cannot leave the osdpl Ready. And
as Kopf emits no DELETED for objects deleted while a watch reconnected (its indexes keep them), every
OSOP_HEALTH_RESYNC_SECONDS the process LISTs the watched kinds and sets aside the indexed workloads the LIST no
longer returns (by uid: an object created after the indexes were read is never set aside), checking their osdpls.

Everything here runs on Kopf's event loop (kube.process, the threading rule): the LISTs and the PATCH are the
gateway's (`HealthCluster`) async calls, and Kopf's live indexes are read between them, never from a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from typing import Any, Iterable, Mapping, Protocol, Sequence

from openstack_operator.core.health.workloads import (PROGRESSING, READY, Workload, component_health, health_progress,
                                                      missing_workloads, resync_gone, scheduled_run, with_grace,
                                                      workload_of)
from openstack_operator.core.models.osdpl_status import HEALTH, ChildrenView, SectionPatch, section_patch
from openstack_operator.core.releases.bundles import served_osdpl
from openstack_operator.kube import metrics
from openstack_operator.kube.process import Runtime

log = logging.getLogger("osop.health")
Key = tuple[str, str]  # namespace, osdpl name

# kind -> (group, version, plural) of the watched workloads
RESOURCES = {"Deployment": ("apps", "v1", "deployments"), "StatefulSet": ("apps", "v1", "statefulsets"),
             "DaemonSet": ("apps", "v1", "daemonsets"), "Job": ("batch", "v1", "jobs")}
LABEL_SELECTOR = "application,component"
# Events within DEBOUNCE_SECONDS of each other share a check (at most one PATCH per osdpl per coalescing window:
# settings.health_coalesce_seconds).
DEBOUNCE_SECONDS = 0.1
BASIS_RETRY_SECONDS = 0.5  # the indexes lag a fresh LIST: look again this soon
BARRIER_WARN_AFTER = 20  # lagging this many checks in a row (about 30 s) is worth a warning
WORKERS = 4


class HealthCluster(Protocol):
    """What the health process reads and writes in the cluster (kube.gateways.health)."""

    async def workload_uids(self, selector: str, namespaces: Sequence[str]) -> set[str]:
        """uids of the workloads of `namespaces` matching `selector`, read now (a consistent LIST)."""

    async def workload_generations(self, namespace: str, selector: str) -> dict[str, tuple[int, str]]:
        """uid -> (generation, Helm release) of the workloads of `namespace` matching `selector`, read now."""

    async def claim_holder(self, namespace: str) -> str | None:
        """The osdpl the namespace's claim names (the osdpl process writes it), None without a claim."""

    async def patch_osdpl_status(self, namespace: str, name: str, patch: SectionPatch) -> dict[str, Any] | None:
        """Merge-patch the health section of the osdpl's status (core.models.osdpl_status.section_patch); the osdpl
        as stored after it, or None when there is no such osdpl."""


class HealthReconciler:
    def __init__(self, runtime: Runtime, cluster: HealthCluster, debounce: float = DEBOUNCE_SECONDS) -> None:
        self.cluster = cluster
        self.grace = runtime.settings.health_grace_seconds
        self.coalesce = runtime.settings.health_coalesce_seconds
        self.resync_interval = runtime.settings.health_resync_seconds
        self.debounce = debounce
        self.last_write: dict[Key, float] = {}
        self.osdpls: dict[Key, Mapping[str, Any]] = {}  # the latest osdpl seen (watch or our own PATCH response)
        self.osdpl_events: dict[Key, int] = {}  # per osdpl: watch events seen, to tell one that came during a PATCH
        # Not-ready workloads by uid: their reason and since when it has not changed (progress resets the clock).
        self.stalled: dict[str, tuple[str, float]] = {}
        self.jobs_done_at: dict[Key, float | None] = {}  # per osdpl: when its last Job finished (None: one runs)
        self.barrier_waits: dict[Key, int] = {}  # per osdpl: checks in a row the indexes lagged a LIST
        self.indexes: list[Mapping[str, Iterable[Workload]]] = []  # Kopf's live indexes: namespace -> workloads
        self.gone: set[str] = set()  # uids Kopf still indexes but a LIST no longer returns (see resync)
        # The queue's failure lines name the osdpl and "health", as the lines of its PATCHes do.
        self.queue = runtime.queue(self._work, WORKERS, lambda key: f"osdpl {key[0]}/{key[1]}: health")
        self._resync_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        metrics.count_watched("health", "workloads", self.watched)
        self._resync_task = asyncio.get_running_loop().create_task(self._resync_every(self.resync_interval))

    async def stop(self) -> None:
        self.queue.close()
        if self._resync_task:
            self._resync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync_task

    def watched(self) -> int:
        """How many workloads the indexes hold."""
        return sum(len(list(store)) for index in self.indexes for store in index.values())

    # --- what Kopf hands over: index entries, workload and osdpl events ---

    def use_indexes(self, indexes: list[Mapping[str, Iterable[Workload]]]) -> None:
        """Kopf hands its (live) indexes to handlers only: kept, from the first event on, for the checks."""
        if not self.indexes:
            self.indexes = indexes

    def project(self, body: Mapping[str, Any]) -> Workload:
        """The index value of one workload; remembers since when it makes no progress, for the grace period."""
        workload = workload_of(body)
        if workload.assessment.state == READY:
            self.stalled.pop(workload.uid, None)
        elif self.stalled.get(workload.uid, ("", 0.0))[0] != workload.assessment.reason:
            self.stalled[workload.uid] = (workload.assessment.reason, time.monotonic())
        return workload

    def index_entry(self, body: Mapping[str, Any]) -> dict[str, Workload]:
        """What Kopf's index keeps of a watched object: {namespace: projection}; nothing for a Job a CronJob created
        (an empty result takes the object out of the index, as a filter that stops matching would)."""
        if scheduled_run(body):
            return {}
        return {body["metadata"]["namespace"]: self.project(body)}

    def workload_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watched workload changed (Kopf has indexed it already): its namespace's osdpls are checked again."""
        if event_type == "DELETED":
            self.forget(body)
        if not scheduled_run(body):  # not indexed: nothing to check again
            self.workload_changed(body["metadata"]["namespace"])

    def forget(self, body: Mapping[str, Any]) -> None:
        self.stalled.pop(body["metadata"].get("uid", ""), None)

    def workload_changed(self, namespace: str) -> None:
        for key in self.osdpls:
            if key[0] == namespace:
                self._schedule(key)

    def observe_osdpl(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if event_type == "DELETED":
            self._drop(key)
            return
        self.osdpls[key] = body
        self.osdpl_events[key] = self.osdpl_events.get(key, 0) + 1
        # The osdpl process wrote new children (release revisions) or someone changed status.health: re-check.
        self._schedule(key)

    def _schedule(self, key: Key) -> None:
        since_write = time.monotonic() - self.last_write.get(key, float("-inf"))
        self.queue.add(key, max(self.debounce, self.coalesce - since_write))

    def _drop(self, key: Key) -> None:
        for state in (self.osdpls, self.osdpl_events, self.last_write, self.jobs_done_at, self.barrier_waits):
            state.pop(key, None)

    # --- the indexes, and the deletions their watches missed ---

    def _workloads(self, namespace: str) -> list[Workload]:
        return [w for index in self.indexes for w in index.get(namespace, ()) if w.uid not in self.gone]

    def _indexed(self) -> dict[str, str]:
        """uid -> namespace of every indexed workload, the gone ones included."""
        return {w.uid: namespace for index in self.indexes for namespace, store in index.items() for w in store}

    async def resync(self) -> None:
        """Sets aside the indexed workloads a fresh LIST no longer returns (deleted while a watch reconnected: Kopf
        keeps them) and checks the osdpls of their namespaces again."""
        if not self.indexes:
            return  # no event handed Kopf's indexes over yet: nothing is checked either
        snapshot = self._indexed()  # before the LIST: whatever is created meanwhile is not in it
        listed = await self.cluster.workload_uids(LABEL_SELECTOR, sorted(set(snapshot.values())))
        self.gone, newly = resync_gone(self.gone, snapshot, listed, self._indexed().keys())
        if newly:
            log.info("health: %d indexed workloads are no longer in the cluster (deleted while a watch was down)",
                     len(newly))
        for namespace in sorted(set(newly.values())):
            self.workload_changed(namespace)

    async def _resync_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.resync()
            except Exception as error:  # noqa: BLE001 - the next round tries again
                log.error("health: resync: %s: %s", type(error).__name__, error)

    def _forget_gone(self) -> None:
        """Grace clocks of workloads no longer indexed, or set aside as gone."""
        present = self._indexed().keys() - self.gone
        for uid in [u for u in self.stalled if u not in present]:
            del self.stalled[uid]

    # --- one check of one osdpl ---

    def _grace_paused_since(self, key: Key, jobs_at_work: bool, now: float) -> float | None:
        """While a Job of the osdpl is at work, not-ready workloads may be waiting for it (OpenStack-Helm pods wait
        in init containers for the Jobs they depend on): no grace runs (None). Afterwards, grace counts from when
        the last Job finished, not from before."""
        if jobs_at_work:
            self.jobs_done_at[key] = None
        elif key in self.jobs_done_at and self.jobs_done_at[key] is None:
            self.jobs_done_at[key] = now
        return None if jobs_at_work else (self.jobs_done_at.get(key) or float("-inf"))

    def desired(self, key: Key, children: ChildrenView, now: float) -> tuple[dict[str, Any], float | None]:
        """The health fields for osdpl `key` with releases `children` (its status.children), and in how many
        seconds a grace period ends (None: none pending)."""
        releases = children.releases()
        # Not a release of this osdpl: another osdpl's workload, or not Helm's.
        workloads = [w for w in self._workloads(key[0]) if w.release in releases]
        workloads += missing_workloads(children.services, workloads)  # Unhealthy: never Progressing, never awaited
        jobs_done = self._grace_paused_since(key, any(w.assessment.awaited for w in workloads), now)
        mine, recheck = [], None
        for workload in workloads:
            assessment = workload.assessment
            if jobs_done is not None:
                since = max(self.stalled.get(workload.uid, ("", now))[1], jobs_done)
                assessment = with_grace(assessment, since, now, self.grace)
                if assessment.state == PROGRESSING and assessment.graced:
                    ends = since + self.grace - now
                    recheck = ends if recheck is None else min(recheck, ends)
            mine.append(replace(workload, assessment=assessment))
        health = component_health(mine)
        fields = {"health": health, "health_progress": health_progress(health), "health_basis": children.basis()}
        return fields, recheck

    async def _indexes_hold_current_workloads(self, key: Key, children: ChildrenView) -> bool:
        """Whether every workload of the osdpl's releases that a fresh LIST returns is indexed at its current
        generation. Watch streams of different resources are not ordered: the osdpl's new release revisions may
        arrive before the events of the workloads Helm changed. Asked only while the basis lags the releases."""
        releases = children.releases()
        listed = await self.cluster.workload_generations(key[0], LABEL_SELECTOR)
        indexed = {w.uid: w.generation for w in self._workloads(key[0])}
        lagging = [uid for uid, (generation, release) in listed.items()
                   if release in releases and indexed.get(uid, -1) < generation]
        if not lagging:
            self.barrier_waits.pop(key, None)
            return True
        waits = self.barrier_waits[key] = self.barrier_waits.get(key, 0) + 1
        if waits == BARRIER_WARN_AFTER:
            log.warning("osdpl %s/%s: health: %d workloads (uids %s) are listed but not indexed at their generation; "
                        "Ready waits for them", *key, len(lagging), ", ".join(lagging[:5]))
        return False

    async def _holds_namespace(self, key: Key) -> bool:
        """Whether osdpl `key` holds its namespace (core.releases.bundles.served_osdpl): the releases there are its
        (their names are the same for every osdpl), and the health of another is not written."""
        osdpls = [body for k, body in self.osdpls.items() if k[0] == key[0]]
        if len(osdpls) == 1 and not osdpls[0]["metadata"].get("deletionTimestamp"):
            return True  # the only one, and staying: no claim to read (a burst's checks cost no extra request)
        served = served_osdpl(osdpls, await self.cluster.claim_holder(key[0]))
        return served is not None and served["metadata"]["name"] == key[1]

    async def _work(self, key: Key) -> float | None:
        if key not in self.osdpls or not await self._holds_namespace(key):
            return None  # a second osdpl's events come again when it holds the namespace (its children change)
        status = self.osdpls[key].get("status") or {}
        children = ChildrenView.of(status)  # the releases this check is about, even if newer ones arrive
        fields, recheck = self.desired(key, children, time.monotonic())
        if fields["health_basis"] != status.get("health_basis"):
            if await self._indexes_hold_current_workloads(key, children):
                # Recomputed after the LIST, from the same releases: events that arrived meanwhile count.
                fields, recheck = self.desired(key, children, time.monotonic())
            else:
                fields["health_basis"] = status.get("health_basis")  # not yet: the health may predate the change
                recheck = min(recheck, BASIS_RETRY_SECONDS) if recheck is not None else BASIS_RETRY_SECONDS
            if key in self.osdpls:  # the patch is a diff against the latest status seen, which may have moved
                status = self.osdpls[key].get("status") or {}
        if not await self._write(key, status, fields):
            return None  # the osdpl is gone
        self._forget_gone()
        # Grace periods that end within one coalescing window of the first are checked (and written) together.
        return None if recheck is None else max(recheck, 0.0) + self.coalesce

    async def _write(self, key: Key, status: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
        """PATCHes what of `fields` differs from `status`; False if the osdpl is gone (its state is dropped)."""
        patch = section_patch(HEALTH, status, fields)
        if not patch:
            return True
        # Stamped before the PATCH: events arriving while it is in flight wait for the end of this window.
        self.last_write[key] = time.monotonic()
        events = self.osdpl_events.get(key, 0)
        stored = await self.cluster.patch_osdpl_status(key[0], key[1], patch)
        if stored is None:
            self._drop(key)
            return False
        if key in self.osdpls and (self.osdpl_events.get(key, 0) == events or _newer(stored, self.osdpls[key])):
            # An event that arrived while the PATCH was in flight may hold a later write (new children from the
            # osdpl process): the response must not replace it, or the check that event scheduled sees old releases.
            self.osdpls[key] = stored
        log.info("osdpl %s/%s: health %s", *key, fields["health_progress"])
        return True


def _newer(stored: Mapping[str, Any], seen: Mapping[str, Any]) -> bool:
    """Whether `stored` is a later version of the object than `seen`. resourceVersions are opaque to clients but
    etcd's are increasing integers; anything else is not known to be newer (the watch's copy is kept)."""
    versions = [str((body.get("metadata") or {}).get("resourceVersion") or "") for body in (stored, seen)]
    if not all(v.isdigit() for v in versions):
        return False
    return int(versions[0]) > int(versions[1])
