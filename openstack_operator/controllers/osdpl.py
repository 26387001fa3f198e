"""osdpl process, its Kopf wiring: OpenStackDeployment events and the events of their HelmBundles reach the
reconciler (reconcilers.osdpl, where the logic and its description are), built at start-up with its gateway to the
cluster (kube.gateways.osdpl)."""

from __future__ import annotations

from typing import Any, Mapping

import kopf

from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.releases.bundles import OSDPL_LABEL, SERVICE_LABEL
from openstack_operator.kube.gateways.osdpl import OsdplGateway
from openstack_operator.kube.objects import watched_bundle
from openstack_operator.kube.process import Process, Runtime
from openstack_operator.reconcilers.osdpl import OsdplReconciler


def build(runtime: Runtime, settings: kopf.OperatorSettings) -> OsdplReconciler:
    # Only the values Secrets (the API server filters): one deleted by hand is written again at once.
    settings.watching.label_selectors["", "v1", "secrets"] = f"{OSDPL_LABEL},{SERVICE_LABEL}"
    return OsdplReconciler(runtime, OsdplGateway(runtime.catalog))


PROCESS = Process("osdpl", build)


@kopf.on.event(GROUP, VERSION, "openstackdeployments", registry=PROCESS.registry)
async def osdpl_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    PROCESS.controller(memo).observe_osdpl(event.get("type"), event["object"])


@kopf.on.event(GROUP, VERSION, "helmbundles", labels={OSDPL_LABEL: kopf.PRESENT}, registry=PROCESS.registry)
async def bundle_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    PROCESS.controller(memo).observe_bundle(watched_bundle(event["object"]))


@kopf.on.event("", "v1", "secrets", labels={OSDPL_LABEL: kopf.PRESENT, SERVICE_LABEL: kopf.PRESENT},
               registry=PROCESS.registry)
async def values_secret_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    metadata = event["object"]["metadata"]
    PROCESS.controller(memo).observe_values_secret(event.get("type"), metadata["namespace"],
                                                   (metadata.get("labels") or {}).get(OSDPL_LABEL, ""))
