"""helmbundle process, its Kopf wiring: every HelmBundle event goes to the reconciler (reconcilers.helmbundle, where
the process is described), built at start-up with its gateway (kube.gateways.helmbundle) and Helm (kube.helm)."""

from __future__ import annotations

import logging
from typing import Any, Mapping

import kopf

from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.kube.gateways.helmbundle import HelmBundleGateway
from openstack_operator.kube.helm import Helm, HelmError
from openstack_operator.kube.objects import watched_bundle
from openstack_operator.kube.process import Process, Runtime
from openstack_operator.reconcilers.helmbundle import HelmBundleReconciler

log = logging.getLogger("osop.helmbundle")


def build(runtime: Runtime, settings: kopf.OperatorSettings) -> HelmBundleReconciler:
    gateway = HelmBundleGateway()
    try:
        # Releases that name no repository of their own (spec.artifacts.charts_url unset) come from the settings'
        # chart source, else from the catalog's.
        helm = Helm.configured(runtime.settings, runtime.catalog.chart_set.repository,
                               before_upgrade=gateway.recreate_jobs)
    except HelmError as error:  # a source that is neither a directory nor an http(s) URL; no helm binary
        raise kopf.PermanentError(str(error)) from None
    log.info("chart source %s, chart cache %s", helm.source, helm.cache.directory)
    return HelmBundleReconciler(runtime, gateway, helm)


PROCESS = Process("helmbundle", build)


@kopf.on.event(GROUP, VERSION, "helmbundles", registry=PROCESS.registry)
async def bundle_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    PROCESS.controller(memo).observe(event.get("type"), watched_bundle(event["object"]))
