"""The health process's writes, with the cluster replaced by a fake gateway that records them: coalescing,
write-only-on-change, stale entries, the grace timer, missing workloads, deletions the watches missed, an osdpl gone
before its PATCH and a failed PATCH retried. (The e2e tests show the same against a real API server.)"""

from __future__ import annotations

import asyncio
import copy
import functools
from typing import Any, Callable, Iterator, Mapping, Sequence

import kopf
import pytest

from openstack_operator.controllers.health import build
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.health.workloads import Workload, release_basis
from openstack_operator.core.models.osdpl_status import HEALTH, SECTIONS, NotOwner, SectionPatch
from openstack_operator.core.settings import Settings
from openstack_operator.kube.process import Runtime
from openstack_operator.reconcilers.health import LABEL_SELECTOR, HealthReconciler

from .merge_patch import merged

CHILDREN = {"identity": {"openstack-keystone": {"state": "deployed", "revision": 1}}}
KEY = ("ns", "osh")


class FakeApi:
    """The reconciler's gateway (reconcilers.health.HealthCluster), with the osdpl and the LISTs in memory."""

    def __init__(self) -> None:
        self.osdpl: dict[str, Any] = {"metadata": {"namespace": "ns", "name": "osh"},
                                      "status": {"children": CHILDREN}}
        self.patches: list[dict[str, Any]] = []
        self.listed: dict[str, tuple[int, str]] = {}  # what a fresh LIST returns: uid -> (generation, release)
        self.during_list: Callable[[], None] | None = None  # what happens in the cluster while it is read
        self.during_patch: Callable[[], None] | None = None  # likewise, while a PATCH is sent (once)
        self.lists = 0
        self.uids_listed_in: set[str] = set()  # the namespaces the last resync LIST read
        self.osdpl_deleted = False  # the PATCH finds no osdpl (404)
        self.claimed_by: str | None = None  # the osdpl the namespace's claim names
        self.other_patches: list[str] = []  # osdpls other than KEY patched

    async def claim_holder(self, namespace: str) -> str | None:
        return self.claimed_by

    async def workload_generations(self, namespace: str, selector: str) -> dict[str, tuple[int, str]]:
        assert selector == LABEL_SELECTOR
        await asyncio.sleep(0)  # a LIST takes a while: other work runs meanwhile
        self.lists += 1
        if self.during_list:
            self.during_list()
            self.during_list = None
        return dict(self.listed)

    async def workload_uids(self, selector: str, namespaces: Sequence[str]) -> set[str]:
        self.uids_listed_in = set(namespaces)
        return set(await self.workload_generations("", selector))

    async def patch_osdpl_status(self, namespace: str, name: str, patch: SectionPatch) -> dict[str, Any] | None:
        if (namespace, name) != KEY:
            self.other_patches.append(name)
            return {"metadata": {"namespace": namespace, "name": name}, "status": {}}
        sent = patch.sent_by(HEALTH)  # as the gateway's one write (kube.osdpl_status.patch_section) does
        await asyncio.sleep(0)
        if self.during_patch:
            during, self.during_patch = self.during_patch, None
            during()
        if self.osdpl_deleted:
            return None
        self.patches.append(copy.deepcopy(sent))
        self.osdpl = merged(self.osdpl, {"status": sent})
        return copy.deepcopy(self.osdpl)


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    yield FakeApi()


def _deployment(name: str, available: int, replicas: int = 1, generation: int = 1) -> dict[str, Any]:
    return {"kind": "Deployment",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": generation, "labels": {
                "application": "keystone", "component": name},
                "annotations": {"meta.helm.sh/release-name": "openstack-keystone"}},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                       "availableReplicas": available}}


class Cluster:
    """Kopf's part: an index of projections, events for changes."""

    def __init__(self, health: HealthReconciler) -> None:
        self.health = health
        self.index: dict[str, Workload] = {}
        self.bodies: dict[str, dict[str, Any]] = {}
        health.use_indexes([{"ns": self}])

    def __iter__(self) -> Iterator[Workload]:
        return iter(self.index.values())

    def put(self, body: dict[str, Any]) -> None:
        # As Kopf's index handler: an empty entry takes the object out of the index.
        entry = self.health.index_entry(body)
        if entry:
            self.index[body["metadata"]["name"]] = entry["ns"]
        else:
            self.index.pop(body["metadata"]["name"], None)
        self.bodies[body["metadata"]["name"]] = body
        self.health.workload_event("MODIFIED", body)  # then the event handler, as Kopf calls it

    def remove(self, name: str) -> None:
        del self.index[name]
        self.health.workload_event("DELETED", self.bodies.pop(name))


