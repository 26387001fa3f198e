"""The node process on the real charts: the inventory, per-node settings following labels, maintenance with a
cap, the cleanup of deleted nodes, NotReady nodes reported and left alone, and a SIGKILL mid-maintenance.

One deployment with nova (module-scoped: the tests add and remove their own kwok nodes and only read it), on the
local control plane; kwok runs the Jobs' pods to success, so what a Job would do in OpenStack is checked as the
arguments it runs with (the script itself: tests/unit/test_node_job_script.py).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterator

import pytest

from devcluster.cluster import COMPUTE_LABELS, KWOK_ANNOTATION
from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.nodes.inventory import CLEANUP_OWNERS_ANNOTATION
from tests.integration.conftest import (DEPLOY_TIMEOUT, OPERATOR_NAMESPACE, Deployment, Helm, Kubectl, Operators,
                                        minimal, temporary_namespace, wait_for)

GROUP_LABEL = ("osop-test-group", "special")
NOT_READY_SECONDS = 5


@pytest.fixture(scope="module")
def cloud(kubectl: Kubectl, operators: Operators) -> Iterator[Deployment]:
    with temporary_namespace(kubectl, "nodes") as namespace:
        manifest = minimal("nodes")
        manifest["spec"]["features"] = {
            "services": ["compute", "instance-ha"],
            "node_lifecycle": {"max_in_maintenance": {"compute": 1, "network": 2},
                               "not_ready_report_seconds": NOT_READY_SECONDS},
        }
        # nova-compute gets its own configuration on the nodes of this group, and notify as maintenance policy
        manifest["spec"]["nodes"] = {"::".join(GROUP_LABEL): {
            "services": {"compute": {"nova": {"nova_compute": {"values": {"conf": {"nova": {"DEFAULT": {
                "reserved_host_memory_mb": 4096}}}}}}}},
            "features": {"nova": {"maintenance_policy": "notify"}}}}
        deployment = Deployment(kubectl, namespace, manifest)
        deployment.apply()
        wait_for("the compute cloud Ready", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
                 describe=lambda: json.dumps(deployment.condition("Ready")))
        yield deployment


def _add_node(kubectl: Kubectl, labels: dict[str, str]) -> str:
    name = f"nt-{uuid.uuid4().hex[:6]}"
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {KWOK_ANNOTATION[0]: KWOK_ANNOTATION[1]},
                         "labels": {**labels, "kubernetes.io/hostname": name, "type": "kwok"}},
            "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "250"},
                       "capacity": {"cpu": "32", "memory": "256Gi", "pods": "250"}}}
    kubectl.run("create", "-f", "-", input=json.dumps(node))
    return name


def _remove_node(kubectl: Kubectl, name: str) -> None:
    """Test teardown: the node goes without cleanup Jobs, before the next test counts the cluster's nodes."""
    kubectl.run("annotate", "node", name, f"{GROUP}/skip-cleanup=true", "--overwrite", check=False)
    kubectl.run("delete", "node", name, "--ignore-not-found", "--timeout=120s")


@pytest.fixture
def compute_node(kubectl: Kubectl) -> Iterator[str]:
    name = _add_node(kubectl, COMPUTE_LABELS)
    yield name
    _remove_node(kubectl, name)


def _host(cloud: Deployment, node: str) -> dict[str, Any]:
    return dict(((cloud.get().get("status") or {}).get("nodes") or {}).get("hosts", {}).get(node) or {})


def _running_compute(cloud: Deployment, operators: Operators, node: str) -> dict[str, Any]:
    """The node's inventory entry once its nova-compute and Open vSwitch agent pods are scheduled."""
    host: dict[str, Any] = wait_for(f"{node} in the inventory with nova-compute and the OVS agent", lambda: (
        h := _host(cloud, node)) and {"nova/compute", "neutron/neutron-ovs-agent"} <= set(h["components"]) and h,
        operators)
    return host


def _finalizers(kubectl: Kubectl, node: str) -> list[str]:
    found = kubectl.run("get", "node", node, "-o", "json", "--ignore-not-found").stdout
    return json.loads(found)["metadata"].get("finalizers", []) if found.strip() else []


