"""From `kubectl apply` to every release deployed, and the API writes of a reconcile, on the local control plane with the test charts.

Candidate: the osdpl and helmbundle processes (parallel independent services, only changed releases upgraded).
Baseline (same run, same cluster): a sequential operator that re-applies everything: every release in dependency
order, one `helm upgrade --install` after the other, on every reconcile.
Reported per example: seconds to all releases deployed, and the API writes (audit log: create/update/patch/delete
in the deployment's namespace) of a reconcile with an unchanged spec (candidate: operators restarted, so they
re-read everything; baseline: its next pass).
Run: make bench-deploy
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe  # noqa: E402
from devcluster import Cluster  # noqa: E402
from devcluster.binaries import REPO, bin_dir  # noqa: E402
from openstack_operator.core.catalog import Catalog  # noqa: E402
from openstack_operator.core.credentials import (credentials_from, required_credentials,  # noqa: E402
                                                 with_missing_generated)
from openstack_operator.core.manifest import load_osdpl  # noqa: E402
from openstack_operator.core.render import Renderer  # noqa: E402
from openstack_operator.kube.helm import ChartSource, Helm  # noqa: E402

EXAMPLES = ("minimal", "full")
CHARTS = REPO / "tests" / "charts"
SETTLE_SECONDS = 8.0  # audit log batches are flushed within this; the operators' re-list completes within it


class Bench:
    def __init__(self, cluster: Cluster, kubeconfig: Path) -> None:
        self.cluster, self.kubeconfig, self.binaries = cluster, kubeconfig, bin_dir()
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "OSOP_HELM": str(self.binaries / "helm"),
                    "OSOP_CHART_SOURCE": str(CHARTS), "PYTHONPATH": str(REPO)}

    def kubectl(self, *argv: str, stdin: str | None = None) -> str:
        return subprocess.run([str(self.binaries / "kubectl"), f"--kubeconfig={self.kubeconfig}", *argv],
                              input=stdin, check=True, capture_output=True, text=True).stdout

    def start_operators(self) -> None:
        for process in ("osdpl", "helmbundle"):
            self.cluster.start_process(f"operator-{process}", [sys.executable, "-m", "openstack_operator", process],
                                       self.env)

    def writes(self, namespace: str, since: float) -> int:
        """Write requests in `namespace` that completed after `since` (epoch seconds), from the audit log."""
        count = 0
        with (self.cluster.logs / "audit.log").open() as log:
            for line in log:
                event = json.loads(line)
                if (event.get("objectRef") or {}).get("namespace") != namespace:
                    continue
                stamp = event["stageTimestamp"].replace("Z", "+00:00")
                if datetime.fromisoformat(stamp).timestamp() >= since:
                    count += 1
        return count

    def manifest(self, example: str, namespace: str) -> dict[str, Any]:
        doc: dict[str, Any] = yaml.safe_load((REPO / "deploy" / "examples" / f"{example}.yaml").read_text())
        doc["metadata"]["namespace"] = namespace
        return doc

    def candidate(self, example: str) -> tuple[float, int]:
        namespace = f"bench-op-{example}"
        self.kubectl("create", "namespace", namespace)
        doc = self.manifest(example, namespace)
        start = time.monotonic()
        self.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(doc))
        name = doc["metadata"]["name"]
        while True:
            # Every release deployed (as the baseline measures), not Ready: that also waits for workload health.
            done, _, total = self.kubectl("-n", namespace, "get", "osdpl", name, "-o",
                                          "jsonpath={.status.lcm_progress}").partition("/")
            if done and done == total:
                break
            if time.monotonic() - start > 600:
                raise SystemExit(f"{example}: not deployed after 600 s")
            time.sleep(0.2)
        elapsed = time.monotonic() - start
        time.sleep(SETTLE_SECONDS)
        since = time.time()
        self.start_operators()  # a restart: every object is listed and reconciled again
        time.sleep(SETTLE_SECONDS)
        return elapsed, self.writes(namespace, since)

    def baseline(self, example: str) -> tuple[float, int]:
        namespace = f"bench-seq-{example}"
        self.kubectl("create", "namespace", namespace)
        catalog = Catalog.load()
        osdpl = load_osdpl(catalog, self.manifest(example, namespace))
        enabled = osdpl.spec.enabled_services(catalog)
        credentials = credentials_from(catalog, with_missing_generated({}, required_credentials(catalog, enabled)))
        services = Renderer(catalog).render(osdpl.spec, credentials, namespace)
        os.environ["KUBECONFIG"] = str(self.kubeconfig)
        helm = Helm(ChartSource(str(CHARTS)), str(self.binaries / "helm"))

        async def apply_everything(round_: int) -> None:
            for service in services:  # dependency order, one release at a time
                for release in service.releases:
                    # A fingerprint that never matches: this baseline does not know what is already deployed.
                    await helm.install(release.name, namespace, release.chart, release.version, release.values,
                                       f"{release.fingerprint}-{round_}", release.timeout_seconds)

        start = time.monotonic()
        asyncio.run(apply_everything(1))
        elapsed = time.monotonic() - start
        time.sleep(SETTLE_SECONDS)
        since = time.time()
        asyncio.run(apply_everything(2))
        time.sleep(SETTLE_SECONDS)
        return elapsed, self.writes(namespace, since)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="osop-bench-") as directory:
        cluster = Cluster(Path(directory))
        try:
            bench = Bench(cluster, cluster.up())
            bench.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
            bench.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                          "crd/openstackdeployments.openstack.osop.dev", "crd/helmbundles.openstack.osop.dev")
            bench.start_operators()
            print(f"machine: {describe()}")
            print(f"{'example':8} {'':10} {'apply->deployed s':>18} {'writes/reconcile':>17}")
            for example in EXAMPLES:
                seq_time, seq_writes = bench.baseline(example)
                op_time, op_writes = bench.candidate(example)
                print(f"{example:8} {'baseline':10} {seq_time:18.1f} {seq_writes:17d}")
                print(f"{example:8} {'operator':10} {op_time:18.1f} {op_writes:17d}   "
                      f"speed-up {seq_time / op_time:.1f}x")
        finally:
            cluster.down()


if __name__ == "__main__":
    main()