@functools.cache
def _catalog() -> Catalog:
    return Catalog.load()


def _runtime(**settings: Any) -> Runtime:
    return Runtime("health", _catalog(), Settings(**settings))


def _watching(fake_api: FakeApi, grace: float, coalesce: float,
              **settings: Any) -> tuple[HealthReconciler, Cluster]:
    """A health reconciler that has seen the osdpl, and the cluster it watches."""
    runtime = _runtime(health_grace_seconds=grace, health_coalesce_seconds=coalesce, **settings)
    health = HealthReconciler(runtime, fake_api, debounce=0.01)
    cluster = Cluster(health)
    health.observe_osdpl("ADDED", fake_api.osdpl)
    return health, cluster


def _run(scenario: Any) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=10))


def test_a_burst_of_events_costs_one_patch_and_an_unchanged_health_none(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=60, coalesce=0.05)
        for i in range(300):
            cluster.put(_deployment(f"c{i}", available=1))
        await health.queue.join()
        assert len(fake_api.patches) == 1
        status = fake_api.osdpl["status"]
        assert status["health_progress"] == "300/300"
        assert status["health_basis"] == release_basis(CHILDREN)
        assert status["health"]["keystone"]["c7"] == {"state": "Ready", "reason": "1/1 replicas available"}

        health.observe_osdpl("MODIFIED", fake_api.osdpl)  # the echo of our own write
        for i in range(300):
            cluster.put(_deployment(f"c{i}", available=1))  # e.g. a resync: nothing changed
        await health.queue.join()
        assert len(fake_api.patches) == 1

        cluster.remove("c0")
        cluster.put(_deployment("c1", available=0))
        await asyncio.sleep(0.3)  # not join(): the grace timer of c1 is pending work
        assert fake_api.patches[-1] == {"health": {"keystone": {"c0": None, "c1": {
            "state": "Progressing", "reason": "Deployment c1: 0/1 replicas available"}}},
            "health_progress": "298/299"}
        health.queue.close()

    _run(scenario)


def test_no_progress_past_the_grace_period_turns_unhealthy_without_another_event(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=0.3, coalesce=0.01)
        cluster.put(_deployment("api", available=0))
        await asyncio.sleep(0.1)
        assert fake_api.osdpl["status"]["health"]["keystone"]["api"]["state"] == "Progressing"
        await health.queue.join()  # the grace timer is pending work: join waits for it
        assert fake_api.osdpl["status"]["health"]["keystone"]["api"] == {
            "state": "Unhealthy", "reason": "Deployment api: no progress for more than 0.3s: 0/1 replicas available"}
        cluster.put(_deployment("api", available=1))
        await health.queue.join()
        assert fake_api.osdpl["status"]["health"]["keystone"]["api"]["state"] == "Ready"
        health.queue.close()

    _run(scenario)


def test_workloads_of_releases_the_osdpl_does_not_have_are_not_its_health(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01)
        stranger = _deployment("web", available=0)
        stranger["metadata"]["annotations"]["meta.helm.sh/release-name"] = "someone-elses"
        cluster.put(stranger)
        cluster.put(_deployment("api", available=1))
        await health.queue.join()
        assert fake_api.osdpl["status"]["health"] == {"keystone": {"api": {
            "state": "Ready", "reason": "1/1 replicas available"}}}
        health.queue.close()

    _run(scenario)


def test_a_lone_change_is_written_at_once_and_the_next_waits_for_the_window(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=60, coalesce=0.5)
        cluster.put(_deployment("api", available=1))
        await asyncio.sleep(0.1)
        assert len(fake_api.patches) == 1  # after the debounce, not after the window
        cluster.put(_deployment("api", available=1, replicas=2))
        await asyncio.sleep(0.2)
        assert len(fake_api.patches) == 1  # one PATCH per window: this one waits
        await asyncio.sleep(0.4)
        assert len(fake_api.patches) == 2
        assert fake_api.osdpl["status"]["health"]["keystone"]["api"]["reason"] == \
            "Deployment api: 1/2 replicas available"
        health.queue.close()

    _run(scenario)


