"""The node process's reconciler (reconcilers.node) with a fake cluster: the inventory it writes on status.nodes, the
Jobs of maintenance and of removed nodes, the finalizers it adds and lets go of, and a conflict retried.

`FakeCluster` is the gateway (NodeCluster) and the cluster at once: it keeps the objects in memory, applies the
writes as the API server would (a stale resourceVersion is a Conflict, a deleted object goes once its finalizers
are gone), and `sync()` plays the watch: the Kopf indexes the reconciler reads are rebuilt from the objects.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any, Awaitable, Callable, Collection, Mapping

import pytest

from openstack_operator.core.apigroup import API_VERSION
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.errors import Conflict
from openstack_operator.core.models.osdpl_status import NODE, SectionPatch
from openstack_operator.core.nodes.inventory import (CLEANUP_OWNERS_ANNOTATION, PodView, cleanup_finalizer, node_view,
                                                     pod_view)
from openstack_operator.core.nodes.jobs import JobView, job_name, job_view
from openstack_operator.core.runtime.retry import FIRST_RETRY_SECONDS, JITTER
from openstack_operator.core.settings import Settings
from openstack_operator.kube.process import Runtime
from openstack_operator.reconcilers.node import REQUEST_FINALIZER, Indexes, NodeReconciler

from .merge_patch import merged

NS = "openstack"
RETRY = 60.0  # OSOP_NODE_JOB_RETRY_SECONDS of these tests
T0 = 1_800_000_000.0  # the clock at the start of each test
COMPUTE = {"openstack-compute-node": "enabled"}
CONTROL = {"openstack-control-plane": "enabled"}


def _stamp(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


class FakeCluster:
    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.pods: list[dict[str, Any]] = []
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: dict[tuple[str, str], dict[str, Any]] = {}
        self.osdpls: dict[str, dict[str, Any]] = {}  # the namespace's holder (unless `claims` says otherwise)
        self.others: list[dict[str, Any]] = []  # more osdpls of NS: indexed before `osdpls[NS]`
        self.claims: dict[str, str] = {}  # namespace -> the osdpl its claim names
        self.claims_read: list[str] = []
        self.other_patches: list[str] = []  # names of `others` whose status was patched
        self.events: list[tuple[str, str, str]] = []  # (involved kind, its name, reason)
        self.status_patches: list[dict[str, Any]] = []  # of the osdpl
        self.created_jobs: list[str] = []  # every creation asked for
        self.deleted_jobs: list[str] = []
        self.conflicts = 0  # writes still to be refused with a conflict, as if someone wrote just before
        self.versions = 0
        # what the watch delivered: Kopf's indexes, by name
        self.live: dict[str, dict[str, list[Any]]] = {n: {} for n in ("nodes", "pods", "jobs", "requests", "osdpls")}
        self.indexes = Indexes(**self.live)

    # -- the cluster as a test sets it up

    def _version(self) -> str:
        self.versions += 1
        return str(self.versions)

    def add_node(self, name: str, labels: Mapping[str, str], finalizers: tuple[str, ...] = (),
                 ready_since: str = "", owners: Mapping[str, str] | None = None) -> None:
        ready = {"type": "Ready", "status": "False" if ready_since else "True", "lastTransitionTime": ready_since}
        annotations = {CLEANUP_OWNERS_ANNOTATION: json.dumps(owners)} if owners else {}
        self.nodes[name] = {"metadata": {"name": name, "uid": f"uid-{name}", "labels": dict(labels),
                                         "finalizers": list(finalizers), "resourceVersion": self._version(),
                                         "annotations": annotations},
                            "status": {"conditions": [ready]}}

    def add_pod(self, node: str, application: str, component: str) -> None:
        self.pods.append({"metadata": {"namespace": NS, "name": f"{component}-{node}",
                                       "labels": {"application": application, "component": component},
                                       "ownerReferences": [{"kind": "DaemonSet", "name": component}]},
                          "spec": {"nodeName": node}})

    def add_osdpl(self, spec: Mapping[str, Any] | None = None, name: str = "cloud",
                  created: str = "2026-01-01T00:00:00Z") -> None:
        body = {"apiVersion": API_VERSION, "kind": "OpenStackDeployment",
                "metadata": {"name": name, "namespace": NS, "creationTimestamp": created,
                             "uid": "uid-osdpl" if name == "cloud" else f"uid-{name}"},
                "spec": {"openstack_version": "epoxy", **(spec or {})}, "status": {}}
        if name == "cloud":
            self.osdpls[NS] = body
        else:
            self.others.append(body)

    def add_request(self, name: str, node: str, created: str = "2026-01-01T00:00:00Z") -> None:
        self.requests[NS, name] = {"apiVersion": API_VERSION, "kind": "NodeMaintenanceRequest",
                                   "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}",
                                                "creationTimestamp": created, "resourceVersion": self._version()},
                                   "spec": {"nodeName": node}, "status": {}}

    def delete_node(self, name: str) -> None:
        self.nodes[name]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"

    def end_job(self, name: str, state: str, at: str = "2026-01-01T00:00:00Z") -> None:
        kind = {"Succeeded": "Complete", "Failed": "Failed"}[state]
        self.jobs[NS, name]["status"] = {"conditions": [{"type": kind, "status": "True", "lastTransitionTime": at}]}

    def sync(self, lagging: Collection[str] = ()) -> None:
        """The watch catches up: every index (but the `lagging` ones) holds the objects as they are now, changed in
        place (Kopf's indexes are live objects)."""
        pods: dict[str, list[PodView]] = {}
        for view in filter(None, map(pod_view, self.pods)):
            pods.setdefault(view.namespace, []).append(view)
        jobs: dict[str, list[tuple[str, JobView]]] = {}
        for (namespace, name), body in self.jobs.items():
            jobs.setdefault(namespace, []).append((name, job_view(body)))
        requests: dict[str, list[dict[str, Any]]] = {}
        for (namespace, _), body in self.requests.items():
            requests.setdefault(namespace, []).append(copy.deepcopy(body))
        fresh: dict[str, dict[str, list[Any]]] = {
            "nodes": {n: [node_view(b)] for n, b in self.nodes.items()}, "pods": pods, "jobs": jobs,
            "requests": requests, "osdpls": {n: [*map(copy.deepcopy, self.others if n == NS else []),
                                                 copy.deepcopy(b)] for n, b in self.osdpls.items()}}
        for name, entries in fresh.items():
            if name not in lagging:
                self.live[name].clear()
                self.live[name].update(entries)

    # -- NodeCluster

    def _write(self, metadata: dict[str, Any], resource_version: str | None) -> None:
        if self.conflicts or (resource_version is not None and resource_version != metadata["resourceVersion"]):
            self.conflicts = max(self.conflicts - 1, 0)
            raise Conflict(f"{metadata['name']}: the object has been modified")
        metadata["resourceVersion"] = self._version()

    async def set_node_finalizers(self, name: str, resource_version: str, finalizers: list[str],
                                  owners: Mapping[str, str]) -> None:
        metadata = self.nodes[name]["metadata"]
        self._write(metadata, resource_version)
        metadata["finalizers"] = list(finalizers)
        metadata["annotations"] = {CLEANUP_OWNERS_ANNOTATION: json.dumps(dict(owners))} if owners else {}
        if metadata.get("deletionTimestamp") and not finalizers:
            del self.nodes[name]

    async def set_request_finalizers(self, body: Mapping[str, Any], finalizers: list[str]) -> dict[str, Any]:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        stored = self.requests[key]
        self._write(stored["metadata"], body["metadata"]["resourceVersion"])
        stored["metadata"]["finalizers"] = list(finalizers)
        if stored["metadata"].get("deletionTimestamp") and not finalizers:
            del self.requests[key]
        return copy.deepcopy(stored)

    async def create_job(self, manifest: Mapping[str, Any]) -> bool:
        key = (manifest["metadata"]["namespace"], manifest["metadata"]["name"])
        self.created_jobs.append(key[1])
        if key in self.jobs:
            return False
        self.jobs[key] = {**copy.deepcopy(dict(manifest)), "status": {}}
        return True

    async def delete_job(self, namespace: str, name: str) -> None:
        self.deleted_jobs.append(name)
        self.jobs.pop((namespace, name), None)

    async def patch_request_status(self, namespace: str, name: str, patch: Mapping[str, Any]) \
            -> dict[str, Any] | None:
        stored = self.requests.get((namespace, name))
        if stored is None:
            return None
        self._write(stored["metadata"], None)
        stored["status"] = merged(stored.get("status") or {}, patch)
        return copy.deepcopy(stored)

    async def claim_holder(self, namespace: str) -> str | None:
        self.claims_read.append(namespace)
        return self.claims.get(namespace)

    async def patch_osdpl_status(self, namespace: str, name: str, patch: SectionPatch) -> bool:
        sent = patch.sent_by(NODE)  # as the gateway's one write (kube.osdpl_status.patch_section) does
        if any(o["metadata"]["name"] == name for o in self.others):
            self.other_patches.append(name)
            return True
        stored = self.osdpls.get(namespace)
        if stored is None:
            return False
        if self.conflicts:
            self.conflicts -= 1
            raise Conflict(f"{name}: the object has been modified")
        self.status_patches.append(copy.deepcopy(sent))
        stored["status"] = merged(stored["status"], sent)
        return True

    async def post_event(self, involved: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        self.events.append((involved["kind"], involved["metadata"]["name"], reason))

    # -- what a test reads back

    def nodes_status(self) -> dict[str, Any]:
        nodes: dict[str, Any] = self.osdpls[NS]["status"].get("nodes") or {}
        return nodes

    def finalizers(self, node: str) -> list[str]:
        return list(self.nodes[node]["metadata"]["finalizers"]) if node in self.nodes else []

    def owners(self, node: str) -> dict[str, str]:
        return dict(node_view(self.nodes[node]).cleanup_owners)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _run(scenario: Callable[[FakeCluster, NodeReconciler, Clock], Awaitable[None]], catalog: Catalog,
         namespaces: tuple[str, ...] = ()) -> FakeCluster:
    cluster, clock = FakeCluster(), Clock()

    async def main() -> None:
        runtime = Runtime("node", catalog, Settings(node_job_retry_seconds=RETRY, namespaces=namespaces))
        reconciler = NodeReconciler(runtime, cluster, clock)
        reconciler.use_indexes(cluster.indexes)
        await reconciler.start()
        try:
            await scenario(cluster, reconciler, clock)
        finally:
            await reconciler.stop()
    asyncio.run(asyncio.wait_for(main(), timeout=10))
    return cluster


async def _pass(cluster: FakeCluster, reconciler: NodeReconciler) -> float | None:
    """The watch caught up, then one pass over the namespace."""
    cluster.sync()
    return await reconciler.reconcile(NS)


def _compute_node(cluster: FakeCluster, name: str, finalizers: tuple[str, ...] = ()) -> None:
    """A compute node where nova-compute and the Open vSwitch agent ran (registered in OpenStack)."""
    cluster.add_node(name, COMPUTE, finalizers)
    cluster.add_pod(name, "nova", "compute")
    cluster.add_pod(name, "neutron", "neutron-ovs-agent")


def test_the_inventory_is_on_status_nodes_and_only_registered_nodes_get_the_finalizer(catalog: Catalog) -> None:
    async def scenario(cluster: FakeCluster, reconciler: NodeReconciler, clock: Clock) -> None:
        cluster.add_osdpl()
        _compute_node(cluster, "cmp-0")
        cluster.add_node("cmp-1", COMPUTE)  # labelled, nothing ran there yet
        cluster.add_node("ctl-0", CONTROL)
        cluster.add_node("bare-0", {})
        assert await _pass(cluster, reconciler) is None
        nodes = cluster.nodes_status()
        assert nodes["summary"] == "3 nodes: 2 compute, 1 network, 1 control-plane; 0 not ready; 0 in maintenance"
        assert nodes["compute"] == 2 and sorted(nodes["hosts"]) == ["cmp-0", "cmp-1", "ctl-0"]
        assert nodes["hosts"]["cmp-0"]["roles"] == ["compute", "network"]
        assert nodes["hosts"]["cmp-0"]["components"] == ["neutron/neutron-ovs-agent", "nova/compute"]
        assert nodes["hosts"]["ctl-0"]["roles"] == ["control-plane"]
        assert cluster.finalizers("cmp-0") == [cleanup_finalizer(NS)]
        assert cluster.finalizers("cmp-1") == cluster.finalizers("ctl-0") == cluster.finalizers("bare-0") == []
        # nothing changed: nothing written again, even before the watch shows the osdpl's new status
        cluster.sync()
        cluster.live["osdpls"][NS] = [{**cluster.osdpls[NS], "status": {}}]
        assert await reconciler.reconcile(NS) is None
        assert len(cluster.status_patches) == 1
    cluster = _run(scenario, catalog)
    assert cluster.events == []


def test_a_node_not_ready_for_long_is_reported_once_and_a_newer_one_looked_at_in_time(catalog: Catalog) -> None:
    async def scenario(cluster: FakeCluster, reconciler: NodeReconciler, clock: Clock) -> None:
        cluster.add_osdpl({"features": {"node_lifecycle": {"not_ready_report_seconds": 100}}})
        cluster.add_node("cmp-0", COMPUTE, ready_since=_stamp(T0 - 1000))
        cluster.add_node("cmp-1", COMPUTE, ready_since=_stamp(T0 - 20))
        again = await _pass(cluster, reconciler)
        assert cluster.nodes_status()["not_ready"] == ["cmp-0"]
        assert cluster.events == [("OpenStackDeployment", "cloud", "NodeNotReady")]
        assert again == pytest.approx(80.5)  # when cmp-1 will have been NotReady for 100 s
        await _pass(cluster, reconciler)
        assert len(cluster.events) == 1  # reported once
    _run(scenario, catalog)


def test_a_maintenance_request_runs_its_jobs_and_a_second_compute_node_waits_for_the_cap(catalog: Catalog) -> None:
    async def scenario(cluster: FakeCluster, reconciler: NodeReconciler, clock: Clock) -> None:
        cluster.add_osdpl()
        _compute_node(cluster, "cmp-0")
        _compute_node(cluster, "cmp-1")
        cluster.add_request("first", "cmp-0", created="2026-01-01T00:00:00Z")
        cluster.add_request("second", "cmp-1", created="2026-01-01T00:01:00Z")
        await _pass(cluster, reconciler)
        disable = job_name("disable", "cmp-0", "uid-first")
        job = cluster.jobs[NS, disable]
        assert job["metadata"]["ownerReferences"] == [{
            "apiVersion": API_VERSION, "kind": "OpenStackDeployment", "name": "cloud", "uid": "uid-osdpl",
            "controller": True, "blockOwnerDeletion": False}]
        assert job["spec"]["template"]["spec"]["containers"][0]["command"][3:] == [
            "node-job.sh", "disable", "cmp-0", "compute,network"]
        assert job["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
            "quay.io/airshipit/openstack-client:")
        first, second = cluster.requests[NS, "first"], cluster.requests[NS, "second"]
        assert first["metadata"]["finalizers"] == [REQUEST_FINALIZER]
        assert (first["status"]["phase"], first["status"]["job"]) == ("Disabling", disable)
        assert second["status"]["phase"] == "Waiting" and "compute (1/1: cmp-0)" in second["status"]["message"]
        assert cluster.nodes_status()["maintenance"] == {"cmp-0": "Disabling"}
        # the watch has not delivered the Job yet: it counts as running, it is not created again
        cluster.sync(lagging={"jobs"})
        await reconciler.reconcile(NS)
        assert cluster.created_jobs == [disable] and cluster.requests[NS, "first"]["status"]["attempts"] == 1
        cluster.end_job(disable, "Succeeded")
        await _pass(cluster, reconciler)
        assert cluster.requests[NS, "first"]["status"]["phase"] == "Migrating"
        await _pass(cluster, reconciler)  # the next step's Job is started from the status that names it
        assert (NS, job_name("migrate", "cmp-0", "uid-first")) in cluster.jobs
        assert cluster.requests[NS, "second"]["status"]["phase"] == "Waiting"
    cluster = _run(scenario, catalog)
    assert not any(name.startswith("osop-disable-cmp-1") for _, name in cluster.jobs)


def test_a_removed_node_is_cleaned_up_by_a_job_then_its_finalizer_goes(catalog: Catalog) -> None:
    async def scenario(cluster: FakeCluster, reconciler: NodeReconciler, clock: Clock) -> None:
        cluster.add_osdpl()
        _compute_node(cluster, "cmp-0", finalizers=("someone.else/keep", cleanup_finalizer(NS)))
        cluster.delete_node("cmp-0")
        await _pass(cluster, reconciler)
        cleanup = job_name("cleanup", "cmp-0", "uid-cmp-0")
        assert (NS, cleanup) in cluster.jobs
        assert cluster.jobs[NS, cleanup]["spec"]["template"]["spec"]["containers"][0]["command"][3:] == [
            "node-job.sh", "cleanup", "cmp-0", ""]
        assert cluster.nodes_status()["removals"]["cmp-0"]["state"] == "Running"
        assert cleanup_finalizer(NS) in cluster.finalizers("cmp-0")
        cluster.end_job(cleanup, "Succeeded")
        await _pass(cluster, reconciler)
        assert cluster.finalizers("cmp-0") == ["someone.else/keep"]  # only its own finalizer goes
        nodes = cluster.nodes_status()
        assert nodes["removals"] == {} and nodes["removed"][0]["node"] == "cmp-0"
        assert nodes["removed"][0]["result"] == "Cleaned" and nodes["removed"][0]["attempts"] == 1
        assert ("OpenStackDeployment", "cloud", "NodeCleanedUp") in cluster.events
    _run(scenario, catalog)


def test_a_failed_cleanup_job_is_run_again_once_the_retry_delay_passed(catalog: Catalog) -> None:
    async def scenario(cluster: FakeCluster, reconciler: NodeReconciler, clock: Clock) -> None:
        cluster.add_osdpl()
        _compute_node(cluster, "cmp-0", finalizers=(cleanup_finalizer(NS),))
        cluster.delete_node("cmp-0")
        await _pass(cluster, reconciler)
        cleanup = job_name("cleanup", "cmp-0", "uid-cmp-0")
        cluster.end_job(cleanup, "Failed", at=_stamp(T0))
        clock.now = T0 + 10
        assert await _pass(cluster, reconciler) == pytest.approx(RETRY - 10)
        assert cluster.nodes_status()["removals"]["cmp-0"]["state"] == "Failed"
        assert ("OpenStackDeployment", "cloud", "NodeCleanupFailed") in cluster.events
        assert cluster.deleted_jobs == [] and cleanup_finalizer(NS) in cluster.finalizers("cmp-0")
        clock.now = T0 + RETRY
        await _pass(cluster, reconciler)
        assert cluster.deleted_jobs == [cleanup]
        await _pass(cluster, reconciler)
        assert cluster.jobs[NS, cleanup]["status"] == {}  # created again
        assert cluster.nodes_status()["removals"]["cmp-0"]["attempts"] == 2
    _run(scenario, catalog)


def test_a_conflict_is_retried_after_the_retry_delay_then_the_pass_completes(catalog: Catalog) -> None:
    async def scenario(cluster: FakeCluster, reconciler: NodeReconciler, clock: Clock) -> None:
        cluster.add_osdpl()
        _compute_node(cluster, "cmp-0")
        cluster.conflicts = 2  # the Node changed twice just before each write
        first = await _pass(cluster, reconciler)
        second = await _pass(cluster, reconciler)
        assert first is not None and FIRST_RETRY_SECONDS * (1 - JITTER) <= first <= FIRST_RETRY_SECONDS * (1 + JITTER)
        assert second is not None and 2 * FIRST_RETRY_SECONDS * (1 - JITTER) <= second
        assert cluster.finalizers("cmp-0") == [] and cluster.status_patches == []  # the pass stopped there
        assert await _pass(cluster, reconciler) is None
        assert cluster.finalizers("cmp-0") == [cleanup_finalizer(NS)] and len(cluster.status_patches) == 1
        # the index still shows the Node as it was before this process's finalizer and someone else's: the write
        # from that stale view is refused, and theirs is never dropped
        stale = node_view({**cluster.nodes["cmp-0"], "metadata": {**cluster.nodes["cmp-0"]["metadata"],
                                                                  "finalizers": [], "resourceVersion": "old"}})
        cluster.nodes["cmp-0"]["metadata"]["finalizers"] = ["someone.else/keep"]
        cluster.nodes["cmp-0"]["metadata"]["resourceVersion"] = "changed"
        cluster.live["nodes"]["cmp-0"] = [stale]
        third = await reconciler.reconcile(NS)
        assert third is not None and third <= FIRST_RETRY_SECONDS * (1 + JITTER)  # a completed pass reset the count
        assert cluster.finalizers("cmp-0") == ["someone.else/keep"]
        assert await _pass(cluster, reconciler) is None
        assert cluster.finalizers("cmp-0") == ["someone.else/keep", cleanup_finalizer(NS)]
    _run(scenario, catalog)


def test_without_its_osdpl_a_namespace_lets_go_of_node_and_request_finalizers(catalog: Catalog) -> None:
    async def scenario(cluster: FakeCluster, reconciler: NodeReconciler, clock: Clock) -> None:
        cluster.add_osdpl()
        _compute_node(cluster, "cmp-0")
        cluster.add_request("first", "cmp-0")
        await _pass(cluster, reconciler)
        assert cluster.finalizers("cmp-0") == [cleanup_finalizer(NS)]
        del cluster.osdpls[NS]
        cluster.requests[NS, "first"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        assert await _pass(cluster, reconciler) is None
        assert cluster.finalizers("cmp-0") == [] and (NS, "first") not in cluster.requests
    _run(scenario, catalog)


def test_a_node_event_schedules_the_deployments_and_watched_namespaces_of_its_finalizers(catalog: Catalog) -> None:
    async def scenario(cluster: FakeCluster, reconciler: NodeReconciler, clock: Clock) -> None:
        cluster.add_osdpl()
        cluster.sync()
        cluster.add_node("n", {}, (cleanup_finalizer("gone"), cleanup_finalizer("elsewhere"), "other/finalizer"))
        reconciler.node_changed(node_view(cluster.nodes["n"]))
        assert reconciler.queue.pending() == {NS, "gone"}  # "elsewhere" is another installation's
        reconciler.pod_changed({"metadata": {"namespace": "x", "labels": {}}, "spec": {}})  # no DaemonSet pod
        reconciler.request_changed("requests", "uid-a", deleted=True)
        assert reconciler.queue.pending() == {NS, "gone", "requests"}
    _run(scenario, catalog, namespaces=(NS, "gone", "requests"))


def test_the_namespace_holder_is_served_whatever_order_the_index_holds_the_osdpls_in(catalog: Catalog) -> None:
    async def scenario(cluster: FakeCluster, reconciler: NodeReconciler, clock: Clock) -> None:
        cluster.add_osdpl()
        cluster.add_osdpl(name="intruder", created="2026-02-01T00:00:00Z")  # indexed first, refused by the claim
        _compute_node(cluster, "cmp-0")
        cluster.claims[NS] = "cloud"
        await _pass(cluster, reconciler)
        assert cluster.live["osdpls"][NS][0]["metadata"]["name"] == "intruder"
        assert cluster.nodes_status()["compute"] == 1 and cluster.other_patches == []
        # Without a claim (before the osdpl process wrote one) the oldest: still not the first indexed.
        del cluster.claims[NS]
        cluster.osdpls[NS]["status"] = {}
        reconciler.written.clear()
        await _pass(cluster, reconciler)
        assert cluster.nodes_status()["compute"] == 1 and cluster.other_patches == []
        # The claim decides, whatever the age: the intruder once it holds the namespace.
        cluster.claims[NS] = "intruder"
        await _pass(cluster, reconciler)
        assert cluster.other_patches == ["intruder"]
    _run(scenario, catalog)


def test_finalizers_of_a_namespace_taken_off_the_watch_list_go_and_another_installations_stay(
        catalog: Catalog) -> None:
    async def scenario(cluster: FakeCluster, reconciler: NodeReconciler, clock: Clock) -> None:
        cluster.add_osdpl()
        kept = ("someone.else/keep", cleanup_finalizer("theirs"), cleanup_finalizer("legacy"))
        _compute_node(cluster, "cmp-0", (*kept, cleanup_finalizer("dropped"), cleanup_finalizer(NS)))
        cluster.nodes["cmp-0"]["metadata"]["annotations"] = {CLEANUP_OWNERS_ANNOTATION: json.dumps(
            {"dropped": "default", "theirs": "other-installation", NS: "default"})}
        cluster.sync()
        # At start the initial listing hands every Node over: the dropped namespace is looked at, no other.
        reconciler.node_changed(node_view(cluster.nodes["cmp-0"]))
        assert reconciler.queue.pending() == {NS, "dropped"}
        assert await _pass_over(cluster, reconciler, "dropped") is None
        assert cluster.finalizers("cmp-0") == [*kept, cleanup_finalizer(NS)]
        assert cluster.owners("cmp-0") == {"theirs": "other-installation", NS: "default"}
        assert "dropped" not in cluster.claims_read  # not watched: not read
    _run(scenario, catalog, namespaces=(NS,))


def test_a_cleanup_finalizer_is_recorded_as_this_installations_one_added_before_too(catalog: Catalog) -> None:
    async def scenario(cluster: FakeCluster, reconciler: NodeReconciler, clock: Clock) -> None:
        cluster.add_osdpl()
        _compute_node(cluster, "cmp-0")
        cluster.add_node("cmp-1", COMPUTE, (cleanup_finalizer(NS),))  # from before the record
        await _pass(cluster, reconciler)
        assert cluster.owners("cmp-0") == cluster.owners("cmp-1") == {NS: "default"}
        assert cluster.finalizers("cmp-1") == [cleanup_finalizer(NS)]
        del cluster.osdpls[NS]
        await _pass(cluster, reconciler)
        assert cluster.finalizers("cmp-0") == [] and cluster.owners("cmp-0") == {}
    _run(scenario, catalog)


async def _pass_over(cluster: FakeCluster, reconciler: NodeReconciler, namespace: str) -> float | None:
    cluster.sync()
    return await reconciler.reconcile(namespace)