def _pods_on(kubectl: Kubectl, namespace: str, node: str, component: str) -> list[dict[str, Any]]:
    pods = kubectl.json("-n", namespace, "get", "pods", "-l", f"component={component}",
                        "--field-selector", f"spec.nodeName={node}")["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def _jobs(kubectl: Kubectl, namespace: str, node: str) -> dict[str, list[str]]:
    """action -> the script's arguments, for every node Job of `node`."""
    items = kubectl.json("-n", namespace, "get", "jobs", "-l", f"{GROUP}/node={node}")["items"]
    return {j["metadata"]["labels"][f"{GROUP}/node-action"]: j["spec"]["template"]["spec"]["containers"][0]
            ["command"][4:] for j in items}


def _request(kubectl: Kubectl, namespace: str, node: str) -> str:
    name = f"maint-{node}"
    kubectl.run("apply", "-f", "-", input=json.dumps({
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "NodeMaintenanceRequest",
        "metadata": {"name": name, "namespace": namespace}, "spec": {"nodeName": node}}))
    return name


def _request_status(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    found = kubectl.run("-n", namespace, "get", "nmr", name, "-o", "json", "--ignore-not-found").stdout
    return dict(json.loads(found).get("status") or {}) if found.strip() else {"gone": True}


def test_a_labelled_compute_node_appears_in_the_inventory_with_nova_compute_and_its_finalizer(
        cloud: Deployment, compute_node: str, kubectl: Kubectl, operators: Operators) -> None:
    host = _running_compute(cloud, operators, compute_node)
    assert host["roles"] == ["compute", "network"] and host["ready"] is True
    assert {"libvirt/libvirt", "neutron/neutron-ovs-agent"} <= set(host["components"])
    assert f"cleanup.{GROUP}/{cloud.namespace}" in _finalizers(kubectl, compute_node)
    wide = kubectl.run("-n", cloud.namespace, "get", "osdpl", cloud.name, "-o", "wide").stdout
    print(wide)
    nodes = cloud.get()["status"]["nodes"]
    assert nodes["compute"] >= 3 and f"{nodes['compute']} compute" in wide  # cmp-0, cmp-1 and the new one


def test_a_node_that_gains_a_group_label_gets_the_group_daemonset_without_a_re_render(
        cloud: Deployment, compute_node: str, kubectl: Kubectl, helm: Helm, operators: Operators) -> None:
    _running_compute(cloud, operators, compute_node)
    default_owner = wait_for("nova-compute of the default DaemonSet", lambda: [
        p["metadata"]["ownerReferences"][0]["name"] for p in _pods_on(kubectl, cloud.namespace, compute_node,
                                                                       "compute")], operators)
    revisions = helm.revisions(cloud.namespace)
    kubectl.run("label", "node", compute_node, "=".join(GROUP_LABEL))
    moved = wait_for("nova-compute of the group's DaemonSet", lambda: (owners := [
        p["metadata"]["ownerReferences"][0]["name"] for p in _pods_on(kubectl, cloud.namespace, compute_node,
                                                                       "compute")]) and owners != default_owner
        and owners, operators)
    print(f"{compute_node}: nova-compute moved from DaemonSet {default_owner[0]} to {moved[0]}")
    wait_for("the group in the inventory", lambda: _host(cloud, compute_node).get("groups") == ["::".join(GROUP_LABEL)],
             operators)
    assert helm.revisions(cloud.namespace) == revisions  # the DaemonSets follow labels: nothing re-rendered


def test_maintenance_of_two_nodes_with_a_cap_of_one_serves_them_in_turn_and_resumes_after_a_sigkill(
        cloud: Deployment, kubectl: Kubectl, operators: Operators) -> None:
    first, second = _add_node(kubectl, COMPUTE_LABELS), _add_node(kubectl, COMPUTE_LABELS)
    try:
        for node in (first, second):
            _running_compute(cloud, operators, node)
        ns = cloud.namespace
        first_request = _request(kubectl, ns, first)
        wait_for("the first request Ready", lambda: _request_status(kubectl, ns, first_request).get("phase") == "Ready",
                 operators)
        second_request = _request(kubectl, ns, second)
        waiting = wait_for("the second request Waiting", lambda: (s := _request_status(kubectl, ns, second_request))
                           .get("phase") == "Waiting" and s, operators)
        print(f"\n{second_request}: {waiting['phase']}: {waiting['message']}")
        print(f"{first} Jobs: {_jobs(kubectl, ns, first)}")
        assert f"compute (1/1: {first})" in waiting["message"]
        assert _jobs(kubectl, ns, first) == {"disable": ["disable", first, "compute,network"],
                                             "migrate": ["migrate", first, "compute,network"]}
        assert _jobs(kubectl, ns, second) == {}  # nothing done for the waiting one
        assert cloud.get()["status"]["nodes"]["maintenance"] == {first: "Ready"}

        # SIGKILL mid-maintenance: the first one's maintenance ends while the process is down
        operators.kill("node")
        kubectl.run("-n", ns, "delete", "nmr", first_request, "--wait=false")
        operators.start("node")
        wait_for("the first request gone after its enable Job", lambda: _request_status(
            kubectl, ns, first_request).get("gone"), operators)
        print(f"after the SIGKILL and the restart, {first} Jobs: {_jobs(kubectl, ns, first)}")
        assert _jobs(kubectl, ns, first)["enable"] == ["enable", first, "compute,network"]
        wait_for("the second request Ready", lambda: _request_status(kubectl, ns, second_request).get("phase")
                 == "Ready", operators)
        assert set(_jobs(kubectl, ns, second)) == {"disable", "migrate"}
        kubectl.run("-n", ns, "delete", "nmr", second_request)  # waits for the finalizer: enabled again
        assert _jobs(kubectl, ns, second)["enable"] == ["enable", second, "compute,network"]
        assert cloud.get()["status"]["nodes"]["maintenance"] == {}
    finally:
        for node in (first, second):
            _remove_node(kubectl, node)


def test_with_instance_ha_each_compute_node_runs_a_monitor_and_maintenance_takes_it_out_of_masakari(
        cloud: Deployment, compute_node: str, kubectl: Kubectl, operators: Operators) -> None:
    """What node-job.sh does in masakari with INSTANCE_HA=1 is the unit tests' (tests/unit/test_nodes.py)."""
    wait_for(f"masakari's instance monitor on {compute_node}", lambda: "masakari/masakari-instance-monitor" in
             _host(cloud, compute_node).get("components", []), operators)
    wait_for("masakari's API, engine and monitors Ready", lambda: {
        (cloud.get()["status"]["health"].get("masakari") or {}).get(c, {}).get("state")
        for c in ("api", "engine", "masakari-instance-monitor")} == {"Ready"}, operators,
        describe=lambda: cloud.get()["status"]["health"].get("masakari"))
    ns = cloud.namespace
    request = _request(kubectl, ns, compute_node)
    try:
        wait_for("the disable Job", lambda: "disable" in _jobs(kubectl, ns, compute_node), operators)
        [job] = kubectl.json("-n", ns, "get", "jobs", "-l", f"{GROUP}/node={compute_node},"
                                                         f"{GROUP}/node-action=disable")["items"]
        env = job["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "INSTANCE_HA", "value": "1"} in env
    finally:
        kubectl.run("-n", ns, "delete", "nmr", request)


def test_a_deleted_node_is_cleaned_up_by_a_job_before_its_finalizer_goes(
        cloud: Deployment, compute_node: str, kubectl: Kubectl, operators: Operators) -> None:
    _running_compute(cloud, operators, compute_node)
    kubectl.run("delete", "node", compute_node, "--wait=false")
    wait_for("the node gone", lambda: not kubectl.run("get", "node", compute_node, "--ignore-not-found").stdout,
             operators)
    assert _jobs(kubectl, cloud.namespace, compute_node) == {"cleanup": ["cleanup", compute_node, ""]}
    nodes = wait_for("the removal recorded and the node out of the inventory", lambda: compute_node not in (
        n := cloud.get()["status"]["nodes"])["hosts"] and n, operators)
    print(f"\ncleanup Jobs: {_jobs(kubectl, cloud.namespace, compute_node)}; removed: {nodes['removed'][0]}")
    assert {"node": compute_node, "result": "Cleaned", "attempts": 1}.items() <= nodes["removed"][0].items()


def test_a_node_not_ready_past_the_threshold_is_reported_and_nothing_is_removed(
        cloud: Deployment, compute_node: str, kubectl: Kubectl, operators: Operators) -> None:
    _running_compute(cloud, operators, compute_node)
    # kwok stops acting as its kubelet; the node says NotReady as a node whose kubelet stopped does
    kubectl.run("annotate", "node", compute_node, f"{KWOK_ANNOTATION[0]}-")
    kubectl.run("patch", "node", compute_node, "--subresource=status", "--type=strategic", "-p", json.dumps(
        {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletStopped",
                                    "message": "test"}]}}))
    nodes = wait_for("reported NotReady", lambda: compute_node in ((n := cloud.get()["status"]["nodes"])
                                                                   .get("not_ready") or []) and n, operators,
                     timeout=NOT_READY_SECONDS + 60)
    print(f"\n{nodes['summary']}; not_ready: {nodes['not_ready']}")
    assert "1 not ready" in nodes["summary"]
    events = kubectl.json("-n", cloud.namespace, "get", "events", "--field-selector", "reason=NodeNotReady")["items"]
    assert any(compute_node in e["message"] for e in events)
    assert _jobs(kubectl, cloud.namespace, compute_node) == {}
    assert f"cleanup.{GROUP}/{cloud.namespace}" in _finalizers(kubectl, compute_node)


