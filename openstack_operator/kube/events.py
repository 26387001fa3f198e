"""Kubernetes Events on the objects the operator acts for, so `kubectl describe` and `kubectl get events` show what
went wrong without reading operator logs. Callers pass messages that hold no credentials (core.secrets.redact)."""

from __future__ import annotations

import datetime
import logging
from typing import Any, Mapping

import pykube
from pykube.exceptions import HTTPError, PyKubeError

from openstack_operator.kube.client import USER_AGENT, api, count_write

log = logging.getLogger("osop.events")
MAX_MESSAGE = 1024  # the API server truncates longer Event messages anyway


def post_event(involved: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
    """Record an Event of `kind` (Normal or Warning) on the object `involved` (a body with apiVersion, kind and
    metadata). An Event that cannot be written is logged, never raised: it must not fail the work it reports on."""
    metadata = involved["metadata"]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    component = USER_AGENT[0]
    body = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": f"{metadata['name'][:200]}.", "namespace": metadata["namespace"]},
        "involvedObject": {"apiVersion": involved["apiVersion"], "kind": involved["kind"],
                           "name": metadata["name"], "namespace": metadata["namespace"],
                           "uid": metadata.get("uid", "")},
        "type": kind, "reason": reason, "message": message[:MAX_MESSAGE],
        "source": {"component": component}, "reportingComponent": component,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }
    try:
        pykube.Event(api(), body).create()
        count_write("create", "Event")
    except (HTTPError, PyKubeError, OSError) as error:
        log.warning("could not record event %s on %s %s/%s: %s", reason, involved["kind"], metadata["namespace"],
                    metadata["name"], error)
