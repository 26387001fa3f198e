"""The health process's cluster I/O (reconcilers.health.HealthCluster): LISTs of the watched workloads, the
namespace's claim and the PATCH of an osdpl's status, each a blocking pykube call run in a worker thread."""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

from pykube.exceptions import HTTPError

from openstack_operator.core.models.osdpl_status import HEALTH, SectionPatch
from openstack_operator.kube.objects import NOT_FOUND, claim_holder, workload_generations, workload_uids
from openstack_operator.kube.osdpl_status import patch_section


class HealthGateway:
    async def workload_uids(self, selector: str, namespaces: Sequence[str]) -> set[str]:
        return await asyncio.to_thread(workload_uids, selector, list(namespaces))

    async def workload_generations(self, namespace: str, selector: str) -> dict[str, tuple[int, str]]:
        return await asyncio.to_thread(workload_generations, namespace, selector)

    async def claim_holder(self, namespace: str) -> str | None:
        """The osdpl the namespace's claim (a Lease the osdpl process writes) names; None without one."""
        return await asyncio.to_thread(claim_holder, namespace)

    async def patch_osdpl_status(self, namespace: str, name: str, patch: SectionPatch) -> dict[str, Any] | None:
        """The osdpl as stored after the merge-patch of the health section of its status, or None when it is gone
        (404)."""
        try:
            return await asyncio.to_thread(patch_section, HEALTH, namespace, name, patch)
        except HTTPError as error:
            if error.code == NOT_FOUND:
                return None
            raise