def test_a_rollout_that_keeps_moving_is_not_unhealthy(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=0.3, coalesce=0.01)
        states = set()
        for available in range(4):  # one more replica every 0.2 s: never 0.3 s without progress
            cluster.put(_deployment("api", available=available, replicas=4))
            for _ in range(4):
                await asyncio.sleep(0.05)
                states.add(fake_api.osdpl["status"].get("health", {}).get("keystone", {}).get("api", {}).get("state"))
        assert states == {"Progressing"}
        await asyncio.sleep(0.4)  # now stuck at 3/4
        assert fake_api.osdpl["status"]["health"]["keystone"]["api"]["reason"] == \
            "Deployment api: no progress for more than 0.3s: 3/4 replicas available"
        health.queue.close()

    _run(scenario)


def test_the_basis_moves_only_once_the_indexes_hold_what_a_fresh_list_shows(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01)
        cluster.put(_deployment("api", available=1))
        await health.queue.join()
        assert fake_api.osdpl["status"]["health_basis"] == release_basis(CHILDREN)

        # Helm upgraded keystone (revision 2, api at generation 2): the osdpl shows it before the index does.
        upgraded = {"identity": {"openstack-keystone": {"state": "deployed", "revision": 2}}}
        fake_api.osdpl["status"]["children"] = upgraded
        fake_api.listed = {"uid-api": (2, "openstack-keystone"), "uid-other": (9, "not-this-osdpls")}
        health.observe_osdpl("MODIFIED", fake_api.osdpl)
        await asyncio.sleep(0.2)
        assert fake_api.osdpl["status"]["health_basis"] == release_basis(CHILDREN)  # not moved: index behind
        cluster.put(_deployment("api", available=1, generation=2))  # the watch event arrives
        await health.queue.join()
        assert fake_api.osdpl["status"]["health_basis"] == release_basis(upgraded)

        lists = fake_api.lists
        for available in (0, 1, 0, 1):  # workload events without a release change: no LIST
            cluster.put(_deployment("api", available=available, generation=2))
            await asyncio.sleep(0.05)  # not join(): a not-ready workload keeps its grace timer pending
        assert fake_api.lists == lists
        assert fake_api.osdpl["status"]["health"]["keystone"]["api"]["state"] == "Ready"
        health.queue.close()

    _run(scenario)


def test_health_written_with_a_new_basis_includes_what_arrived_during_the_list(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01)
        cluster.put(_deployment("api", available=1))
        await health.queue.join()

        upgraded = {"identity": {"openstack-keystone": {"state": "deployed", "revision": 2}}}
        fake_api.osdpl["status"]["children"] = upgraded
        fake_api.listed = {"uid-api": (2, "openstack-keystone")}
        rolling = _deployment("api", available=1, generation=2)
        rolling["status"]["observedGeneration"] = 1  # Helm changed it; its controller has not caught up yet

        def event_arrives() -> None:  # indexed while the LIST is read, no check scheduled yet
            cluster.index["api"] = health.project(rolling)

        fake_api.during_list = event_arrives
        health.observe_osdpl("MODIFIED", fake_api.osdpl)
        await asyncio.sleep(0.2)
        status = fake_api.osdpl["status"]
        assert status["health_basis"] == release_basis(upgraded)
        assert status["health"]["keystone"]["api"]["state"] == "Progressing"  # not the Ready from before the LIST
        health.queue.close()

    _run(scenario)


def _job(name: str, running: bool) -> dict[str, Any]:
    status = {"active": 1, "ready": 1} if running else {"conditions": [{"type": "Complete", "status": "True"}]}
    return {"kind": "Job", "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1,
                                        "labels": {"application": "keystone", "component": name},
                                        "annotations": {"meta.helm.sh/release-name": "openstack-keystone"}},
            "spec": {}, "status": status}


