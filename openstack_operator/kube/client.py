"""Kubernetes API access: one pykube client per process, resource classes, and a count of our API writes."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pykube
from prometheus_client import Counter

from openstack_operator.core.apigroup import GROUP, VERSION

USER_AGENT = ["openstack-operator"]  # set once per process by `identify`, so audit logs tell the writers apart
API_WRITES = Counter("osop_api_writes_total", "API write calls made by this process", ["verb", "kind"])


class OpenStackDeployment(pykube.objects.NamespacedAPIObject):  # type: ignore[misc]
    version = f"{GROUP}/{VERSION}"
    endpoint = "openstackdeployments"
    kind = "OpenStackDeployment"


class HelmBundle(pykube.objects.NamespacedAPIObject):  # type: ignore[misc]
    version = f"{GROUP}/{VERSION}"
    endpoint = "helmbundles"
    kind = "HelmBundle"


class NodeMaintenanceRequest(pykube.objects.NamespacedAPIObject):  # type: ignore[misc]
    version = f"{GROUP}/{VERSION}"
    endpoint = "nodemaintenancerequests"
    kind = "NodeMaintenanceRequest"


class Lease(pykube.objects.NamespacedAPIObject):  # type: ignore[misc]
    version = "coordination.k8s.io/v1"
    endpoint = "leases"
    kind = "Lease"


def identify(process: str) -> None:
    USER_AGENT[0] = f"openstack-operator/{process}"


@lru_cache(maxsize=1)
def api() -> pykube.HTTPClient:
    """From the in-cluster service account, or $KUBECONFIG / ~/.kube/config."""
    client = pykube.HTTPClient(pykube.KubeConfig.from_env(), timeout=30)
    client.session.headers["User-Agent"] = USER_AGENT[0]
    return client


def count_write(verb: str, kind: str) -> None:
    API_WRITES.labels(verb=verb, kind=kind).inc()

