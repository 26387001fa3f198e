"""The helmbundle process's cluster I/O (reconcilers.helmbundle.HelmBundleCluster): its HelmBundles, the osdpl and
namespace each depends on, the values Secrets, Events, what Helm leaves behind, and the `helm` processes a killed
predecessor left running. Each method runs its blocking call(s) in a worker thread (kube.process, the threading
rule) and takes and returns plain dicts and strings, and the bundles as core.models.bundle's models (this is where
they are read from and written to the API)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Mapping

import pykube
from pykube.exceptions import HTTPError

from openstack_operator.core.errors import ApiWriteError
from openstack_operator.core.models.bundle import Bundle, BundleOwner, ReleaseStatus
from openstack_operator.kube import children, objects
from openstack_operator.kube.client import HelmBundle, OpenStackDeployment
from openstack_operator.kube.events import post_event

log = logging.getLogger("osop.helmbundle")


class HelmBundleGateway:
    async def bundle(self, namespace: str, name: str) -> Bundle | None:
        """The HelmBundle as stored now (a fresh read, not a watch cache), None if it is gone."""
        body = await asyncio.to_thread(_body, HelmBundle, namespace, name)
        return Bundle.from_api(body) if body is not None else None

    async def osdpl(self, namespace: str, name: str) -> BundleOwner | None:
        """The osdpl `name` as the trust check reads it (its uid, chart repository, deletion, the namespace claim's
        holder), None if it is gone."""
        body = await asyncio.to_thread(_body, OpenStackDeployment, namespace, name)
        if body is None:
            return None
        return BundleOwner.from_api(body, await asyncio.to_thread(objects.claim_holder, namespace))

    async def namespace_terminating(self, namespace: str) -> bool:
        """Whether the namespace is being deleted, or gone."""
        return await asyncio.to_thread(objects.namespace_terminating, namespace)

    async def set_finalizers(self, bundle: Bundle, finalizers: list[str]) -> Bundle:
        """The bundle's finalizers replaced, as read (a conflict if it changed since); returns the bundle stored."""
        return Bundle.from_api(await asyncio.to_thread(objects.set_finalizers, HelmBundle, bundle.to_api(),
                                                       finalizers))

    async def record_release(self, namespace: str, name: str, release: str, status: ReleaseStatus,
                             observed_generation: int | None = None) -> Bundle:
        """Release `release`'s status written as its kind of record does (ReleaseStatus.to_patch), with the
        generation the outcome was decided on, if given; returns the bundle stored."""
        return Bundle.from_api(await asyncio.to_thread(objects.patch_status, HelmBundle, namespace, name,
                                                       release_patch(release, status, observed_generation)))

    async def set_conditions(self, namespace: str, name: str, conditions: list[dict[str, Any]]) -> Bundle:
        """The bundle's conditions replaced; returns the bundle stored."""
        return Bundle.from_api(await asyncio.to_thread(objects.patch_status, HelmBundle, namespace, name,
                                                       {"conditions": conditions}))

    async def post_event(self, involved: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        await asyncio.to_thread(post_event, involved, kind, reason, message)

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """Key `key` of Secret `name`, decoded; None if the Secret or the key is not there."""
        return await asyncio.to_thread(_secret_value, namespace, name, key)

    async def delete_release_leftovers(self, release: str, namespace: str) -> list[str]:
        """Delete the cluster-scoped objects Helm created for a release whose Helm record is gone; `Kind/name` of
        each. A refusal is an ApiWriteError."""
        try:
            return await asyncio.to_thread(objects.delete_release_leftovers, release, namespace)
        except HTTPError as error:
            raise ApiWriteError("deleting", "cluster-scoped objects of release", namespace, release, error.code,
                                str(error)) from None

    async def recreate_jobs(self, release: str, namespace: str) -> None:
        """Before Helm upgrades `release`: its finished Jobs deleted, to be created from the new manifest."""
        deleted = await asyncio.to_thread(objects.delete_jobs_to_recreate, release, namespace)
        if deleted:
            log.info("release %s: Jobs %s deleted before the upgrade, to be created from the new manifest", release,
                     ", ".join(deleted))

    async def job_report(self, namespace: str, job: str) -> str | None:
        """The termination message of Job `job`'s last pod that succeeded (what it reports), None without one."""
        return await asyncio.to_thread(objects.job_termination_message, namespace, job)

    async def end_orphaned_helm(self) -> None:
        """End the `helm` processes a predecessor that is gone left running, and tag the ones started from now on
        (kube.children): before any Helm work, so that two never work on one release."""
        await asyncio.to_thread(children.end_orphans)
        children.tag_children()


def release_patch(release: str, status: ReleaseStatus, observed_generation: int | None = None) -> dict[str, Any]:
    """The merge patch of a bundle's status that records `status` for `release`."""
    patch: dict[str, Any] = {} if observed_generation is None else {"observedGeneration": observed_generation}
    patch["releases"] = {release: status.to_patch()}
    return patch


def _body(kind: type[pykube.objects.APIObject], namespace: str, name: str) -> dict[str, Any] | None:
    found = objects.get_or_none(kind, namespace, name)
    if found is None:
        return None
    body: dict[str, Any] = found.obj
    return body


def _secret_value(namespace: str, name: str, key: str) -> str | None:
    secret = objects.get_or_none(pykube.Secret, namespace, name)
    return objects.decode_secret(secret).get(key) if secret is not None else None