def test_no_grace_runs_while_a_job_is_at_work_and_it_restarts_when_the_job_is_done(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=0.3, coalesce=0.01)
        cluster.put(_job("db-sync", running=True))
        cluster.put(_deployment("api", available=0))  # waits for db-sync (an init container, in OpenStack-Helm)
        await asyncio.sleep(0.6)
        assert fake_api.osdpl["status"]["health"]["keystone"]["api"]["state"] == "Progressing"
        cluster.put(_job("db-sync", running=False))
        await asyncio.sleep(0.15)  # the Deployment has not moved for 0.75 s, but the Job finished 0.15 s ago
        assert fake_api.osdpl["status"]["health"]["keystone"]["api"]["state"] == "Progressing"
        await asyncio.sleep(0.4)
        assert fake_api.osdpl["status"]["health"]["keystone"]["api"]["state"] == "Unhealthy"
        health.queue.close()

    _run(scenario)


def _cronjob_run(name: str, status: dict[str, Any]) -> dict[str, Any]:
    """A Job the keystone release's CronJob created: OpenStack-Helm labels it like the release's own Jobs."""
    job = _job(name, running=True)
    job["metadata"]["annotations"] = {}
    job["metadata"]["labels"]["release_group"] = "openstack-keystone"
    job["metadata"]["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "keystone-fernet-rotate",
                                           "uid": "uid-cron", "controller": True}]
    job["status"] = status
    return job


