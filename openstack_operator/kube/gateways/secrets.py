"""The secrets process's gateway to the cluster (reconcilers.secrets.SecretsCluster): each method runs its blocking
pykube call(s) in a worker thread, and takes and returns plain dicts (the objects as the API server returns them),
never a pykube object."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

import pykube

from openstack_operator.core.models.osdpl_status import SECRETS, SectionPatch
from openstack_operator.core.secrets.credentials import Stored
from openstack_operator.core.models.owner import owner_reference
from openstack_operator.kube.ceph import (copy_ceph_keys, publish_gateway_credentials, publisher_labels,
                                          withdraw_gateway_credentials)
from openstack_operator.kube.client import OpenStackDeployment, api
from openstack_operator.kube.credentials import SecretState, drop_keep_finalizer, write_backup, write_credentials
from openstack_operator.kube.events import post_event
from openstack_operator.kube.objects import get_or_none, namespace_claim
from openstack_operator.kube.osdpl_status import patch_section


def _body(kind: type[pykube.objects.APIObject], namespace: str, name: str) -> dict[str, Any] | None:
    found = get_or_none(kind, namespace, name)
    return dict(found.obj) if found is not None else None


def _holder(namespace: str) -> str | None:
    claim = namespace_claim(namespace)
    holder = (claim.obj.get("spec") or {}).get("holderIdentity") if claim is not None else None
    return str(holder) if holder else None


def _state(body: Mapping[str, Any] | None) -> SecretState:
    """A Secret as read, for the writes of kube.credentials (which only use the object)."""
    return SecretState(None, False, pykube.Secret(api(), dict(body)) if body is not None else None)


def _write_credentials(namespace: str, osdpl: str, stored: Stored, labels: Mapping[str, str],
                       main: Mapping[str, Any] | None, backup: Mapping[str, Any] | None) -> bool:
    return write_credentials(namespace, osdpl, stored, labels, _state(main), _state(backup))


def _write_backup(namespace: str, osdpl: str, stored: Stored, labels: Mapping[str, str],
                  backup: Mapping[str, Any] | None) -> bool:
    return write_backup(namespace, osdpl, stored, labels, _state(backup))


def _drop_keep_finalizer(secret: Mapping[str, Any]) -> None:
    drop_keep_finalizer(_state(secret))


def _copy_ceph_keys(osdpl: Mapping[str, Any], features: Mapping[str, Any],
                    labels: Mapping[str, str]) -> dict[str, str]:
    metadata = osdpl["metadata"]
    return copy_ceph_keys(metadata["namespace"], metadata["name"], features, labels, owner_reference(osdpl))


class SecretsGateway:
    """The cluster as the secrets process reads and writes it."""

    async def osdpl(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(_body, OpenStackDeployment, namespace, name)

    async def namespace_holder(self, namespace: str) -> str | None:
        return await asyncio.to_thread(_holder, namespace)

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(_body, pykube.Secret, namespace, name)

    async def write_credentials(self, namespace: str, osdpl: str, stored: Stored, labels: Mapping[str, str],
                                main: Mapping[str, Any] | None, backup: Mapping[str, Any] | None) -> bool:
        return await asyncio.to_thread(_write_credentials, namespace, osdpl, stored, labels, main, backup)

    async def write_backup(self, namespace: str, osdpl: str, stored: Stored, labels: Mapping[str, str],
                           backup: Mapping[str, Any] | None) -> bool:
        return await asyncio.to_thread(_write_backup, namespace, osdpl, stored, labels, backup)

    async def drop_keep_finalizer(self, secret: Mapping[str, Any]) -> None:
        await asyncio.to_thread(_drop_keep_finalizer, secret)

    async def patch_osdpl_status(self, namespace: str, name: str, patch: SectionPatch) -> None:
        """Merge-patch the secrets section of the osdpl's status."""
        await asyncio.to_thread(patch_section, SECRETS, namespace, name, patch)

    async def post_event(self, involved: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        await asyncio.to_thread(post_event, involved, kind, reason, message)

    async def copy_ceph_keys(self, osdpl: Mapping[str, Any], features: Mapping[str, Any],
                             labels: Mapping[str, str]) -> dict[str, str]:
        return await asyncio.to_thread(_copy_ceph_keys, osdpl, features, labels)

    async def publish_gateway_credentials(self, target: str, data: Mapping[str, str] | None, namespace: str,
                                          osdpl: str) -> dict[str, str]:
        return await asyncio.to_thread(publish_gateway_credentials, target, data, publisher_labels(namespace, osdpl))

    async def withdraw_gateway_credentials(self, target: str, namespace: str, osdpl: str) -> None:
        await asyncio.to_thread(withdraw_gateway_credentials, target, publisher_labels(namespace, osdpl))
