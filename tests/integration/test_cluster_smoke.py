"""The local control plane behaves like a cluster: kwok nodes are Ready and workloads become Ready on them."""

from __future__ import annotations

import json

from .conftest import Kubectl


def test_nodes_are_ready_and_labelled(kubectl: Kubectl) -> None:
    nodes = kubectl.json("get", "nodes")["items"]
    ready = {n["metadata"]["name"] for n in nodes
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}
    assert {"ctl-0", "ctl-1", "ctl-2", "cmp-0", "cmp-1"} <= ready
    compute = {n["metadata"]["name"] for n in nodes
               if n["metadata"]["labels"].get("openstack-compute-node") == "enabled"}
    assert compute == {"cmp-0", "cmp-1"}


def test_deployment_becomes_ready_on_kwok_nodes(kubectl: Kubectl, namespace: str) -> None:
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"nodeSelector": {"openstack-control-plane": "enabled"},
                                       "containers": [{"name": "web", "image": "example.invalid/web:1"}]}}},
    }
    kubectl.run("apply", "-f", "-", input=json.dumps(deployment))
    kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=90s")
    status = kubectl.json("-n", namespace, "get", "deployment", "web")["status"]
    assert status["readyReplicas"] == 2
    pods = kubectl.json("-n", namespace, "get", "pods")["items"]
    assert {p["spec"]["nodeName"] for p in pods} <= {"ctl-0", "ctl-1", "ctl-2"}
