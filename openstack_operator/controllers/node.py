"""node process: the nodes of each deployment (inventory on `status.nodes`), the cleanup of deleted nodes, and
NodeMaintenanceRequests.

Nodes, the DaemonSet pods of the deployment namespaces (label `application`), the node Jobs, the maintenance
requests and the osdpls are kept in Kopf indexes; Kopf calls the event handlers only once every index holds its
initial listing, so no pass sees a partial picture (a restarted process never takes a node for role-less). Any event
schedules its namespace (one osdpl per namespace) on a coalescing work queue; a pass works out everything from the
indexes (core.nodes.inventory, core.nodes.removal, core.nodes.maintenance) and writes only what differs. All state lives in the cluster
(finalizers, Jobs, the requests' and osdpl's status), so a restart resumes every state machine where it was.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import replace
from typing import Any, Iterable, Mapping

import kopf
from pykube.exceptions import HTTPError

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.nodes.maintenance import HOLDING, Request, Step, plan, request_of
from openstack_operator.core.nodes.jobs import (ACTION_LABEL, CLEANUP, JobView, client_image, job_manifest,
                                               job_view, script)
from openstack_operator.core.nodes.inventory import (CLEANUP_FINALIZER_PREFIX, MAX_REMOVED, HostEntry, NodeView, PodView,
                                           cleanup_finalizer, host_status, inventory, node_view, not_ready_for_long,
                                           parse_time, pod_view, registering, summary)
from openstack_operator.core.nodes.removal import Removal, plan_removals
from openstack_operator.core.status.conditions import status_patch
from openstack_operator.core.runtime.workqueue import WorkQueue
from openstack_operator.kube import metrics
from openstack_operator.kube.client import NodeMaintenanceRequest, OpenStackDeployment, owner_reference
from openstack_operator.kube.events import post_event
from openstack_operator.kube.nodes import create_job, delete_job, set_node_finalizers
from openstack_operator.kube.objects import CONFLICT, NOT_FOUND, patch_status, set_finalizers
from openstack_operator.kube.operator import new_registry, watched_namespaces

log = logging.getLogger("osop.node")
REGISTRY = new_registry("node")
REQUEST_FINALIZER = f"node.{GROUP}/maintenance"  # the request stays until what it disabled is enabled again
# A failed Job is deleted and run again this long after it ended.
RETRY_SECONDS = float(os.environ.get("OSOP_NODE_JOB_RETRY_SECONDS", "300"))
DEBOUNCE_SECONDS = 0.5  # a burst of pod events (a DaemonSet rolling) costs one pass
WORKERS = 2
CONFLICT_RETRY_SECONDS = 1.0


def _osdpl_of(store: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return next(iter(store), None)


class NodeController:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.script = script(catalog.templates_dir)
        self.indexes: dict[str, Mapping[str, Any]] = {}  # Kopf's live indexes, by name
        # What this process wrote last is newer than an index that may lag it (it alone writes these):
        self.written: dict[str, Mapping[str, Any]] = {}  # per namespace: status.nodes
        self.request_status: dict[str, Mapping[str, Any]] = {}  # per request uid: its status
        self.created: dict[str, set[str]] = {}  # per namespace: Jobs created that the index may not show yet
        self.queue: WorkQueue[str] = WorkQueue(self._work, WORKERS, self._log_error,
                                               metrics.reconcile_observer("node"))
        metrics.watch_queue("node", self.queue)
        metrics.count_watched("node", "nodes", lambda: len(self.indexes.get("nodes_index", {})))

    @staticmethod
    def _log_error(namespace: str, error: BaseException) -> None:
        log.error("namespace %s: nodes: %s: %s", namespace, type(error).__name__, error)

    def schedule(self, namespace: str) -> None:
        self.queue.add(namespace, DEBOUNCE_SECONDS)

    def schedule_all(self) -> None:
        for namespace in self.indexes.get("osdpls_index", {}):
            self.schedule(namespace)

    def node_changed(self, body: Mapping[str, Any]) -> None:
        """Every deployment may run something there; a namespace whose finalizer the node holds, too (its osdpl
        may be gone, and the finalizer must go with it)."""
        self.schedule_all()
        watched = watched_namespaces()
        for finalizer in body["metadata"].get("finalizers") or []:
            namespace = finalizer[len(CLEANUP_FINALIZER_PREFIX):]
            # another installation's namespace is not this one's to let go of
            if finalizer.startswith(CLEANUP_FINALIZER_PREFIX) and (not watched or namespace in watched):
                self.schedule(namespace)

    def _nodes(self) -> list[NodeView]:
        return [view for store in self.indexes.get("nodes_index", {}).values() for view in store]

    def _in(self, index: str, namespace: str) -> list[Any]:
        return list(self.indexes.get(index, {}).get(namespace, ()))

    async def _work(self, namespace: str) -> float | None:
        try:
            return await self._pass(namespace)
        except HTTPError as error:
            if error.code != CONFLICT:
                raise
            # An object changed since its index entry was read (often by this process a moment ago): once the
            # watch delivered it, the pass is done again.
            log.debug("namespace %s: nodes: conflict, again in a moment", namespace)
            return CONFLICT_RETRY_SECONDS

    async def _pass(self, namespace: str) -> float | None:
        osdpl = _osdpl_of(self._in("osdpls_index", namespace))
        nodes = self._nodes()
        if osdpl is None or osdpl["metadata"].get("deletionTimestamp"):
            await self._let_go(namespace, nodes)
            self.written.pop(namespace, None)
            return None
        spec = osdpl.get("spec") or {}
        status = osdpl.get("status") or {}
        pods: list[PodView] = self._in("pods_index", namespace)
        hosts = inventory(nodes, pods, spec.get("nodes") or {})
        jobs = self._jobs(namespace)
        now = time.time()
        await self._add_finalizers(namespace, nodes, hosts)
        # This process alone writes status.nodes: what it wrote last is newer than an index that may lag it.
        previous = self.written.get(namespace) or status.get("nodes") or {}
        removals = plan_removals(cleanup_finalizer(namespace), nodes, jobs, previous.get("removals") or {}, now,
                                 RETRY_SECONDS)
        recheck = [r.recheck for r in removals if r.recheck is not None]
        for removal in removals:
            await self._carry_out_removal(namespace, osdpl, removal)
        requests = [self._request(b) for b in self._in("requests_index", namespace)]
        steps = plan(requests, hosts, {n.name for n in nodes}, jobs, self._policy(spec, hosts), self._caps(spec),
                     now, RETRY_SECONDS)
        for request in requests:
            await self._carry_out_step(namespace, osdpl, request, steps[request.name])
        recheck += [step.recheck for step in steps.values() if step.recheck is not None]
        threshold = float((spec.get("features") or {}).get("node_lifecycle", {}).get("not_ready_report_seconds", 300))
        fields = self._inventory_status(hosts, removals, steps, requests, previous, now, threshold)
        await self._report_not_ready(osdpl, previous, fields)
        await self._write_osdpl(namespace, osdpl, {"nodes": previous}, {"nodes": fields})
        recheck += [t for t in (self._not_ready_crossing(hosts, now, threshold),) if t is not None]
        return min(recheck) if recheck else None

    @staticmethod
    def _policy(spec: Mapping[str, Any], hosts: Mapping[str, HostEntry]) -> Any:
        default = ((spec.get("features") or {}).get("nova") or {}).get("maintenance_policy", "migrate")
        groups = spec.get("nodes") or {}

        def policy_of(node: str) -> str:
            for group in hosts[node].groups if node in hosts else []:  # the first group (key order) that sets it
                chosen = ((groups[group].get("features") or {}).get("nova") or {}).get("maintenance_policy")
                if chosen:
                    return str(chosen)
            return str(default)
        return policy_of

    @staticmethod
    def _caps(spec: Mapping[str, Any]) -> dict[str, int]:
        caps = ((spec.get("features") or {}).get("node_lifecycle") or {}).get("max_in_maintenance") or {}
        return {role: int(caps.get(role.replace("-", "_"), 1)) for role in ("compute", "network", "control-plane")}

    def _jobs(self, namespace: str) -> dict[str, JobView]:
        """The namespace's node Jobs; one created moments ago that the index does not hold yet counts as Running
        (so it is neither created twice nor taken for ended)."""
        jobs: dict[str, JobView] = dict(self._in("jobs_index", namespace))
        created = self.created.setdefault(namespace, set())
        created -= jobs.keys()
        return {**{name: JobView("Running", "") for name in created}, **jobs}

    def _request(self, body: Mapping[str, Any]) -> Request:
        request = request_of(body)
        written = self.request_status.get(request.uid)
        return replace(request, status=dict(written)) if written is not None else request

    async def _add_finalizers(self, namespace: str, nodes: list[NodeView], hosts: Mapping[str, HostEntry]) -> None:
        finalizer = cleanup_finalizer(namespace)
        for node in nodes:
            if not node.deleting and finalizer not in node.finalizers and registering(hosts.get(node.name)):
                await asyncio.to_thread(set_node_finalizers, node.name, node.resource_version,
                                        [*node.finalizers, finalizer])
                log.info("node %s: cleanup finalizer for %s added (it runs OpenStack services)", node.name, namespace)

    async def _let_go(self, namespace: str, nodes: list[NodeView]) -> None:
        """No deployment (any more) in the namespace: no OpenStack to clean up or prepare for."""
        finalizer = cleanup_finalizer(namespace)
        for node in nodes:
            if finalizer in node.finalizers:
                await asyncio.to_thread(set_node_finalizers, node.name, node.resource_version,
                                        [f for f in node.finalizers if f != finalizer])
        for body in self._in("requests_index", namespace):
            await self._release_request(body)

    async def _carry_out_removal(self, namespace: str, osdpl: Mapping[str, Any], removal: Removal) -> None:
        node = next(n for n in self._nodes() if n.name == removal.node)
        if removal.delete_job:
            await asyncio.to_thread(delete_job, namespace, removal.delete_job)
            self.created.get(namespace, set()).discard(removal.delete_job)
        if removal.create_job:
            manifest = job_manifest(namespace=namespace, action=CLEANUP, node=node.name, uid=node.uid, roles=[],
                                    image=self._image(osdpl), script_text=self.script,
                                    owner=owner_reference(osdpl))
            if await asyncio.to_thread(create_job, manifest):
                log.info("node %s: cleanup Job %s created in %s", node.name, manifest["metadata"]["name"], namespace)
            self.created.setdefault(namespace, set()).add(manifest["metadata"]["name"])
        if removal.release:
            await asyncio.to_thread(set_node_finalizers, node.name, node.resource_version,
                                    [f for f in node.finalizers if f != cleanup_finalizer(namespace)])
            log.info("node %s: %s in %s; its finalizer removed", node.name, removal.result, namespace)
        for kind, reason, message in removal.events:
            await asyncio.to_thread(post_event, osdpl, kind, reason, message)

    def _image(self, osdpl: Mapping[str, Any]) -> str:
        spec = osdpl["spec"]
        version = (osdpl.get("status") or {}).get("openstack_version") or spec["openstack_version"]
        return client_image(self.catalog, version, (spec.get("artifacts") or {}).get("images_base_url", "").rstrip("/"))

    async def _carry_out_step(self, namespace: str, osdpl: Mapping[str, Any], request: Request, step: Step) -> None:
        body = next(b for b in self._in("requests_index", namespace) if b["metadata"]["name"] == request.name)
        if not request.deleting and REQUEST_FINALIZER not in (body["metadata"].get("finalizers") or []):
            body = await asyncio.to_thread(set_finalizers, NodeMaintenanceRequest, body,
                                           [*(body["metadata"].get("finalizers") or []), REQUEST_FINALIZER])
        if step.delete_job:
            await asyncio.to_thread(delete_job, namespace, step.delete_job)
            self.created.get(namespace, set()).discard(step.delete_job)
        if step.create_job:
            manifest = job_manifest(namespace=namespace, action=step.create_job, node=request.node,
                                    uid=request.uid, roles=step.status.get("acts_on", []), image=self._image(osdpl),
                                    script_text=self.script, owner=owner_reference(osdpl))
            if await asyncio.to_thread(create_job, manifest):
                log.info("maintenance %s/%s: Job %s created", namespace, request.name, manifest["metadata"]["name"])
            self.created.setdefault(namespace, set()).add(manifest["metadata"]["name"])
        patch = status_patch(request.status, step.status)
        if patch:
            try:
                body = await asyncio.to_thread(patch_status, NodeMaintenanceRequest, namespace, request.name, patch)
            except HTTPError as error:
                if error.code != NOT_FOUND:
                    raise
                self.request_status.pop(request.uid, None)
                return
            self.request_status[request.uid] = step.status
            if patch.get("phase"):
                log.info("maintenance %s/%s of node %s: %s", namespace, request.name, request.node, patch["phase"])
        for kind, reason, message in step.events:
            await asyncio.to_thread(post_event, body, kind, reason, message)
            await asyncio.to_thread(post_event, osdpl, kind, reason, message)
        if step.release:
            await self._release_request(body)
            self.request_status.pop(request.uid, None)

    async def _release_request(self, body: Mapping[str, Any]) -> None:
        finalizers = body["metadata"].get("finalizers") or []
        if REQUEST_FINALIZER in finalizers and body["metadata"].get("deletionTimestamp"):
            await asyncio.to_thread(set_finalizers, NodeMaintenanceRequest, body,
                                    [f for f in finalizers if f != REQUEST_FINALIZER])

    @staticmethod
    def _inventory_status(hosts: Mapping[str, HostEntry], removals: list[Removal], steps: Mapping[str, Step],
                          requests: list[Request], previous: Mapping[str, Any], now: float,
                          threshold: float) -> dict[str, Any]:
        not_ready = sorted(name for name, entry in hosts.items() if not_ready_for_long(entry, now, threshold))
        maintenance = {r.node: steps[r.name].status.get("phase", "") for r in requests
                       if steps[r.name].status.get("phase") in HOLDING and not steps[r.name].release}
        removed = list(previous.get("removed") or [])
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        for removal in removals:
            if removal.release:
                removed.insert(0, {"node": removal.node, "result": removal.result, "at": stamp,
                                   "attempts": removal.state.get("attempts", 0)})
        return {
            "summary": summary(hosts, not_ready, maintenance),
            "compute": sum("compute" in e.roles for e in hosts.values()),
            "hosts": {name: host_status(entry) for name, entry in sorted(hosts.items())},
            "not_ready": not_ready,
            "maintenance": maintenance,
            "removals": {r.node: r.state for r in removals if not r.release},
            "removed": removed[:MAX_REMOVED],
        }

    @staticmethod
    def _not_ready_crossing(hosts: Mapping[str, HostEntry], now: float, threshold: float) -> float | None:
        """Seconds until the next NotReady node passes the threshold (it is reported then, with no event)."""
        waits = [threshold - (now - since) for entry in hosts.values() if not entry.ready and entry.not_ready_since
                 for since in [parse_time(entry.not_ready_since)] if since is not None and now - since < threshold]
        return min(waits) + 0.5 if waits else None

    @staticmethod
    async def _report_not_ready(osdpl: Mapping[str, Any], previous: Mapping[str, Any],
                                fields: Mapping[str, Any]) -> None:
        for name in sorted(set(fields["not_ready"]) - set(previous.get("not_ready") or [])):
            since = fields["hosts"][name].get("not_ready_since", "")
            log.warning("node %s is NotReady since %s: reported, nothing cleaned up", name, since)
            await asyncio.to_thread(post_event, osdpl, "Warning", "NodeNotReady",
                                    f"node {name} ({', '.join(fields['hosts'][name]['roles'])}) is NotReady since "
                                    f"{since}; nothing is cleaned up until its Node is deleted")

    async def _write_osdpl(self, namespace: str, osdpl: Mapping[str, Any], status: Mapping[str, Any],
                           fields: Mapping[str, Any]) -> None:
        patch = status_patch(status, fields)
        if not patch:
            return
        try:
            await asyncio.to_thread(patch_status, OpenStackDeployment, namespace, osdpl["metadata"]["name"], patch)
        except HTTPError as error:
            if error.code != NOT_FOUND:
                raise
            return
        self.written[namespace] = fields["nodes"]
        log.info("osdpl %s/%s: nodes: %s", namespace, osdpl["metadata"]["name"], fields["nodes"]["summary"])


_controller: NodeController | None = None


@kopf.on.startup(registry=REGISTRY)
def start(memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> None:
    global _controller
    _controller = NodeController(memo.catalog)
    settings.watching.label_selectors["", "v1", "pods"] = "application"
    settings.watching.label_selectors["batch", "v1", "jobs"] = ACTION_LABEL


@kopf.on.cleanup(registry=REGISTRY)
def stop(**_: Any) -> None:
    if _controller is not None:
        _controller.queue.close()


def _capture(kwargs: Mapping[str, Any]) -> NodeController:
    assert _controller is not None  # set at startup, before any watch starts
    if not _controller.indexes:
        _controller.indexes = {name: kwargs[name] for name in
                               ("nodes_index", "pods_index", "jobs_index", "requests_index", "osdpls_index")}
    return _controller


@kopf.index("", "v1", "nodes", id="nodes_index", registry=REGISTRY)
def nodes_index(body: kopf.Body, **_: Any) -> dict[str, NodeView]:
    return {body["metadata"]["name"]: node_view(body)}


@kopf.index("", "v1", "pods", id="pods_index", registry=REGISTRY)
def pods_index(body: kopf.Body, **_: Any) -> dict[str, PodView]:
    view = pod_view(body)
    return {view.namespace: view} if view else {}


@kopf.index("batch", "v1", "jobs", id="jobs_index", registry=REGISTRY)
def jobs_index(body: kopf.Body, **_: Any) -> dict[str, tuple[str, JobView]]:
    return {body["metadata"]["namespace"]: (body["metadata"]["name"], job_view(body))}


@kopf.index(GROUP, VERSION, "nodemaintenancerequests", id="requests_index", registry=REGISTRY)
def requests_index(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {body["metadata"]["namespace"]: {"apiVersion": body["apiVersion"], "kind": body["kind"],
                                            "metadata": dict(body["metadata"]), "spec": dict(body["spec"]),
                                            "status": dict(body.get("status") or {})}}


@kopf.index(GROUP, VERSION, "openstackdeployments", id="osdpls_index", registry=REGISTRY)
def osdpls_index(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {body["metadata"]["namespace"]: {"apiVersion": body["apiVersion"], "kind": body["kind"],
                                            "metadata": dict(body["metadata"]), "spec": dict(body["spec"]),
                                            "status": dict(body.get("status") or {})}}


@kopf.on.event("", "v1", "nodes", registry=REGISTRY)
async def node_event(body: kopf.Body, **kwargs: Any) -> None:
    _capture(kwargs).node_changed(body)


@kopf.on.event("", "v1", "pods", registry=REGISTRY)
async def pod_event(body: kopf.Body, **kwargs: Any) -> None:
    if pod_view(body):
        _capture(kwargs).schedule(body["metadata"]["namespace"])


@kopf.on.event("batch", "v1", "jobs", registry=REGISTRY)
async def job_event(body: kopf.Body, **kwargs: Any) -> None:
    _capture(kwargs).schedule(body["metadata"]["namespace"])


@kopf.on.event(GROUP, VERSION, "nodemaintenancerequests", registry=REGISTRY)
async def request_event(body: kopf.Body, event: Mapping[str, Any], **kwargs: Any) -> None:
    controller = _capture(kwargs)
    if event.get("type") == "DELETED":
        controller.request_status.pop(body["metadata"].get("uid", ""), None)
    controller.schedule(body["metadata"]["namespace"])


@kopf.on.event(GROUP, VERSION, "openstackdeployments", registry=REGISTRY)
async def osdpl_event(body: kopf.Body, **kwargs: Any) -> None:
    _capture(kwargs).schedule(body["metadata"]["namespace"])
