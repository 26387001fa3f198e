"""health process: the Kopf wiring. The watched workloads (labelled `application` and `component`, the selector
applied by the API server) are kept in Kopf indexes as the reconciler's projections; their events and the osdpls'
are handed to reconcilers.health.HealthReconciler, which writes `status.health` on the osdpls."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import kopf

from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.health.workloads import Workload
from openstack_operator.kube.gateways.health import HealthGateway
from openstack_operator.kube.process import Process, Runtime
from openstack_operator.reconcilers.health import LABEL_SELECTOR, RESOURCES, HealthReconciler


def build(runtime: Runtime, settings: kopf.OperatorSettings) -> HealthReconciler:
    for group, version, plural in RESOURCES.values():
        settings.watching.label_selectors[group, version, plural] = LABEL_SELECTOR
    return HealthReconciler(runtime, HealthGateway())


PROCESS = Process("health", build)


def _index_name(plural: str) -> str:
    return f"{plural}_index"


def _indexes(handler_kwargs: Mapping[str, Any]) -> list[Mapping[str, Iterable[Workload]]]:
    """Kopf hands its (live) indexes to handlers only, as keyword arguments named by the indexes' ids."""
    return [handler_kwargs[_index_name(plural)] for _, _, plural in RESOURCES.values()]


def _register(group: str, version: str, plural: str) -> None:
    # Async: run on the event loop, as every use of the reconciler's state (kube.process, the threading rule).
    @kopf.index(group, version, plural, id=_index_name(plural), registry=PROCESS.registry)
    async def index(body: kopf.Body, memo: kopf.Memo, **_: Any) -> dict[str, Workload]:
        return PROCESS.controller(memo).index_entry(body)

    # Kopf calls event handlers only once every index has its initial listing: no check sees a partial picture.
    @kopf.on.event(group, version, plural, id=f"{plural}_event", registry=PROCESS.registry)
    async def changed(body: kopf.Body, event: Mapping[str, Any], memo: kopf.Memo, **kwargs: Any) -> None:
        health = PROCESS.controller(memo)
        health.use_indexes(_indexes(kwargs))
        health.workload_event(event.get("type"), body)


for _group, _version, _plural in RESOURCES.values():
    _register(_group, _version, _plural)


@kopf.on.event(GROUP, VERSION, "openstackdeployments", registry=PROCESS.registry)
async def osdpl_event(event: Mapping[str, Any], memo: kopf.Memo, **kwargs: Any) -> None:
    health = PROCESS.controller(memo)
    health.use_indexes(_indexes(kwargs))
    health.observe_osdpl(event.get("type"), event["object"])
