"""Create-or-update of the objects the operator owns, writing only when the content differs."""

from __future__ import annotations

import base64
import json
from typing import Any, Mapping

import pykube
from pykube.exceptions import HTTPError

from openstack_operator.core.health import listed_generations
from openstack_operator.kube.client import HelmBundle, api, count_write

NOT_FOUND, CONFLICT = 404, 409


def get_or_none(kind: type[pykube.objects.APIObject], namespace: str, name: str) -> Any:
    try:
        return kind.objects(api(), namespace=namespace).get_by_name(name)
    except pykube.exceptions.ObjectDoesNotExist:
        return None


def decode_secret(secret: Any) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.obj.get("data") or {}).items()}


_UNREAD = object()


def apply_secret(namespace: str, name: str, data: Mapping[str, str], labels: Mapping[str, str],
                 owner: Mapping[str, Any] | None, current: Any = _UNREAD) -> bool:
    """Make Secret `name` hold exactly `data`; returns whether anything was written.

    `current`: the Secret as the caller just read it (None: absent), to save a read; by default it is read here.
    """
    if current is _UNREAD:
        current = get_or_none(pykube.Secret, namespace, name)
    if current is not None and decode_secret(current) == dict(data):
        return False
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if owner:
        metadata["ownerReferences"] = [dict(owner)]
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": metadata,
                            "stringData": dict(data)}
    if current is None:
        pykube.Secret(api(), body).create()
        count_write("create", "Secret")
    else:
        # Replace (PUT) rather than merge, so keys of releases that went away go too; the resourceVersion
        # makes a concurrent change fail with 409 instead of being overwritten.
        metadata["resourceVersion"] = current.obj["metadata"]["resourceVersion"]
        response = api().put(**current.api_kwargs(data=json.dumps(body)))
        api().raise_for_status(response)
        count_write("update", "Secret")
    return True


def apply_bundle(namespace: str, name: str, spec: Mapping[str, Any], labels: Mapping[str, str],
                 owner: Mapping[str, Any], current: Mapping[str, Any] | None) -> bool:
    """Make bundle `name` have `spec`; `current` is the bundle as just listed (None: absent), so no read here."""
    if current is not None and current.get("spec") == spec:
        return False
    if current is None:
        body = {"apiVersion": HelmBundle.version, "kind": HelmBundle.kind,
                "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                             "ownerReferences": [dict(owner)]},
                "spec": dict(spec)}
        HelmBundle(api(), body).create()
        count_write("create", "HelmBundle")
    else:
        # With the resourceVersion, a patch from a stale view fails with 409 (and the reconcile is retried) instead
        # of clobbering a newer bundle.
        version = current["metadata"]["resourceVersion"]
        _handle(HelmBundle, namespace, name).patch({"metadata": {"resourceVersion": version}, "spec": dict(spec)})
        count_write("patch", "HelmBundle")
    return True


def patch_spec(kind: type[pykube.objects.APIObject], namespace: str, name: str, patch: Mapping[str, Any]) -> None:
    _handle(kind, namespace, name).patch({"spec": dict(patch)})
    count_write("patch", kind.kind)


def _handle(kind: type[pykube.objects.APIObject], namespace: str, name: str) -> Any:
    """An object to call the API with, without reading it first."""
    return kind(api(), {"apiVersion": kind.version, "kind": kind.kind, "metadata": {"name": name, "namespace": namespace}})


def patch_status(kind: type[pykube.objects.APIObject], namespace: str, name: str,
                 patch: Mapping[str, Any]) -> dict[str, Any]:
    """Merge-patch the status subresource; returns the object as stored after the patch."""
    handle = _handle(kind, namespace, name)
    handle.patch({"status": dict(patch)}, subresource="status")
    count_write("patch", f"{kind.kind}/status")
    stored: dict[str, Any] = handle.obj
    return stored


def delete(kind: type[pykube.objects.APIObject], namespace: str, name: str) -> None:
    try:
        _handle(kind, namespace, name).delete()
        count_write("delete", kind.kind)
    except HTTPError as error:
        if error.code != NOT_FOUND:
            raise


WORKLOAD_KINDS = (pykube.Deployment, pykube.StatefulSet, pykube.DaemonSet, pykube.Job)


def workload_generations(namespace: str, selector: str) -> dict[str, tuple[int, str]]:
    """uid -> (metadata.generation, Helm release) of the workloads in `namespace` matching the label `selector`,
    read now (one LIST per workload kind), without the Jobs of CronJobs (see core.health.scheduled_run)."""
    return listed_generations(item.obj for kind in WORKLOAD_KINDS
                              for item in kind.objects(api(), namespace=namespace).filter(selector=selector))
