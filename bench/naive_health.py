"""The health benchmark's baseline: a health writer that PATCHes the osdpl's whole health on every workload event,
as a controller without coalescing or change detection would. Same assessment code as the health process, same
watch (one label-selected Deployment watch); only the write policy differs.

Usage: python bench/naive_health.py <namespace> <osdpl name>   (KUBECONFIG points at the cluster)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pykube

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openstack_operator.core.health.workloads import Workload, component_health, health_progress, workload_of  # noqa: E402
from openstack_operator.kube.client import OpenStackDeployment, api  # noqa: E402
from openstack_operator.kube.objects import patch_status  # noqa: E402


def main(namespace: str, name: str) -> None:
    workloads: dict[str, Workload] = {}
    query = pykube.Deployment.objects(api(), namespace=namespace).filter(selector="application,component")
    for event in query.watch():
        body: dict[str, Any] = event.object.obj
        metadata = body["metadata"]
        if event.type == "DELETED":
            workloads.pop(metadata["name"], None)
        else:
            workloads[metadata["name"]] = workload_of(body)
        health = component_health(workloads.values())
        patch_status(OpenStackDeployment, namespace, name, {"health": health,
                                                            "health_progress": health_progress(health)})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
