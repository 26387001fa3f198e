"""The node process's gateway (reconcilers.node.NodeCluster): finalizers on Nodes and maintenance requests, the node
Jobs, the requests' and osdpl's status, and Events, each an async method that runs one blocking pykube call in a
worker thread (kube.process, the threading rule). Plain dicts in and out; a write from a stale view (409) raises
core.errors.Conflict, and an object gone (404) is an answer (None or False), never a pykube error.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping

from pykube.exceptions import HTTPError

from openstack_operator.core.errors import Conflict
from openstack_operator.core.models.osdpl_status import NODE, SectionPatch
from openstack_operator.kube import events, nodes
from openstack_operator.kube.client import NodeMaintenanceRequest
from openstack_operator.kube.objects import CONFLICT, NOT_FOUND, claim_holder, patch_status, set_finalizers
from openstack_operator.kube.osdpl_status import patch_section


@contextmanager
def _stale_is_conflict(what: str) -> Iterator[None]:
    try:
        yield
    except HTTPError as error:
        if error.code != CONFLICT:
            raise
        raise Conflict(f"{what}: {error}") from None


class NodeGateway:
    async def set_node_finalizers(self, name: str, resource_version: str, finalizers: list[str],
                                  owners: Mapping[str, str]) -> None:
        """Replace the Node's finalizers and their owners record as read at `resource_version` (Conflict if it
        changed since)."""
        with _stale_is_conflict(f"finalizers of Node {name}"):
            await asyncio.to_thread(nodes.set_node_finalizers, name, resource_version, finalizers, owners)

    async def claim_holder(self, namespace: str) -> str | None:
        """The osdpl the namespace's claim (a Lease the osdpl process writes) names; None without one."""
        return await asyncio.to_thread(claim_holder, namespace)

    async def set_request_finalizers(self, body: Mapping[str, Any], finalizers: list[str]) -> dict[str, Any]:
        """Replace the request's finalizers as read in `body` (Conflict if it changed since); the request stored."""
        metadata = body["metadata"]
        with _stale_is_conflict(f"finalizers of NodeMaintenanceRequest {metadata['namespace']}/{metadata['name']}"):
            return await asyncio.to_thread(set_finalizers, NodeMaintenanceRequest, body, finalizers)

    async def create_job(self, manifest: Mapping[str, Any]) -> bool:
        """Create the Job; False if one of that name exists already."""
        return await asyncio.to_thread(nodes.create_job, manifest)

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete the Job and its pods; one already gone is no error."""
        with _stale_is_conflict(f"Job {namespace}/{name}"):
            await asyncio.to_thread(nodes.delete_job, namespace, name)

    async def patch_request_status(self, namespace: str, name: str, patch: Mapping[str, Any]) \
            -> dict[str, Any] | None:
        """Merge-patch the request's status; the request stored, None if it is gone."""
        return await self._patch_status(f"status of NodeMaintenanceRequest {namespace}/{name}",
                                        lambda: patch_status(NodeMaintenanceRequest, namespace, name, patch))

    async def patch_osdpl_status(self, namespace: str, name: str, patch: SectionPatch) -> bool:
        """Merge-patch the node section of the osdpl's status; False if the osdpl is gone."""
        return await self._patch_status(f"status of OpenStackDeployment {namespace}/{name}",
                                        lambda: patch_section(NODE, namespace, name, patch)) is not None

    @staticmethod
    async def _patch_status(what: str, write: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        """`write` (a blocking status patch) in a worker thread; None if the object is gone."""
        with _stale_is_conflict(what):
            try:
                return await asyncio.to_thread(write)
            except HTTPError as error:
                if error.code != NOT_FOUND:
                    raise
                return None

    async def post_event(self, involved: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        """An Event on `involved` (a body with apiVersion, kind and metadata); one that cannot be written is logged."""
        await asyncio.to_thread(events.post_event, involved, kind, reason, message)
