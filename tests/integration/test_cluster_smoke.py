"""The local control plane behaves like a cluster: kwok nodes are Ready and carry the labels OpenStack-Helm charts
select, workloads become Ready on them, volume claims bind, and the Gateway API serves HTTPRoutes."""

from __future__ import annotations

import json
import tarfile
from typing import Any, Iterator

import pytest
import yaml

from .conftest import REPO, Kubectl

CONTROL_PLANE = {"openstack-control-plane": "enabled", "openvswitch": "enabled"}
COMPUTE = {"openstack-compute-node": "enabled", "openvswitch": "enabled"}
ROLES = {"ctl-0": CONTROL_PLANE, "ctl-1": CONTROL_PLANE, "ctl-2": CONTROL_PLANE, "cmp-0": COMPUTE, "cmp-1": COMPUTE}
# The charts the operator deploys, and the node labels their `labels:` values select by default that no node here
# carries on purpose: SR-IOV agents belong on nodes with SR-IOV NICs (the DaemonSet is Ready with no pod).
CHARTS = ("mariadb", "rabbitmq", "memcached", "keystone", "glance", "placement", "openvswitch", "neutron", "libvirt",
          "nova", "cinder", "horizon", "heat")
NOT_ON_ANY_NODE = {("sriov", "enabled")}
CHART_SET = REPO.parent / "shared" / "openstack-helm" / "charts"


def _nodes(kubectl: Kubectl) -> dict[str, dict[str, Any]]:
    return {n["metadata"]["name"]: n for n in kubectl.json("get", "nodes")["items"]}


def test_nodes_are_ready_and_labelled_by_role(kubectl: Kubectl) -> None:
    nodes = _nodes(kubectl)
    ready = {name for name, n in nodes.items()
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}
    assert set(ROLES) <= ready
    for name, labels in ROLES.items():
        assert labels.items() <= nodes[name]["metadata"]["labels"].items(), name
    compute = {name for name, n in nodes.items() if n["metadata"]["labels"].get("openstack-compute-node") == "enabled"}
    assert compute == {"cmp-0", "cmp-1"}


def _selected_labels(values: Any) -> Iterator[tuple[str, str]]:
    """Every node_selector_key/node_selector_value pair under a chart's `labels:` values."""
    if isinstance(values, dict):
        if "node_selector_key" in values:
            yield str(values["node_selector_key"]), str(values.get("node_selector_value"))
        for child in values.values():
            yield from _selected_labels(child)


@pytest.mark.skipif(not CHART_SET.is_dir(), reason=f"no OpenStack-Helm chart set in {CHART_SET}")
def test_every_node_label_the_real_charts_select_by_default_is_on_a_node(kubectl: Kubectl) -> None:
    selected: dict[tuple[str, str], set[str]] = {}
    for chart in CHARTS:
        archive = max(CHART_SET.glob(f"{chart}-[0-9]*.tgz"))
        with tarfile.open(archive) as tar:
            member = tar.extractfile(f"{chart}/values.yaml")
            assert member is not None
            values = yaml.safe_load(member)
        for pair in _selected_labels(values.get("labels", {})):
            selected.setdefault(pair, set()).add(chart)
    carried = {pair for n in _nodes(kubectl).values() for pair in n["metadata"]["labels"].items()}
    missing = {f"{key}={value} ({', '.join(sorted(charts))})" for (key, value), charts in selected.items()
               if (key, value) not in carried and (key, value) not in NOT_ON_ANY_NODE}
    assert not missing


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


def _claim(namespace: str, name: str, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def test_volume_claims_bind_and_a_pod_using_them_becomes_ready(kubectl: Kubectl, namespace: str) -> None:
    # As the operator's defaults: node-local volumes of class local-storage; persistent ones of the default class,
    # which a claim naming no class gets (OpenStack-Helm charts name none when their class_name is "default").
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db", "namespace": namespace},
           "spec": {"nodeSelector": {"openstack-control-plane": "enabled"},
                    "containers": [{"name": "db", "image": "example.invalid/db:1",
                                    "volumeMounts": [{"name": "local", "mountPath": "/local"},
                                                     {"name": "data", "mountPath": "/data"}]}],
                    "volumes": [{"name": "local", "persistentVolumeClaim": {"claimName": "local"}},
                                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}
    manifests = [_claim(namespace, "local", "local-storage"), _claim(namespace, "data", None), pod]
    kubectl.run("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}))
    kubectl.run("-n", namespace, "wait", "--for=jsonpath={.status.phase}=Bound", "pvc/local", "pvc/data",
                "--timeout=60s")
    kubectl.run("-n", namespace, "wait", "--for=condition=Ready", "pod/db", "--timeout=60s")
    claims = {c["metadata"]["name"]: c for c in kubectl.json("-n", namespace, "get", "pvc")["items"]}
    assert {name: c["spec"]["storageClassName"] for name, c in claims.items()} == {"local": "local-storage",
                                                                                  "data": "default"}


def test_the_gateway_api_serves_httproutes(kubectl: Kubectl, namespace: str) -> None:
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "keystone", "namespace": namespace},
             "spec": {"parentRefs": [{"name": "public", "namespace": "gateway"}], "hostnames": ["keystone.example"],
                      "rules": [{"backendRefs": [{"name": "keystone-api", "port": 5000}]}]}}
    kubectl.run("apply", "-f", "-", input=json.dumps(route))
    stored = kubectl.json("-n", namespace, "get", "httproutes.gateway.networking.k8s.io", "keystone")
    assert stored["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert stored["spec"]["rules"][0]["backendRefs"][0]["name"] == "keystone-api"

