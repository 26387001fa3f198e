"""node process: the nodes of each deployment (inventory on `status.nodes`), the cleanup of deleted nodes, and
NodeMaintenanceRequests.

Nodes, the DaemonSet pods of the deployment namespaces (label `application`), the node Jobs, the maintenance
requests and the osdpls are kept in Kopf indexes (controllers.node); Kopf calls the event handlers only once every
index holds its initial listing, so no pass sees a partial picture (a restarted process never takes a node for
role-less). Any event schedules its namespace on a coalescing work queue; a pass acts for the namespace's holder
only (the osdpl its claim names, core.releases.bundles.served_osdpl: one deployment per namespace) and works out
everything from the indexes (core.nodes.inventory, core.nodes.removal, core.nodes.maintenance) and writes only what
differs, through the gateway (NodeCluster). All state lives in the cluster (finalizers, Jobs, the requests' and
osdpl's status), so a restart resumes every state machine where it was.

Everything here runs on Kopf's event loop, which alone changes the indexes: a pass reads them live, with no copy and
no lock (kube.process, the threading rule).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping, Protocol, TypeVar

from openstack_operator.core.models.osdpl_status import NODE, RolloutView, SectionPatch, section_patch
from openstack_operator.core.models.owner import owner_reference
from openstack_operator.core.apigroup import GROUP
from openstack_operator.core.errors import Conflict
from openstack_operator.core.nodes.inventory import (MAX_REMOVED, HostEntry, NodeView, PodView, cleanup_finalizer,
                                                     finalizer_namespace, host_status, inventory, not_ready_for_long,
                                                     ours_to_let_go, parse_time, pod_view, registering, summary,
                                                     with_cleanup, without_cleanup)
from openstack_operator.core.nodes.jobs import CLEANUP, JobView, client_image, job_manifest, script
from openstack_operator.core.nodes.maintenance import HOLDING, Request, Step, plan, request_of
from openstack_operator.core.nodes.removal import Removal, plan_removals
from openstack_operator.core.releases.bundles import served_osdpl
from openstack_operator.core.status.merge import status_patch
from openstack_operator.kube.process import Runtime

log = logging.getLogger("osop.node")
REQUEST_FINALIZER = f"node.{GROUP}/maintenance"  # the request stays until what it disabled is enabled again
DEBOUNCE_SECONDS = 0.5  # a burst of pod events (a DaemonSet rolling) costs one pass
WORKERS = 2
NOT_READY_REPORT_SECONDS = 300.0  # features.node_lifecycle.not_ready_report_seconds when the spec does not say

T = TypeVar("T")


class NodeCluster(Protocol):
    """The writes of the node process (kube.gateways.node). A write from a stale view raises core.errors.Conflict."""

    async def set_node_finalizers(self, name: str, resource_version: str, finalizers: list[str],
                                  owners: Mapping[str, str]) -> None:
        """The Node's finalizers and the record of which installation added each cleanup finalizer
        (core.nodes.inventory.CLEANUP_OWNERS_ANNOTATION)."""

    async def claim_holder(self, namespace: str) -> str | None:
        """The osdpl the namespace's claim names (the osdpl process writes it), None without a claim."""

    async def set_request_finalizers(self, body: Mapping[str, Any], finalizers: list[str]) -> dict[str, Any]: ...

    async def create_job(self, manifest: Mapping[str, Any]) -> bool: ...

    async def delete_job(self, namespace: str, name: str) -> None: ...

    async def patch_request_status(self, namespace: str, name: str, patch: Mapping[str, Any]) \
        -> dict[str, Any] | None: ...

    async def patch_osdpl_status(self, namespace: str, name: str, patch: SectionPatch) -> bool:
        """Merge-patch the node section of the osdpl's status (core.models.osdpl_status.section_patch); False if
        the osdpl is gone."""

    async def post_event(self, involved: Mapping[str, Any], kind: str, reason: str, message: str) -> None: ...


