"""node process: Kopf's wiring of reconcilers.node (what it does and why is there). Indexes of the Nodes, the
DaemonSet pods of the deployment namespaces (label `application`), the node Jobs, the maintenance requests and the
osdpls; every event schedules the namespaces it concerns. Kopf calls the event handlers only once every index holds
its initial listing, so the reconciler never sees a partial picture.
"""

from __future__ import annotations

from typing import Any, Mapping

import kopf

from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.nodes.inventory import NodeView, PodView, node_view, pod_view
from openstack_operator.core.nodes.jobs import ACTION_LABEL, JobView, job_view
from openstack_operator.kube import metrics
from openstack_operator.kube.gateways.node import NodeGateway
from openstack_operator.kube.process import Process, Runtime
from openstack_operator.reconcilers.node import Indexes, NodeReconciler


def build(runtime: Runtime, settings: kopf.OperatorSettings) -> NodeReconciler:
    settings.watching.label_selectors["", "v1", "pods"] = "application"
    settings.watching.label_selectors["batch", "v1", "jobs"] = ACTION_LABEL
    reconciler = NodeReconciler(runtime, NodeGateway())
    metrics.count_watched(runtime.process, "nodes", reconciler.watched_nodes)
    return reconciler


PROCESS = Process("node", build)


def _reconciler(memo: kopf.Memo, kwargs: Mapping[str, Any]) -> NodeReconciler:
    """The reconciler, given Kopf's indexes (the same live objects in every handler call)."""
    reconciler = PROCESS.controller(memo)
    reconciler.use_indexes(Indexes(nodes=kwargs["nodes_index"], pods=kwargs["pods_index"],
                                   jobs=kwargs["jobs_index"], requests=kwargs["requests_index"],
                                   osdpls=kwargs["osdpls_index"]))
    return reconciler


def _copy(body: kopf.Body) -> dict[str, Any]:
    return {"apiVersion": body["apiVersion"], "kind": body["kind"], "metadata": dict(body["metadata"]),
            "spec": dict(body["spec"]), "status": dict(body.get("status") or {})}


@kopf.index("", "v1", "nodes", id="nodes_index", registry=PROCESS.registry)
def nodes_index(body: kopf.Body, **_: Any) -> dict[str, NodeView]:
    return {body["metadata"]["name"]: node_view(body)}


@kopf.index("", "v1", "pods", id="pods_index", registry=PROCESS.registry)
def pods_index(body: kopf.Body, **_: Any) -> dict[str, PodView]:
    view = pod_view(body)
    return {view.namespace: view} if view else {}


@kopf.index("batch", "v1", "jobs", id="jobs_index", registry=PROCESS.registry)
def jobs_index(body: kopf.Body, **_: Any) -> dict[str, tuple[str, JobView]]:
    return {body["metadata"]["namespace"]: (body["metadata"]["name"], job_view(body))}


@kopf.index(GROUP, VERSION, "nodemaintenancerequests", id="requests_index", registry=PROCESS.registry)
def requests_index(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {body["metadata"]["namespace"]: _copy(body)}


@kopf.index(GROUP, VERSION, "openstackdeployments", id="osdpls_index", registry=PROCESS.registry)
def osdpls_index(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {body["metadata"]["namespace"]: _copy(body)}


@kopf.on.event("", "v1", "nodes", registry=PROCESS.registry)
async def node_event(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _reconciler(memo, kwargs).node_changed(node_view(body))


@kopf.on.event("", "v1", "pods", registry=PROCESS.registry)
async def pod_event(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _reconciler(memo, kwargs).pod_changed(body)


@kopf.on.event("batch", "v1", "jobs", registry=PROCESS.registry)
async def job_event(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _reconciler(memo, kwargs).schedule(body["metadata"]["namespace"])


@kopf.on.event(GROUP, VERSION, "nodemaintenancerequests", registry=PROCESS.registry)
async def request_event(body: kopf.Body, event: Mapping[str, Any], memo: kopf.Memo, **kwargs: Any) -> None:
    _reconciler(memo, kwargs).request_changed(body["metadata"]["namespace"], body["metadata"].get("uid", ""),
                                              deleted=event.get("type") == "DELETED")


@kopf.on.event(GROUP, VERSION, "openstackdeployments", registry=PROCESS.registry)
async def osdpl_event(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _reconciler(memo, kwargs).schedule(body["metadata"]["namespace"])
