"""Workload health at scale: N workloads turn ready at once; how fast does the osdpl show it, with how many status
PATCHes, and how much memory does the health process take?

Candidate: the health process (coalesced, writes only what changed). Baseline, same run and cluster: a writer that
PATCHes the whole health on every workload event (bench/naive_health.py).
The cluster is etcd + kube-apiserver only, so the bench alone writes the workloads' statuses: N Deployments of one
release of an osdpl are created not ready; once the process under test shows all of them on the osdpl, the bench
marks every one ready (status PATCHes from 8 threads, about a second for 300) and records, per workload, the time
from its PATCH returning to the first osdpl version showing that component Ready.
Reported per N (50, 300, 1000): latency median and p99, osdpl status PATCHes from the audit log, the process's peak
RSS (VmHWM).
Run: make bench-health
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pykube
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe  # noqa: E402
from devcluster import Cluster, crds  # noqa: E402
from devcluster.binaries import REPO, bin_dir  # noqa: E402
from devcluster.operators import launch, operator_environ  # noqa: E402
from openstack_operator.core.settings import Settings  # noqa: E402
from openstack_operator.kube.client import OpenStackDeployment  # noqa: E402

SIZES = (50, 300, 1000)
RELEASE = "bench-release"
AUDIT_FLUSH_SECONDS = 8.0
TIMEOUT = 300.0


class Round:
    def __init__(self, cluster: Cluster, api: pykube.HTTPClient, kubeconfig: Path, namespace: str,
                 count: int) -> None:
        self.cluster, self.api, self.kubeconfig = cluster, api, kubeconfig
        self.namespace, self.count = namespace, count
        self.components = [f"c{i:04}" for i in range(count)]
        self.ready_at: dict[str, float] = {}
        self.sent_at: dict[str, float] = {}
        self.shown: set[str] = set()  # components on the osdpl at all
        self.done = threading.Event()

    # -- setup ---------------------------------------------------------------------------------------------------
    def create(self) -> None:
        pykube.Namespace(self.api, {"metadata": {"name": self.namespace}}).create()
        manifest: dict[str, Any] = yaml.safe_load((REPO / "deploy" / "examples" / "minimal.yaml").read_text())
        manifest["metadata"] = {"name": "osdpl", "namespace": self.namespace}
        osdpl = OpenStackDeployment(self.api, manifest)
        osdpl.create()
        osdpl.patch({"status": {"children": {"bench": {RELEASE: {"state": "deployed", "revision": 1}}}}},
                    subresource="status")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self._create_workload, self.components))

    def _create_workload(self, component: str) -> None:
        labels = {"application": "bench", "component": component}
        pykube.Deployment(self.api, {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": component, "namespace": self.namespace, "labels": labels,
                         "annotations": {"meta.helm.sh/release-name": RELEASE}},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "example.invalid/c"}]}}},
        }).create()

    def _mark_ready(self, component: str) -> None:
        workload = pykube.Deployment(self.api, {"apiVersion": "apps/v1", "kind": "Deployment",
                                                "metadata": {"name": component, "namespace": self.namespace}})
        workload.patch({"status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                                   "readyReplicas": 1, "availableReplicas": 1}}, subresource="status")
        self.sent_at[component] = time.monotonic()

    # -- the osdpl as a user sees it -------------------------------------------------------------------------------
    def watch(self) -> None:
        query = OpenStackDeployment.objects(self.api, namespace=self.namespace)
        for event in query.filter(field_selector={"metadata.name": "osdpl"}).watch():
            now = time.monotonic()
            health = ((event.object.obj.get("status") or {}).get("health") or {}).get("bench", {})
            self.shown.update(health)
            for component, entry in health.items():
                if entry.get("state") == "Ready" and component not in self.ready_at:
                    self.ready_at[component] = now
            if len(self.ready_at) == self.count:
                self.done.set()
                return

    def run(self, writer: str, start: Callable[[], subprocess.Popen[bytes]]) -> dict[str, float]:
        self.create()
        threading.Thread(target=self.watch, daemon=True).start()
        process = start()
        try:
            deadline = time.monotonic() + TIMEOUT
            while len(self.shown) < self.count:  # the process has listed every workload and written it, not ready
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit(f"{writer}: the initial health never showed {self.count} workloads")
                time.sleep(0.2)
            time.sleep(2.0)  # let the initial writes settle
            flip = time.time()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(self._mark_ready, self.components))
            flipped = time.monotonic() - min(self.sent_at.values())
            if not self.done.wait(TIMEOUT):
                raise SystemExit(f"{writer}: only {len(self.ready_at)}/{self.count} shown Ready")
            peak = _peak_rss_mib(process.pid)
        finally:
            process.terminate()
            process.wait()
            # Gone before the next round, whose process would otherwise watch (and hold) these too.
            subprocess.run([str(bin_dir() / "kubectl"), f"--kubeconfig={self.kubeconfig}", "-n", self.namespace,
                            "delete", "deployments", "--all", "--wait=false"], check=True, capture_output=True)
        latencies = sorted((self.ready_at[c] - self.sent_at[c]) * 1000 for c in self.components)
        time.sleep(AUDIT_FLUSH_SECONDS)
        return {"median_ms": statistics.median(latencies), "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
                "patches": self._status_patches(flip), "peak_mib": peak, "flip_s": flipped}

    def _status_patches(self, since: float) -> int:
        count = 0
        with (self.cluster.logs / "audit.log").open() as log:
            for line in log:
                event = json.loads(line)
                ref = event.get("objectRef") or {}
                if (event.get("verb") == "patch" and ref.get("resource") == "openstackdeployments"
                        and ref.get("subresource") == "status" and ref.get("namespace") == self.namespace
                        and datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00")).timestamp()
                        >= since):
                    count += 1
        return count


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="osop-health-bench-") as directory:
        cluster = Cluster(Path(directory))
        try:
            kubeconfig = cluster.up(controllers=False)
            settings = Settings(health_grace_seconds=3600)  # the bench's workloads never turn Unhealthy
            crds.install(bin_dir() / "kubectl", kubeconfig)
            api = pykube.HTTPClient(pykube.KubeConfig.from_file(str(kubeconfig)), timeout=60)
            print(f"machine: {describe()}")
            print("| workloads | writer | statuses flipped in | ready->shown median | p99 | osdpl status PATCHes "
                  "| peak RSS |")
            print("|---|---|---|---|---|---|---|")
            for count in SIZES:
                rows = {}
                for writer, start in (
                        ("every event", lambda: subprocess.Popen(
                            [sys.executable, str(REPO / "bench" / "naive_health.py"), f"naive-{count}", "osdpl"],
                            env=operator_environ(kubeconfig, settings), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)),
                        ("health process", lambda: launch("health", kubeconfig, settings, None))):
                    namespace = f"naive-{count}" if writer == "every event" else f"health-{count}"
                    rows[writer] = Round(cluster, api, kubeconfig, namespace, count).run(writer, start)
                for writer, r in rows.items():
                    print(f"| {count} | {writer} | {r['flip_s']:.1f} s | {r['median_ms']:.0f} ms | "
                          f"{r['p99_ms']:.0f} ms | {r['patches']} | {r['peak_mib']:.0f} MiB |")
                base, cand = rows["every event"], rows["health process"]
                print(f"| {count} | baseline / health process | | {base['median_ms'] / cand['median_ms']:.1f}x | "
                      f"{base['p99_ms'] / cand['p99_ms']:.1f}x | {base['patches'] / max(cand['patches'], 1):.0f}x | "
                      f"{base['peak_mib'] / cand['peak_mib']:.2f}x |")
        finally:
            cluster.down()


if __name__ == "__main__":
    main()
