"""Kubernetes API access: one pykube client per process, resource classes, and a count of our API writes.

Every API request is bounded (core.runtime.leader.REQUEST_SECONDS; the Lease's own requests RENEW_REQUEST_SECONDS):
pykube's client gives up, and its `timeout` query parameter makes the API server stop processing it; Kopf's requests
(kube.process sets its timeouts) are cut by the client, and the API server cancels a request whose connection closed.
So no write the process sent while it led is still under way once a standby may take over (core.runtime.leader).
Every request names the process and the replica in its User-Agent, so the API server's audit log tells apart the
writes of two replicas.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import aiohttp
import kopf
import pykube
from prometheus_client import Counter

from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.runtime.leader import RENEW_REQUEST_SECONDS, REQUEST_SECONDS

USER_AGENT = ["openstack-operator"]  # set once per process by `identify`, so audit logs tell the writers apart
REPLICA = [""]  # this replica's identity (kube.leader.identity), set by `identify`
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


def identify(process: str, replica: str = "") -> None:
    """Name the process (and the replica) in every API request from now on: before the first `api()`."""
    USER_AGENT[0] = f"openstack-operator/{process}"
    REPLICA[0] = replica


def user_agent() -> str:
    """`openstack-operator/<process> (<replica>)`: the first word is the process, as audit queries group it."""
    return f"{USER_AGENT[0]} ({REPLICA[0]})" if REPLICA[0] else USER_AGENT[0]


def _client(timeout: float) -> pykube.HTTPClient:
    client = pykube.HTTPClient(pykube.KubeConfig.from_env(), timeout=timeout)
    client.session.headers["User-Agent"] = user_agent()
    client.session.params = {"timeout": f"{timeout:g}s"}  # the API server's side of the bound
    return client


@lru_cache(maxsize=1)
def api() -> pykube.HTTPClient:
    """From the in-cluster service account, or $KUBECONFIG / ~/.kube/config."""
    return _client(REQUEST_SECONDS)


@lru_cache(maxsize=1)
def lease_api() -> pykube.HTTPClient:
    """The leader election's own client: shorter timeouts, and a connection pool a hung request elsewhere does not
    hold."""
    return _client(RENEW_REQUEST_SECONDS)


def kopf_session(info: kopf.ConnectionInfo) -> kopf.AiohttpSession:
    """Kopf's connection as Kopf makes it from `info`, with our User-Agent (Kopf sets only its own otherwise).
    To be called on the event loop (a login handler)."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ssl=info.as_ssl_context()),
        headers={**info.as_http_headers(), "User-Agent": user_agent()}, proxy=info.proxy_url,
        trust_env=info.trust_env)
    return kopf.AiohttpSession(server=info.server, priority=info.priority, default_namespace=info.default_namespace,
                               expiration=info.expiration, aiohttp_session=session)


def count_write(verb: str, kind: str) -> None:
    API_WRITES.labels(verb=verb, kind=kind).inc()

