"""Pods on the real node start for real: what kwok marks Ready here fails as it would on any cluster."""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterator

import pytest
import yaml

from devcluster import node
from devcluster.node import pinned_node_versions
from openstack_operator.core.releases.summaries import parse_summary
from openstack_operator.kube.client import api
from openstack_operator.kube.objects import job_termination_message

from .conftest import RealCluster, wait_until
from .test_identity import CLIENT

PAUSE = pinned_node_versions()["PAUSE_IMAGE"]
ENTRYPOINT = "quay.io/airshipit/kubernetes-entrypoint:v1.0.0"


@pytest.fixture
def namespace(real: RealCluster) -> Iterator[str]:
    name = f"r-{uuid.uuid4().hex[:8]}"
    real.kubectl.run("create", "namespace", name)
    yield name
    real.kubectl.run("delete", "namespace", name, "--wait=false")


def _pod(name: str, image: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent", **spec.pop("container", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": spec.pop("labels", {})},
            "spec": {"nodeSelector": {"type": "real"}, "terminationGracePeriodSeconds": 1,
                     "containers": [container], **spec}}


def _apply(real: RealCluster, namespace: str, *objects: dict[str, Any]) -> None:
    real.kubectl.run("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump_all(objects))


def _pod_status(real: RealCluster, namespace: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = real.kubectl.json("-n", namespace, "get", "pod", name).get("status", {})
    return status


def _waiting_reason(status: dict[str, Any], key: str = "containerStatuses") -> str:
    return str(((status.get(key) or [{}])[0].get("state", {}).get("waiting") or {}).get("reason", ""))


def _events(real: RealCluster, namespace: str, pod: str) -> str:
    items = real.kubectl.json("-n", namespace, "get", "events", "--field-selector",
                              f"involvedObject.name={pod}")["items"]
    return "\n".join(f"{e['reason']}: {e['message']}" for e in items)


def test_a_pod_runs_and_one_missing_its_secret_or_its_image_never_starts(real: RealCluster, namespace: str) -> None:
    _apply(real, namespace,
           _pod("runs", PAUSE),
           _pod("no-secret", PAUSE, container={"volumeMounts": [{"name": "s", "mountPath": "/s"}]},
                volumes=[{"name": "s", "secret": {"secretName": "absent"}}]),
           _pod("no-image", "quay.io/example/absent:1.0"))
    running = wait_until("the pod Ready on the real node", lambda: next(
        (c for c in _pod_status(real, namespace, "runs").get("conditions", [])
         if c["type"] == "Ready" and c["status"] == "True"), None))
    assert running
    status = _pod_status(real, namespace, "runs")
    assert status["podIP"].startswith(node.POD_SUBNET.rsplit(".", 2)[0])  # an address of the node's bridge
    pod = real.kubectl.json("-n", namespace, "get", "pod", "runs")
    assert pod["spec"]["nodeName"] == node.NODE_NAME
    wait_until("the missing Secret named by the kubelet", lambda: 'secret "absent" not found' in _events(
        real, namespace, "no-secret"))
    assert _pod_status(real, namespace, "no-secret")["phase"] == "Pending"
    # No registry is reachable: the image is not on the node, and the kubelet says so.
    reason = wait_until("the missing image", lambda: _waiting_reason(_pod_status(real, namespace, "no-image")) in (
        "ErrImagePull", "ImagePullBackOff") and _waiting_reason(_pod_status(real, namespace, "no-image")))
    print(f"runs: {status['podIP']}; no-secret: Pending (FailedMount); no-image: {reason}")


def test_the_charts_init_container_waits_for_a_ready_endpoint_then_the_pod_starts(real: RealCluster,
                                                                                    namespace: str) -> None:
    """Our kubernetes-entrypoint in its own image, as every chart runs it: it reads EndpointSlices with the pod's
    service account (the Role a chart gives it), waits while the Service has no ready endpoint, then exits."""
    rbac = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "entrypoint"},
             "rules": [{"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                        "verbs": ["get", "list"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "entrypoint"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "entrypoint"},
             "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]}]
    waiting = _pod("waits", PAUSE, initContainers=[{
        "name": "init", "image": ENTRYPOINT, "imagePullPolicy": "IfNotPresent", "command": ["kubernetes-entrypoint"],
        "env": [{"name": "NAMESPACE", "value": namespace},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "DEPENDENCY_SERVICE", "value": f"{namespace}:backend"}]}])  # no COMMAND, as in the charts
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "backend"},
               "spec": {"selector": {"app": "backend"}, "ports": [{"port": 80}]}}
    _apply(real, namespace, *rbac, service, waiting)
    wait_until("the init container running", lambda: (
        (_pod_status(real, namespace, "waits").get("initContainerStatuses") or [{}])[0].get("state", {})
        .get("running")))
    log = wait_until("the init container saying what it waits for", lambda: (lambda text: "backend" in text and text)(
        real.kubectl.run("-n", namespace, "logs", "waits", "-c", "init", check=False).stdout))
    assert _pod_status(real, namespace, "waits")["phase"] == "Pending"
    _apply(real, namespace, _pod("backend", PAUSE, labels={"app": "backend"}))
    wait_until("the pod Ready once its dependency is", lambda: any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in _pod_status(real, namespace, "waits").get("conditions", [])), timeout=60)
    print(log.strip().splitlines()[0])
    print(real.kubectl.run("-n", namespace, "logs", "waits", "-c", "init").stdout.strip().splitlines()[-1])