@dataclass(frozen=True)
class Indexes:
    """Kopf's live indexes (controllers.node), each key to the values indexed under it."""
    nodes: Mapping[str, Iterable[NodeView]]  # by node name
    pods: Mapping[str, Iterable[PodView]]  # by namespace: its DaemonSet pods
    jobs: Mapping[str, Iterable[tuple[str, JobView]]]  # by namespace: (name, view) of its node Jobs
    requests: Mapping[str, Iterable[Mapping[str, Any]]]  # by namespace: its NodeMaintenanceRequests
    osdpls: Mapping[str, Iterable[Mapping[str, Any]]]  # by namespace: its osdpls (in no useful order)


NO_INDEXES = Indexes({}, {}, {}, {}, {})


def _in(index: Mapping[str, Iterable[T]], key: str) -> list[T]:
    return list(index.get(key, ()))


class NodeReconciler:
    def __init__(self, runtime: Runtime, cluster: NodeCluster, clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.cluster = cluster
        self.clock = clock
        # Which installation this is, on the Nodes' record of the cleanup finalizers it added: its chart's
        # namespace (each installation has its own), else one name for a single installation without election.
        self.installation = runtime.settings.leader_election_namespace or "default"
        self.retry_after = runtime.settings.node_job_retry_seconds  # a failed Job is run again this long after
        self.script = ""  # the Jobs' script, read at start
        self.indexes = NO_INDEXES
        # What this process wrote last is newer than an index that may lag it (it alone writes these):
        self.written: dict[str, tuple[str, Mapping[str, Any]]] = {}  # per namespace: (osdpl, its status.nodes)
        self.request_status: dict[str, Mapping[str, Any]] = {}  # per request uid: its status
        self.created: dict[str, set[str]] = {}  # per namespace: Jobs created that the index may not show yet
        self.conflicts: dict[str, int] = {}  # per namespace: passes in a row that ended in a conflict
        self.queue = runtime.queue(self.reconcile, WORKERS, lambda namespace: f"namespace {namespace}: nodes")

    async def start(self) -> None:
        self.script = await asyncio.to_thread(script, self.runtime.catalog.templates_dir)

    async def stop(self) -> None:
        self.queue.close()

    def use_indexes(self, indexes: Indexes) -> None:
        """Kopf's indexes, as the first handler call hands them (the same live objects every time)."""
        if self.indexes is NO_INDEXES:
            self.indexes = indexes

    def watched_nodes(self) -> int:
        return len(self.indexes.nodes)

    # -- events

    def schedule(self, namespace: str) -> None:
        self.queue.add(namespace, DEBOUNCE_SECONDS)

    def schedule_all(self) -> None:
        for namespace in self.indexes.osdpls:
            self.schedule(namespace)

    def node_changed(self, node: NodeView) -> None:
        """Every deployment may run something there; a namespace whose finalizer the node holds, too (its osdpl
        may be gone, or the namespace taken off the watch list: the finalizer must go). The initial listing
        brings every Node here, so at start every such finalizer is looked at."""
        self.schedule_all()
        for finalizer in node.finalizers:
            namespace = finalizer_namespace(finalizer)
            # another installation's namespace is not this one's to let go of
            if namespace and ours_to_let_go(node, namespace, self.installation, self.runtime.settings.namespaces):
                self.schedule(namespace)

    def watches(self, namespace: str) -> bool:
        return not self.runtime.settings.namespaces or namespace in self.runtime.settings.namespaces

    def pod_changed(self, body: Mapping[str, Any]) -> None:
        view = pod_view(body)
        if view:
            self.schedule(view.namespace)

    def request_changed(self, namespace: str, uid: str, deleted: bool) -> None:
        if deleted:
            self.request_status.pop(uid, None)
        self.schedule(namespace)

    # -- a pass over one namespace

    async def reconcile(self, namespace: str) -> float | None:
        """One pass (the work queue's work); seconds until the next one is due without an event, or None."""
        try:
            again = await self._pass(namespace)
        except Conflict as error:
            # An object changed since its index entry was read (often by this process a moment ago): once the
            # watch delivered it (its event schedules the namespace sooner), the pass is done again.
            attempts = self.conflicts[namespace] = self.conflicts.get(namespace, 0) + 1
            log.debug("namespace %s: nodes: %s, again in a moment (conflict %d in a row)", namespace, error, attempts)
            return self.runtime.retry_delay(attempts)
        self.conflicts.pop(namespace, None)
        return again

    async def _pass(self, namespace: str) -> float | None:
        nodes = self._nodes()
        # The namespace's holder (core.releases.bundles.served_osdpl), whatever order the index holds its osdpls
        # in; a namespace no longer watched has none (and its claim may not be read).
        osdpl = served_osdpl(_in(self.indexes.osdpls, namespace), await self.cluster.claim_holder(namespace)) \
            if self.watches(namespace) else None
        if osdpl is None or osdpl["metadata"].get("deletionTimestamp"):
            await self._let_go(namespace, nodes)
            self.written.pop(namespace, None)
            return None
        spec = osdpl.get("spec") or {}
        hosts = inventory(nodes, _in(self.indexes.pods, namespace), spec.get("nodes") or {})
        jobs = self._jobs(namespace)
        now = self.clock()
        await self._add_finalizers(namespace, nodes, hosts)
        # This process alone writes status.nodes: what it wrote last is newer than an index that may lag it.
        name, written = self.written.get(namespace, ("", {}))
        previous = written if name == osdpl["metadata"]["name"] else (osdpl.get("status") or {}).get("nodes") or {}
        removals = plan_removals(cleanup_finalizer(namespace), nodes, jobs, previous.get("removals") or {}, now,
                                 self.retry_after)
        for removal in removals:
            await self._carry_out_removal(namespace, osdpl, removal)
        requests = [self._request(b) for b in _in(self.indexes.requests, namespace)]
        steps = plan(requests, hosts, {n.name for n in nodes}, jobs, _policy(spec, hosts), _caps(spec), now,
                     self.retry_after)
        for request in requests:
            await self._carry_out_step(namespace, osdpl, request, steps[request.name])
        threshold = float((spec.get("features") or {}).get("node_lifecycle", {}).get(
            "not_ready_report_seconds", NOT_READY_REPORT_SECONDS))
        fields = _inventory_status(hosts, removals, steps, requests, previous, now, threshold)
        await self._report_not_ready(osdpl, previous, fields)
        await self._write_osdpl(namespace, osdpl, previous, fields)
        rechecks = [r.recheck for r in removals] + [s.recheck for s in steps.values()] + \
            [_not_ready_crossing(hosts, now, threshold)]
        return min((t for t in rechecks if t is not None), default=None)

    def _nodes(self) -> list[NodeView]:
        return [view for store in self.indexes.nodes.values() for view in store]

    def _jobs(self, namespace: str) -> dict[str, JobView]:
        """The namespace's node Jobs; one created moments ago that the index does not hold yet counts as Running
        (so it is neither created twice nor taken for ended)."""
        jobs = dict(_in(self.indexes.jobs, namespace))
        created = self.created.setdefault(namespace, set())
        created -= jobs.keys()
        return {**{name: JobView("Running", "") for name in created}, **jobs}

    def _request(self, body: Mapping[str, Any]) -> Request:
        request = request_of(body)
        written = self.request_status.get(request.uid)
        return replace(request, status=dict(written)) if written is not None else request

    def _image(self, osdpl: Mapping[str, Any]) -> str:
        spec = osdpl["spec"]
        version = RolloutView.of(osdpl.get("status") or {}).openstack_version or spec["openstack_version"]
        return client_image(self.runtime.catalog, version,
                            (spec.get("artifacts") or {}).get("images_base_url", "").rstrip("/"))

    # -- finalizers of the Nodes, and the Jobs

    async def _add_finalizers(self, namespace: str, nodes: list[NodeView], hosts: Mapping[str, HostEntry]) -> None:
        finalizer = cleanup_finalizer(namespace)
        for node in nodes:
            # One added before installations were recorded gets its record (it is this installation's namespace).
            unrecorded = finalizer in node.finalizers and namespace not in node.cleanup_owners
            if not node.deleting and (unrecorded or finalizer not in node.finalizers and
                                      registering(hosts.get(node.name))):
                await self.cluster.set_node_finalizers(node.name, node.resource_version,
                                                       *with_cleanup(node, namespace, self.installation))
                log.info("node %s: cleanup finalizer for %s %s", node.name, namespace,
                         "recorded" if unrecorded else "added (it runs OpenStack services)")

    async def _let_go(self, namespace: str, nodes: list[NodeView]) -> None:
        """No deployment (any more) in the namespace, or the namespace no longer watched: no OpenStack to clean up
        or prepare for (a namespace another installation watches is left to it)."""
        finalizer = cleanup_finalizer(namespace)
        for node in nodes:
            if finalizer in node.finalizers and \
                    ours_to_let_go(node, namespace, self.installation, self.runtime.settings.namespaces):
                await self.cluster.set_node_finalizers(node.name, node.resource_version,
                                                       *without_cleanup(node, namespace))
                log.info("node %s: cleanup finalizer for %s removed (%s)", node.name, namespace,
                         "no deployment there" if self.watches(namespace) else "the namespace is no longer watched")
        for body in _in(self.indexes.requests, namespace):
            await self._release_request(body)

    async def _replace_job(self, namespace: str, delete: str | None, create: dict[str, Any] | None) -> str | None:
        """Delete Job `delete` (a failed one, to be run again) and create `create`; the name of the Job created now
        (None: none, or it existed already)."""
        if delete:
            await self.cluster.delete_job(namespace, delete)
            self.created.get(namespace, set()).discard(delete)
        if create is None:
            return None
        name: str = create["metadata"]["name"]
        created = await self.cluster.create_job(create)
        self.created.setdefault(namespace, set()).add(name)
        return name if created else None

    def _job_manifest(self, namespace: str, osdpl: Mapping[str, Any], action: str, node: str, uid: str,
                      roles: list[str]) -> dict[str, Any]:
        return job_manifest(namespace=namespace, action=action, node=node, uid=uid, roles=roles,
                            instance_ha=self._runs_instance_ha(osdpl["spec"]), image=self._image(osdpl),
                            script_text=self.script, owner=owner_reference(osdpl))

    def _runs_instance_ha(self, spec: Mapping[str, Any]) -> bool:
        return "instance-ha" in self.runtime.catalog.enabled_services(
            spec.get("preset", ""), (spec.get("features") or {}).get("services", []))

    async def _carry_out_removal(self, namespace: str, osdpl: Mapping[str, Any], removal: Removal) -> None:
        node = next(n for n in self._nodes() if n.name == removal.node)
        manifest = self._job_manifest(namespace, osdpl, CLEANUP, node.name, node.uid, []) \
            if removal.create_job else None
        if created := await self._replace_job(namespace, removal.delete_job, manifest):
            log.info("node %s: cleanup Job %s created in %s", node.name, created, namespace)
        if removal.release:
            await self.cluster.set_node_finalizers(node.name, node.resource_version,
                                                   *without_cleanup(node, namespace))
            log.info("node %s: %s in %s; its finalizer removed", node.name, removal.result, namespace)
        for kind, reason, message in removal.events:
            await self.cluster.post_event(osdpl, kind, reason, message)

    # -- maintenance requests

    async def _carry_out_step(self, namespace: str, osdpl: Mapping[str, Any], request: Request, step: Step) -> None:
        body = next(b for b in _in(self.indexes.requests, namespace) if b["metadata"]["name"] == request.name)
        finalizers = body["metadata"].get("finalizers") or []
        if not request.deleting and REQUEST_FINALIZER not in finalizers:
            body = await self.cluster.set_request_finalizers(body, [*finalizers, REQUEST_FINALIZER])
        manifest = self._job_manifest(namespace, osdpl, step.create_job, request.node, request.uid,
                                      step.status.get("acts_on", [])) if step.create_job else None
        if created := await self._replace_job(namespace, step.delete_job, manifest):
            log.info("maintenance %s/%s: Job %s created", namespace, request.name, created)
        written = await self._write_request_status(namespace, request, step, body)
        if written is None:
            return  # the request is gone
        body = written
        for kind, reason, message in step.events:
            await self.cluster.post_event(body, kind, reason, message)
            await self.cluster.post_event(osdpl, kind, reason, message)
        if step.release:
            await self._release_request(body)
            self.request_status.pop(request.uid, None)

    async def _write_request_status(self, namespace: str, request: Request, step: Step,
                                    body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Make the request's status the step's; the request as stored then (`body` if nothing changed), None if
        it is gone."""
        patch = status_patch(request.status, step.status)
        if not patch:
            return body
        stored = await self.cluster.patch_request_status(namespace, request.name, patch)
        if stored is None:
            self.request_status.pop(request.uid, None)
            return None
        self.request_status[request.uid] = step.status
        if patch.get("phase"):
            log.info("maintenance %s/%s of node %s: %s", namespace, request.name, request.node, patch["phase"])
        return stored

    async def _release_request(self, body: Mapping[str, Any]) -> None:
        finalizers = body["metadata"].get("finalizers") or []
        if REQUEST_FINALIZER in finalizers and body["metadata"].get("deletionTimestamp"):
            await self.cluster.set_request_finalizers(body, [f for f in finalizers if f != REQUEST_FINALIZER])

    # -- status.nodes

    async def _report_not_ready(self, osdpl: Mapping[str, Any], previous: Mapping[str, Any],
                                fields: Mapping[str, Any]) -> None:
        for name in sorted(set(fields["not_ready"]) - set(previous.get("not_ready") or [])):
            since = fields["hosts"][name].get("not_ready_since", "")
            log.warning("node %s is NotReady since %s: reported, nothing cleaned up", name, since)
            await self.cluster.post_event(osdpl, "Warning", "NodeNotReady",
                                          f"node {name} ({', '.join(fields['hosts'][name]['roles'])}) is NotReady "
                                          f"since {since}; nothing is cleaned up until its Node is deleted")

    async def _write_osdpl(self, namespace: str, osdpl: Mapping[str, Any], previous: Mapping[str, Any],
                           fields: dict[str, Any]) -> None:
        patch = section_patch(NODE, {"nodes": previous}, {"nodes": fields})
        if not patch:
            return
        if not await self.cluster.patch_osdpl_status(namespace, osdpl["metadata"]["name"], patch):
            return  # the osdpl is gone
        self.written[namespace] = (osdpl["metadata"]["name"], fields)
        log.info("osdpl %s/%s: nodes: %s", namespace, osdpl["metadata"]["name"], fields["summary"])


def _policy(spec: Mapping[str, Any], hosts: Mapping[str, HostEntry]) -> Callable[[str], str]:
    default = ((spec.get("features") or {}).get("nova") or {}).get("maintenance_policy", "migrate")
    groups = spec.get("nodes") or {}

    def policy_of(node: str) -> str:
        for group in hosts[node].groups if node in hosts else []:  # the first group (key order) that sets it
            chosen = ((groups[group].get("features") or {}).get("nova") or {}).get("maintenance_policy")
            if chosen:
                return str(chosen)
        return str(default)
    return policy_of


def _caps(spec: Mapping[str, Any]) -> dict[str, int]:
    caps = ((spec.get("features") or {}).get("node_lifecycle") or {}).get("max_in_maintenance") or {}
    return {role: int(caps.get(role.replace("-", "_"), 1)) for role in ("compute", "network", "control-plane")}


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


def _not_ready_crossing(hosts: Mapping[str, HostEntry], now: float, threshold: float) -> float | None:
    """Seconds until the next NotReady node passes the threshold (it is reported then, with no event)."""
    waits = [threshold - (now - since) for entry in hosts.values() if not entry.ready and entry.not_ready_since
             for since in [parse_time(entry.not_ready_since)] if since is not None and now - since < threshold]
    return min(waits) + 0.5 if waits else None
