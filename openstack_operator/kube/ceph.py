"""The Ceph exchange on the Kubernetes side: the storage side's Secret read, what the charts read written into the
deployment's namespace, and the operator's own copy the osdpl process renders from (core.secrets.ceph); back the other way,
the object gateway's Keystone credentials published into the storage side's namespace.

The objects written into the deployment's namespace belong to the osdpl (owner reference): they go with it, after
its releases. The published Secret lives in another namespace, where no owner reference can point: it carries
labels naming its osdpl instead, and is deleted when the osdpl is."""

from __future__ import annotations

from typing import Any, Mapping

import pykube

from openstack_operator.core.secrets.ceph import (MANILA_KEYRING_SECRET, CephExchange, from_secret_data, keys_source,
                                          namespace_objects, parse_ceph_keys, to_secret_data, copy_digest)
from openstack_operator.core.apigroup import GROUP
from openstack_operator.core.errors import ApiWriteError, OperatorError
from openstack_operator.kube.objects import (NOT_FOUND, apply_config_map, apply_secret, decode_secret,
                                             delete, get_or_none)

READY, WAITING, INVALID, PUBLISHED = "Ready", "Waiting", "Invalid", "Published"
# Not the osdpl label the deployment's own objects carry: the secrets process watches those, in every namespace.
PUBLISHED_BY_NAMESPACE = f"{GROUP}/published-by-namespace"
PUBLISHED_BY_OSDPL = f"{GROUP}/published-by-osdpl"


def copy_name(osdpl: str) -> str:
    return f"{osdpl}-ceph"


def copy_ceph_keys(namespace: str, osdpl: str, features: Mapping[str, Any], labels: Mapping[str, str],
                   owner: Mapping[str, Any]) -> dict[str, str]:
    """Copy the storage side's keys into `namespace`; returns the report for `status.ceph` (no key in it)."""
    source = keys_source(features)
    source_namespace, source_name = source.split("/", 1)
    found = get_or_none(pykube.Secret, source_namespace, source_name)
    if found is None:
        return {"state": WAITING, "source": source,
                "message": f"Secret {source} does not exist (yet): the storage side publishes it"}
    try:
        exchange = parse_ceph_keys(decode_secret(found), source)
    except OperatorError as error:  # its message names the key at fault, never a value
        return {"state": INVALID, "source": source, "message": str(error)}
    keys = [client.key for client in (exchange.glance, exchange.cinder, exchange.manila) if client is not None]
    for item in namespace_objects(exchange):
        if item.kind == "ConfigMap":
            apply_config_map(namespace, item.name, item.data, labels, owner)
        else:
            apply_secret(namespace, item.name, item.data, labels, owner, sensitive=keys)
    if exchange.manila is None:  # the storage side withdrew manila's client: its key leaves the namespace too
        found = get_or_none(pykube.Secret, namespace, MANILA_KEYRING_SECRET)
        if found is not None and _ours(found, labels):
            delete(pykube.Secret, namespace, MANILA_KEYRING_SECRET)
    apply_secret(namespace, copy_name(osdpl), to_secret_data(exchange), labels, owner, sensitive=keys)
    return {"state": READY, "source": source, "digest": copy_digest(exchange),
            "message": f"copied from {source}"}


def read_ceph_copy(namespace: str, osdpl: str) -> CephExchange | None:
    """The exchange as last copied, None before the first copy."""
    found = get_or_none(pykube.Secret, namespace, copy_name(osdpl))
    return from_secret_data(decode_secret(found), f"{namespace}/{copy_name(osdpl)}") if found is not None else None


def publisher_labels(namespace: str, osdpl: str) -> dict[str, str]:
    return {PUBLISHED_BY_NAMESPACE: namespace, PUBLISHED_BY_OSDPL: osdpl}


def _ours(found: Any, labels: Mapping[str, str]) -> bool:
    own = found.obj["metadata"].get("labels") or {}
    return all(own.get(key) == value for key, value in labels.items())


def publish_gateway_credentials(target: str, data: Mapping[str, str] | None,
                                labels: Mapping[str, str]) -> dict[str, str]:
    """Write the gateway's credentials (`data`; None: not known to exist yet, leave what is published) to Secret
    `target` ("namespace/name"); returns the report for `status.object_gateway` (no credential in it). A Secret
    there that another osdpl or someone else wrote is left alone and reported: overwriting it could take a working
    login from a gateway."""
    namespace, name = target.split("/", 1)
    found = get_or_none(pykube.Secret, namespace, name)
    if found is not None and not _ours(found, labels):
        return {"state": INVALID, "secret": target,
                "message": f"Secret {target} exists and was not published by this osdpl: delete it, or choose "
                           f"another features.ceph.object_gateway.credentials_secret"}
    if data is None:
        if found is not None:  # published before: it stays as it is until the new user exists
            return {"state": PUBLISHED, "secret": target, "message": f"published in {target}"}
        return {"state": WAITING, "secret": target,
                "message": "waiting for the keystone release to create the gateway's user (Ready)"}
    try:
        apply_secret(namespace, name, data, labels, None, current=found)
    except ApiWriteError as error:
        if error.code != NOT_FOUND:
            raise
        return {"state": WAITING, "secret": target, "message": f"namespace {namespace} does not exist (yet)"}
    return {"state": PUBLISHED, "secret": target, "message": f"published in {target}"}


def withdraw_gateway_credentials(target: str, labels: Mapping[str, str]) -> None:
    """Delete the published Secret `target` if it is ours."""
    namespace, name = target.split("/", 1)
    found = get_or_none(pykube.Secret, namespace, name)
    if found is not None and _ours(found, labels):
        delete(pykube.Secret, namespace, name)