def test_jobs_of_cronjobs_are_neither_reported_nor_hold_ready_back(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01)
        cluster.put(_deployment("api", available=1))
        cluster.put(_cronjob_run("keystone-fernet-rotate-1", {"conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "x"}]}))
        cluster.put(_cronjob_run("keystone-fernet-rotate-2", {}))  # pods not running yet: would go Unhealthy
        await health.queue.join()
        status = fake_api.osdpl["status"]
        assert status["health"] == {"keystone": {"api": {"state": "Ready", "reason": "1/1 replicas available"}}}
        assert status["health_progress"] == "1/1"
        health.queue.close()

    _run(scenario)


def test_a_running_job_of_a_cronjob_does_not_pause_the_grace_period(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=0.3, coalesce=0.01)
        cluster.put(_cronjob_run("keystone-fernet-rotate-1", {"active": 1, "ready": 1}))  # runs for a long time
        cluster.put(_deployment("api", available=0))  # waits for no one: stuck
        await asyncio.sleep(0.6)
        assert fake_api.osdpl["status"]["health"]["keystone"]["api"]["state"] == "Unhealthy"
        health.queue.close()

    _run(scenario)


def _expecting(fake_api: FakeApi, *names: str, revision: int = 1) -> dict[str, Any]:
    """keystone deployed with Deployments `names` in its manifest (as the helmbundle process records them)."""
    children = {"identity": {"openstack-keystone": {"state": "deployed", "revision": revision, "workloads": sorted(
        f"keystone/{name}/Deployment/{name}" for name in names)}}}
    fake_api.osdpl["status"]["children"] = children
    return children


def test_a_workload_of_a_deployed_release_that_is_not_there_is_unhealthy(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        _expecting(fake_api, "api", "worker")
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01)
        cluster.put(_deployment("api", available=1))
        cluster.put(_deployment("worker", available=1))
        await health.queue.join()
        assert fake_api.osdpl["status"]["health_progress"] == "2/2"

        cluster.remove("api")
        cluster.remove("worker")  # someone deleted them all: not "0/0 components ready"
        await health.queue.join()
        status = fake_api.osdpl["status"]
        assert status["health"]["keystone"]["api"] == {
            "state": "Unhealthy", "reason": "Deployment api: missing: not found in the cluster (deleted?)"}
        assert status["health_progress"] == "0/2"
        health.queue.close()

    _run(scenario)


def test_a_workload_a_helm_upgrade_adds_holds_the_basis_until_indexed_and_is_then_ready(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01)
        cluster.put(_deployment("api", available=1))
        await health.queue.join()

        # Revision 2 adds a worker: the osdpl records it before the worker's watch event arrives.
        upgraded = _expecting(fake_api, "api", "worker", revision=2)
        fake_api.listed = {"uid-api": (1, "openstack-keystone"), "uid-worker": (1, "openstack-keystone")}
        health.observe_osdpl("MODIFIED", fake_api.osdpl)
        await asyncio.sleep(0.2)
        assert fake_api.osdpl["status"]["health_basis"] == release_basis(CHILDREN)  # the index lags: not current
        cluster.put(_deployment("worker", available=1))
        await health.queue.join()
        status = fake_api.osdpl["status"]
        assert status["health_basis"] == release_basis(upgraded)
        assert status["health_progress"] == "2/2"
        health.queue.close()

    _run(scenario)


def test_new_releases_seen_while_a_patch_is_in_flight_are_checked_not_replaced_by_its_response(
        fake_api: FakeApi) -> None:
    """The osdpl process records a new revision just after our PATCH is applied, and its watch event arrives before
    the PATCH's response: the response (older) must not replace it, or the health keeps the old basis for ever."""
    async def scenario() -> None:
        _expecting(fake_api, "api")
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01)
        cluster.put(_deployment("api", available=1))
        await health.queue.join()
        upgraded = {"identity": {"openstack-keystone": {"state": "deployed", "revision": 2,
                                                        "workloads": ["keystone/api/Deployment/api"]}}}

        def recorded_meanwhile() -> None:
            later = copy.deepcopy(fake_api.osdpl)
            later["status"]["children"] = upgraded
            health.observe_osdpl("MODIFIED", later)

        fake_api.during_patch = recorded_meanwhile
        cluster.put(_deployment("api", available=2, replicas=2))  # a change that is written: the PATCH it races
        await health.queue.join()
        assert fake_api.patches[-1]["health_basis"] == release_basis(upgraded)
        health.queue.close()

    _run(scenario)


def test_a_deletion_the_watch_missed_is_found_by_a_resync(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        _expecting(fake_api, "api", "worker")
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01)
        cluster.put(_deployment("api", available=1))
        cluster.put(_deployment("worker", available=0))
        await asyncio.sleep(0.1)
        assert health.stalled

        # The worker was deleted while the watch reconnected: Kopf keeps it indexed; a LIST no longer returns it.
        fake_api.listed = {"uid-api": (1, "openstack-keystone")}

        def created_during_the_list() -> None:
            cluster.index["new"] = health.project(_deployment("new", available=1))

        fake_api.during_list = created_during_the_list
        await health.resync()
        assert fake_api.uids_listed_in == {"ns"}  # only the namespaces of indexed workloads: no cluster-wide read
        assert health.gone == {"uid-worker"}  # not uid-new: created after the indexes were read
        await health.queue.join()
        assert fake_api.osdpl["status"]["health"]["keystone"]["worker"]["reason"] == \
            "Deployment worker: missing: not found in the cluster (deleted?)"
        assert not health.stalled  # its grace clock went with it

        fake_api.listed["uid-new"] = (1, "openstack-keystone")
        del cluster.index["worker"]  # Kopf drops it after all
        await health.resync()
        assert health.gone == set()
        health.queue.close()

    _run(scenario)


def test_the_resync_runs_periodically_and_survives_a_failed_list(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01, health_resync_seconds=0.05)
        cluster.put(_deployment("api", available=1))
        await health.queue.join()

        def unavailable() -> None:  # once
            fake_api.during_list = None
            raise ConnectionError("API server unavailable")

        fake_api.during_list = unavailable
        await health.start()
        await asyncio.sleep(0.3)
        assert health.gone == {"uid-api"}
        await health.queue.join()
        assert fake_api.osdpl["status"]["health_progress"] == "0/0"  # no `workloads` recorded: as before
        await health.stop()

    _run(scenario)


def test_an_osdpl_gone_before_its_patch_is_dropped_and_never_checked_again(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01)
        fake_api.osdpl_deleted = True  # deleted; its DELETED event has not arrived yet
        cluster.put(_deployment("api", available=1))
        await health.queue.join()  # no error, so no retry: the 404 ended the work
        assert fake_api.patches == []
        assert KEY not in health.osdpls and KEY not in health.last_write
        lists = fake_api.lists
        cluster.put(_deployment("api", available=0))
        assert health.queue.pending() == set()  # its namespace's events schedule nothing for it any more
        await asyncio.sleep(0.05)
        assert fake_api.lists == lists
        health.queue.close()

    _run(scenario)


def test_a_deleted_osdpl_is_no_longer_checked(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01)
        cluster.put(_deployment("api", available=1))
        await health.queue.join()
        assert len(fake_api.patches) == 1
        health.observe_osdpl("DELETED", fake_api.osdpl)
        cluster.put(_deployment("api", available=0))
        assert health.queue.pending() == set()
        assert health.osdpls == {} and health.last_write == {}
        health.queue.close()

    _run(scenario)


def test_a_failed_patch_is_logged_naming_the_osdpl_and_retried(fake_api: FakeApi,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    def refused() -> None:
        raise ConnectionError("API server unavailable")

    async def scenario() -> None:
        # The process's retry policy, capped short: the retry comes within 0.05 s.
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01, retry_max_seconds=0.05)
        fake_api.during_patch = refused
        cluster.put(_deployment("api", available=1))
        await health.queue.join()  # a retry is pending work: join waits for it
        assert len(fake_api.patches) == 1
        assert fake_api.osdpl["status"]["health"]["keystone"]["api"]["state"] == "Ready"
        health.queue.close()

    _run(scenario)
    failures = [r.getMessage() for r in caplog.records if "ConnectionError" in r.getMessage()]
    assert failures == ["health: osdpl ns/osh: health: ConnectionError: API server unavailable"]


def test_a_job_a_cronjob_created_schedules_no_check_and_a_deleted_workload_loses_its_grace_clock(
        fake_api: FakeApi) -> None:
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01)
        cluster.put(_deployment("api", available=1))
        await health.queue.join()
        cluster.put(_cronjob_run("keystone-fernet-rotate-1", {"active": 1}))
        assert health.queue.pending() == set()  # in no index: nothing to check again

        cluster.put(_deployment("worker", available=0))
        await asyncio.sleep(0.05)
        assert set(health.stalled) == {"uid-worker"}
        cluster.remove("worker")
        assert health.stalled == {}  # at its DELETED event, before any check
        await asyncio.sleep(0.05)
        assert "worker" not in fake_api.osdpl["status"]["health"]["keystone"]
        health.queue.close()

    _run(scenario)


def test_the_process_watches_only_labelled_workloads_and_builds_the_reconciler() -> None:
    settings = kopf.OperatorSettings()
    reconciler = build(_runtime(health_resync_seconds=5.0), settings)
    assert isinstance(reconciler, HealthReconciler) and reconciler.resync_interval == 5.0
    for resource in (("apps", "v1", "deployments"), ("apps", "v1", "statefulsets"), ("apps", "v1", "daemonsets"),
                     ("batch", "v1", "jobs")):
        assert settings.watching.label_selectors[resource] == "application,component"


def test_its_writes_are_section_patches_of_the_health_section_only(fake_api: FakeApi) -> None:
    """The one write path (core.models.osdpl_status): the fake, as the gateway, takes only a SectionPatch of the
    health section; a field of another section never reaches it."""
    async def scenario() -> None:
        health, cluster = _watching(fake_api, grace=60, coalesce=0.05)
        cluster.put(_deployment("api", available=1))
        await health.queue.join()
        assert len(fake_api.patches) == 1 and set(fake_api.patches[0]) == set(SECTIONS[HEALTH])
        with pytest.raises(NotOwner, match=r"status\.children \(the osdpl process's\)"):
            await health._write(KEY, fake_api.osdpl["status"], {"health_progress": "0/0", "children": {}})
        assert len(fake_api.patches) == 1
        health.queue.close()
    _run(scenario)


def test_health_is_written_for_the_namespace_holder_only(fake_api: FakeApi) -> None:
    async def scenario() -> None:
        fake_api.claimed_by = "osh"
        health, cluster = _watching(fake_api, grace=60, coalesce=0.01)
        # A second osdpl of the namespace, seen first and with the same release names in its children.
        intruder = {"metadata": {"namespace": "ns", "name": "intruder", "creationTimestamp": "2020-01-01T00:00:00Z"},
                    "status": {"children": CHILDREN}}
        health.observe_osdpl("ADDED", intruder)
        cluster.put(_deployment("api", available=1))
        await health.queue.join()
        assert fake_api.osdpl["status"]["health_progress"] == "1/1" and fake_api.other_patches == []
        fake_api.claimed_by = "intruder"  # the claim decides, not the age or the order seen
        cluster.put(_deployment("api", available=0))
        await asyncio.sleep(0.3)  # not join(): the grace timer is pending work
        assert fake_api.other_patches == ["intruder"]
        assert fake_api.osdpl["status"]["health_progress"] == "1/1"  # osh's health no longer written
        health.queue.close()

    _run(scenario)