def test_a_request_names_its_node_for_good(kubectl: Kubectl, namespace: str, crds: None) -> None:
    name = _request(kubectl, namespace, "cmp-0")
    changed = kubectl.run("-n", namespace, "patch", "nmr", name, "--type=merge", "-p",
                          json.dumps({"spec": {"nodeName": "cmp-1"}}), check=False)
    assert changed.returncode != 0 and "nodeName is immutable" in changed.stderr
    missing = kubectl.run("apply", "-f", "-", check=False, input=json.dumps({
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "NodeMaintenanceRequest",
        "metadata": {"name": "no-node", "namespace": namespace}, "spec": {}}))
    assert missing.returncode != 0 and "spec.nodeName: Required value" in missing.stderr


def _owners(kubectl: Kubectl, node: str) -> dict[str, str]:
    found = kubectl.run("get", "node", node, "-o", "json", "--ignore-not-found").stdout
    annotations = json.loads(found)["metadata"].get("annotations") or {} if found.strip() else {}
    return dict(json.loads(annotations.get(CLEANUP_OWNERS_ANNOTATION) or "{}"))


def _set_cleanup(kubectl: Kubectl, node: str, finalizers: list[str], owners: dict[str, str]) -> None:
    kubectl.run("patch", "node", node, "--type=merge", "-p", json.dumps({"metadata": {
        "finalizers": finalizers, "annotations": {CLEANUP_OWNERS_ANNOTATION: json.dumps(owners) if owners else None}}}))


