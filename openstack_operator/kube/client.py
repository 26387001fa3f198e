"""Kubernetes API access: one pykube client per process, resource classes, and a count of our API writes."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pykube
from prometheus_client import Counter

from openstack_operator.core.crd import GROUP, VERSION

API_WRITES = Counter("osop_api_writes_total", "API write calls made by this process", ["verb", "kind"])


class OpenStackDeployment(pykube.objects.NamespacedAPIObject):  # type: ignore[misc]
    version = f"{GROUP}/{VERSION}"
    endpoint = "openstackdeployments"
    kind = "OpenStackDeployment"


class HelmBundle(pykube.objects.NamespacedAPIObject):  # type: ignore[misc]
    version = f"{GROUP}/{VERSION}"
    endpoint = "helmbundles"
    kind = "HelmBundle"


@lru_cache(maxsize=1)
def api() -> pykube.HTTPClient:
    """From the in-cluster service account, or $KUBECONFIG / ~/.kube/config."""
    return pykube.HTTPClient(pykube.KubeConfig.from_env(), timeout=30)


def count_write(verb: str, kind: str) -> None:
    API_WRITES.labels(verb=verb, kind=kind).inc()


def owner_reference(body: Any) -> dict[str, Any]:
    return {"apiVersion": body["apiVersion"], "kind": body["kind"], "name": body["metadata"]["name"],
            "uid": body["metadata"]["uid"], "controller": True, "blockOwnerDeletion": False}
