"""The osdpl process's gateway to the cluster (reconcilers.osdpl, its `OsdplCluster`): each method one blocking
pykube call, or a few, run in a worker thread (kube.process, the threading rule). Objects go in and out as plain
dicts, bundles, credentials and Ceph keys as the core's dataclasses: never a pykube object."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

import pykube

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.models.bundle import Bundle, BundleSpec
from openstack_operator.core.secrets.ceph import CephExchange
from openstack_operator.core.secrets.credentials import Stored
from openstack_operator.core.models.osdpl_status import OSDPL, SectionPatch
from openstack_operator.core.models.owner import owner_reference
from openstack_operator.kube.ceph import read_ceph_copy
from openstack_operator.kube.client import HelmBundle, Lease, OpenStackDeployment, api
from openstack_operator.kube.credentials import ensure_kept_secrets, read_credentials
from openstack_operator.kube.events import post_event
from openstack_operator.kube.objects import (apply_bundle, apply_secret, claim_namespace, delete, get_or_none,
                                             namespace_claim, patch_spec, release_namespace, read_secret_texts,
                                             set_finalizers)
from openstack_operator.kube.osdpl_status import patch_section


def _obj(found: Any) -> dict[str, Any] | None:
    return dict(found.obj) if found is not None else None


class OsdplGateway:
    """What the osdpl process reads and writes: its osdpls, their bundles and values Secrets, the namespace claim,
    the credentials and Ceph copies the secrets process wrote, Events."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- reads ----------------------------------------------------------------------------------------------------
    async def read_osdpl(self, namespace: str, name: str) -> dict[str, Any] | None:
        return _obj(await asyncio.to_thread(get_or_none, OpenStackDeployment, namespace, name))

    async def list_osdpls(self, namespace: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(
            lambda: [o.obj for o in OpenStackDeployment.objects(api(), namespace=namespace)])

    async def list_bundles(self, namespace: str) -> list[Bundle]:
        return await asyncio.to_thread(
            lambda: [Bundle.from_api(b.obj) for b in HelmBundle.objects(api(), namespace=namespace)])

    async def secret_names(self, namespace: str, selector: str) -> list[str]:
        return await asyncio.to_thread(
            lambda: [s.name for s in pykube.Secret.objects(api(), namespace=namespace).filter(selector=selector)])

    async def namespace_claim(self, namespace: str) -> dict[str, Any] | None:
        return _obj(await asyncio.to_thread(namespace_claim, namespace))

    async def read_credentials(self, namespace: str, osdpl: str) -> tuple[Stored | None, bool]:
        """The credentials Secret's records (None: absent) and whether it is being deleted."""
        state = await asyncio.to_thread(read_credentials, self.catalog, namespace, osdpl)
        return state.stored, state.deleting

    async def read_ceph_copy(self, namespace: str, osdpl: str) -> CephExchange | None:
        return await asyncio.to_thread(read_ceph_copy, namespace, osdpl)

    async def read_secret_keys(self, namespace: str, refs: Mapping[str, tuple[str, str]]) -> dict[str, str]:
        return await asyncio.to_thread(read_secret_texts, namespace, refs)

    async def missing_objects(self, namespace: str, refs: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
        kinds = {"ConfigMap": pykube.ConfigMap, "Secret": pykube.Secret}
        return await asyncio.to_thread(
            lambda: [(kind, name) for kind, name in refs if get_or_none(kinds[kind], namespace, name) is None])

    # -- writes ---------------------------------------------------------------------------------------------------
    async def set_finalizers(self, osdpl: Mapping[str, Any], finalizers: list[str]) -> None:
        await asyncio.to_thread(set_finalizers, OpenStackDeployment, osdpl, finalizers)

    async def patch_status(self, namespace: str, name: str, patch: SectionPatch) -> None:
        """Merge-patch the osdpl process's section of the osdpl's status."""
        await asyncio.to_thread(patch_section, OSDPL, namespace, name, patch)

    async def post_event(self, osdpl: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        await asyncio.to_thread(post_event, osdpl, kind, reason, message)

    async def claim_namespace(self, namespace: str, osdpl: str, current: Mapping[str, Any] | None,
                              labels: Mapping[str, str]) -> bool:
        def claim() -> bool:
            return claim_namespace(namespace, osdpl, Lease(api(), dict(current)) if current is not None else None,
                                   labels)
        return await asyncio.to_thread(claim)

    async def release_namespace(self, namespace: str, osdpl: str) -> None:
        await asyncio.to_thread(release_namespace, namespace, osdpl)

    async def ensure_kept_secrets(self, namespace: str, names: list[str], labels: Mapping[str, str]) -> None:
        await asyncio.to_thread(ensure_kept_secrets, namespace, names, labels)

    async def apply_secret(self, namespace: str, name: str, data: Mapping[str, str], labels: Mapping[str, str],
                           owner: Mapping[str, Any], sensitive: list[str]) -> bool:
        """Secret `name` holds exactly `data`, owned by the osdpl `owner` (its body)."""
        return await asyncio.to_thread(apply_secret, namespace, name, data, labels, owner_reference(owner),
                                       sensitive=sensitive)

    async def apply_bundle(self, namespace: str, name: str, spec: BundleSpec, labels: Mapping[str, str],
                           owner: Mapping[str, Any], current: Bundle | None, finalizers: list[str]) -> bool:
        """Bundle `name` has `spec`, owned by the osdpl `owner` (its body); `current`: as listed, None if absent."""
        return await asyncio.to_thread(apply_bundle, namespace, name, spec, labels, owner_reference(owner), current,
                                       finalizers)

    async def retire_bundle(self, namespace: str, name: str) -> None:
        """Ask bundle `name` to uninstall its releases (the helmbundle process does, then the osdpl process deletes
        it)."""
        await asyncio.to_thread(patch_spec, HelmBundle, namespace, name, {"uninstall": True})

    async def delete_bundle(self, namespace: str, name: str) -> None:
        await asyncio.to_thread(delete, HelmBundle, namespace, name)

    async def delete_secret(self, namespace: str, name: str) -> None:
        await asyncio.to_thread(delete, pykube.Secret, namespace, name)
