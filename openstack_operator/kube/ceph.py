"""The Ceph exchange on the Kubernetes side: the storage side's Secret read, what the charts read written into the
deployment's namespace, and the operator's own copy the osdpl process renders from (core.ceph).

The objects written here belong to the osdpl (owner reference): they go with it, after its releases."""

from __future__ import annotations

from typing import Any, Mapping

import pykube

from openstack_operator.core.ceph import (CephExchange, from_secret_data, keys_source, namespace_objects,
                                          parse_ceph_keys, to_secret_data, exchange_digest)
from openstack_operator.core.errors import OperatorError
from openstack_operator.kube.objects import apply_config_map, apply_secret, decode_secret, get_or_none

READY, WAITING, INVALID = "Ready", "Waiting", "Invalid"


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
    keys = [exchange.glance.key, exchange.cinder.key]
    for item in namespace_objects(exchange):
        if item.kind == "ConfigMap":
            apply_config_map(namespace, item.name, item.data, labels, owner)
        else:
            apply_secret(namespace, item.name, item.data, labels, owner, sensitive=keys)
    apply_secret(namespace, copy_name(osdpl), to_secret_data(exchange), labels, owner, sensitive=keys)
    return {"state": READY, "source": source, "digest": exchange_digest(exchange),
            "message": f"copied from {source}"}


def read_ceph_copy(namespace: str, osdpl: str) -> CephExchange | None:
    """The exchange as last copied, None before the first copy."""
    found = get_or_none(pykube.Secret, namespace, copy_name(osdpl))
    return from_secret_data(decode_secret(found), f"{namespace}/{copy_name(osdpl)}") if found is not None else None