def test_a_namespace_taken_off_the_watch_list_loses_its_node_finalizers_at_start_and_another_installation_not(
        cloud: Deployment, compute_node: str, kubectl: Kubectl, operators: Operators) -> None:
    _running_compute(cloud, operators, compute_node)
    ours = f"cleanup.{GROUP}/{cloud.namespace}"
    wait_for("the finalizer recorded as this installation's", lambda: ours in _finalizers(kubectl, compute_node) and
             _owners(kubectl, compute_node).get(cloud.namespace) == OPERATOR_NAMESPACE, operators)
    foreign = f"cleanup.{GROUP}/elsewhere"
    operators.kill("node")
    try:
        # Another installation (of another chart namespace) that watches "elsewhere" holds the node too.
        _set_cleanup(kubectl, compute_node, [*_finalizers(kubectl, compute_node), foreign],
                     {**_owners(kubectl, compute_node), "elsewhere": "another-installation"})
        with temporary_namespace(kubectl, "watched") as watched:
            operators.start("node", OSOP_NAMESPACES=watched)  # the deployment's namespace taken off the list
            wait_for("the finalizer of the namespace no longer watched gone", lambda: ours not in _finalizers(
                kubectl, compute_node), operators)
            print(f"\n{compute_node}: finalizers {_finalizers(kubectl, compute_node)}, "
                  f"record {_owners(kubectl, compute_node)}")
            assert foreign in _finalizers(kubectl, compute_node)
            assert _owners(kubectl, compute_node) == {"elsewhere": "another-installation"}
    finally:
        if "node" in operators.procs:
            operators.kill("node")
        _set_cleanup(kubectl, compute_node, [f for f in _finalizers(kubectl, compute_node) if f != foreign],
                     {k: v for k, v in _owners(kubectl, compute_node).items() if k != "elsewhere"})
        operators.start("node")
    wait_for("the finalizer back once the namespace is watched again", lambda: ours in _finalizers(
        kubectl, compute_node), operators)
