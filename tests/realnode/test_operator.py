"""The operator as users install it, with its own chart and its own image, running as real pods on the real node:
the probes are answered, one replica of each process leads by its Lease and another takes over when it goes, and
the metrics are scraped from the pod."""

from __future__ import annotations

from openstack_operator.cli import PROCESSES

from .conftest import OPERATOR_NAMESPACE as NAMESPACE
from .conftest import RealCluster, wait_until


def _pods(real: RealCluster, process: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = real.kubectl.json(
        "-n", NAMESPACE, "get", "pods", "-l", f"app.kubernetes.io/component={process}")["items"]
    return items


def _holder(real: RealCluster, process: str) -> str:
    lease = real.kubectl.json("-n", NAMESPACE, "get", "lease", f"openstack-operator-{process}")
    return str(lease["spec"].get("holderIdentity") or "")


def test_every_process_runs_as_a_real_pod_leads_by_its_lease_and_serves_metrics(real: RealCluster,
                                                                                operator_release: str) -> None:
    print(real.kubectl.run("-n", NAMESPACE, "get", "pods", "-o", "wide").stdout)
    for process in PROCESSES:
        pods = _pods(real, process)
        names = {p["metadata"]["name"] for p in pods}  # type: ignore[index]
        assert len(pods) == 2 and all(p["spec"]["nodeName"] == "real-0" for p in pods)  # type: ignore[index]
        holder = wait_until(f"a {process} pod holding its Lease", lambda: _holder(real, process) in names and
                            _holder(real, process))
        metrics = real.kubectl.run("get", "--raw",
                                   f"/api/v1/namespaces/{NAMESPACE}/pods/{holder}:9090/proxy/metrics").stdout
        assert "osop_workqueue_depth" in metrics, metrics[:500]


def test_a_deleted_leader_pods_lease_is_taken_by_a_live_replica(real: RealCluster, operator_release: str) -> None:
    before = wait_until("an osdpl leader", lambda: _holder(real, "osdpl"))
    real.kubectl.run("-n", NAMESPACE, "delete", "pod", before, "--wait=false")

    def taken_over() -> str:
        holder = _holder(real, "osdpl")
        live = {p["metadata"]["name"] for p in _pods(real, "osdpl")}  # type: ignore[index]
        return holder if holder and holder != before and holder in live else ""

    after = wait_until("a live replica leading", taken_over, timeout=90)
    print(f"osdpl leader {before} deleted; {after} leads")
