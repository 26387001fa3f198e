"""The node process's writes: finalizers on Nodes and maintenance requests, and its Jobs."""

from __future__ import annotations

import json
from typing import Any, Mapping

import pykube
from pykube.exceptions import HTTPError

from openstack_operator.core.nodes.inventory import CLEANUP_OWNERS_ANNOTATION
from openstack_operator.kube.client import api, count_write
from openstack_operator.kube.objects import CONFLICT, NOT_FOUND, writing


def set_node_finalizers(name: str, resource_version: str, finalizers: list[str], owners: Mapping[str, str]) -> None:
    """Replace a Node's finalizers, and the record of who added its cleanup finalizers (`owners`, none: the
    annotation removed), as read at `resource_version`: a Node changed since fails with 409 (the caller retries), so
    a finalizer someone else added meanwhile is never dropped."""
    record = json.dumps(dict(sorted(owners.items()))) if owners else None
    with writing("updating finalizers of", "Node", "", name):
        pykube.Node(api(), {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}).patch(
            {"metadata": {"finalizers": finalizers, "resourceVersion": resource_version,
                          "annotations": {CLEANUP_OWNERS_ANNOTATION: record}}})
    count_write("patch", "Node")


def create_job(manifest: Mapping[str, Any]) -> bool:
    """Create the Job; False if one of that name exists already (a restarted process created it before)."""
    metadata = manifest["metadata"]
    try:
        with writing("creating", "Job", metadata["namespace"], metadata["name"]):
            pykube.Job(api(), dict(manifest)).create()
    except HTTPError as error:
        if error.code == CONFLICT:
            return False
        raise
    count_write("create", "Job")
    return True


def delete_job(namespace: str, name: str) -> None:
    """Delete a Job and its pods (a failed Job is deleted to be run again)."""
    job = pykube.Job(api(), {"apiVersion": "batch/v1", "kind": "Job",
                             "metadata": {"name": name, "namespace": namespace}})
    with writing("deleting", "Job", namespace, name):
        try:
            job.delete(propagation_policy="Background")
        except HTTPError as error:
            if error.code != NOT_FOUND:
                raise
            return
    count_write("delete", "Job")
