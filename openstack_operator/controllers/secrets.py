"""secrets process: the Kopf wiring. The osdpls and the credentials Secrets it watches are handed, as keys, to the
reconciler (reconcilers.secrets: what the process does), which reads and writes the cluster through its gateway
(kube.gateways.secrets).

The Secret watch is filtered by the API server (SECRET_SELECTOR): only Secrets labelled with an osdpl and not with a
service, which are the two credentials Secrets (and the Ceph key copies, written with the same label). The Secrets
of the storage side (the Ceph keys' source, the object gateway's target) carry no label of ours and are not watched:
the reconciler reads them again every OSOP_SECRETS_RESYNC_SECONDS; so is a refused Secret someone else made."""

from __future__ import annotations

from typing import Any, Mapping

import kopf

from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.releases.bundles import OSDPL_LABEL, SERVICE_LABEL
from openstack_operator.kube.gateways.secrets import SecretsGateway
from openstack_operator.kube.process import Process, Runtime
from openstack_operator.reconcilers.secrets import SecretsReconciler


# Server-side: without it Kopf lists and watches every Secret of the cluster (the handler's labels filter only
# afterwards, in the process).
SECRET_SELECTOR = f"{OSDPL_LABEL},!{SERVICE_LABEL}"


def build(runtime: Runtime, settings: kopf.OperatorSettings) -> SecretsReconciler:
    settings.watching.label_selectors["", "v1", "secrets"] = SECRET_SELECTOR
    return SecretsReconciler(runtime, SecretsGateway())


PROCESS = Process("secrets", build)


@kopf.on.event(GROUP, VERSION, "openstackdeployments", registry=PROCESS.registry)
async def osdpl_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    metadata = event["object"]["metadata"]
    PROCESS.controller(memo).observe(metadata["namespace"], metadata["name"])


@kopf.on.event("", "v1", "secrets", labels={OSDPL_LABEL: kopf.PRESENT, SERVICE_LABEL: kopf.ABSENT},
               registry=PROCESS.registry)
async def secret_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    """The credentials Secrets (values Secrets carry the service label too, and are not ours)."""
    metadata = event["object"]["metadata"]
    PROCESS.controller(memo).observe(metadata["namespace"], metadata["labels"][OSDPL_LABEL])