def test_a_pod_resolves_a_service_by_name_and_reaches_the_api_server_through_it(real: RealCluster,
                                                                               namespace: str) -> None:
    """CoreDNS answers the cluster's names, kube-proxy's rules take the Service address to the API server, the
    bridge routes the pod out: what every chart's pod does first (its Job's `openstack` call, its DB host)."""
    script = ("import socket, ssl\n"
              "address = socket.gethostbyname('kubernetes.default.svc.cluster.local')\n"
              "context = ssl.create_default_context(cafile='/var/run/secrets/kubernetes.io/serviceaccount/ca.crt')\n"
              "with socket.create_connection(('kubernetes.default.svc', 443), 5) as raw:\n"
              "    with context.wrap_socket(raw, server_hostname='kubernetes.default.svc') as tls:\n"
              "        print(address, tls.version(), tls.getpeercert()['subject'])\n")
    _apply(real, namespace, _pod("client", real.operator_image, restartPolicy="Never",
                                 container={"command": ["python3", "-c", script]}))
    phase = wait_until("the client pod done", lambda: _pod_status(real, namespace, "client").get("phase") in (
        "Succeeded", "Failed") and _pod_status(real, namespace, "client")["phase"])
    output = real.kubectl.run("-n", namespace, "logs", "client").stdout
    print(output)
    assert phase == "Succeeded", output
    assert output.startswith("10.96.0.1 TLS")
    assert "kube-apiserver" in output


def test_the_node_acts_with_its_own_identity_not_the_admins(real: RealCluster, namespace: str) -> None:
    """The kubelet's credentials are system:node:<name>: the Node authorizer lets it read its own Node, and no Secret
    that no pod on it uses."""
    real.kubectl.run("-n", namespace, "create", "secret", "generic", "unrelated", "--from-literal=k=v")
    kubelet = node.NodePaths.of(real.cluster.dir).state / "kubelet.kubeconfig"
    as_node = real.kubectl.run(f"--kubeconfig={kubelet}", "auth", "whoami", "-o", "json")
    assert json.loads(as_node.stdout)["status"]["userInfo"]["username"] == f"system:node:{node.NODE_NAME}"
    assert real.kubectl.run(f"--kubeconfig={kubelet}", "get", "node", node.NODE_NAME).returncode == 0
    denied = real.kubectl.run(f"--kubeconfig={kubelet}", "-n", namespace, "get", "secret", "unrelated", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), denied.stderr


def _rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_the_node_parts_run_in_bounded_memory(real: RealCluster) -> None:
    """What a real node costs here (kubelet, containerd, kube-proxy, CoreDNS), printed with the start-up times; each
    part well under 300 MiB, as a node with a few pods should be."""
    state = real.cluster.running()
    assert state is not None
    rss = {name: _rss_mib(state.pids[name]) for name in node.NODE_PROCESSES}
    for what, seconds in real.timings.items():
        print(f"{what}: {seconds:.1f}s")
    for name, mib in rss.items():
        print(f"{name}: {mib:.0f} MiB")
    assert all(0 < mib < 300 for mib in rss.values()), rss


def test_a_jobs_termination_message_is_its_summary_as_the_helmbundle_process_reads_it(
        real: RealCluster, namespace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What tempest's run-tests Job does at its end (templates/services/_tempest-run.sh), by a container that is not
    root: kwok runs no container, so only a real kubelet shows the message reaching the pod's status and our
    reader (kube.objects.job_termination_message, core.releases.summaries) taking it from there."""
    name = "openstack-tempest-run-tests"
    summary = {"result": "Failed", "passed": 12, "failed": 1, "skipped": 2, "seconds": 30, "failed_tests": ["t.x"]}
    write = f"import json; json.dump({summary!r}, open('/dev/termination-log', 'w'))"
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
           "spec": {"backoffLimit": 0, "template": {"spec": {
               "nodeSelector": {"type": "real"}, "restartPolicy": "Never", "securityContext": {"runAsUser": 1000},
               "containers": [{"name": "run", "image": CLIENT, "imagePullPolicy": "IfNotPresent",
                               "command": ["python3", "-c", write]}]}}}}
    _apply(real, namespace, job)
    wait_until("the Job done", lambda: real.kubectl.json("-n", namespace, "get", "job", name).get(
        "status", {}).get("succeeded") == 1, timeout=180, describe=lambda: real.kubectl.run(
        "-n", namespace, "describe", "pods", check=False).stdout[-3000:])
    monkeypatch.setenv("KUBECONFIG", str(real.cluster.kubeconfig))
    api.cache_clear()
    try:
        message = job_termination_message(namespace, name)
    finally:
        api.cache_clear()
    assert parse_summary(name, message) == {"job": name, **summary}
