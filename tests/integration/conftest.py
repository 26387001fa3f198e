"""Fixtures for tests against a real kube-apiserver: the project's local control plane (devcluster), or the
cluster of $KUBECONFIG when OSOP_USE_EXISTING_CLUSTER=1. Every test gets its own namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

from devcluster import Cluster
from devcluster.binaries import bin_dir
from devcluster.charts import chart_repository as serve_chart_repository

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a real Kubernetes API server")


class Kubectl:
    """The pinned kubectl against the test cluster."""

    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary, self.kubeconfig = binary, kubeconfig

    def run(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(self.binary), f"--kubeconfig={self.kubeconfig}", *args], input=input,
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)


@pytest.fixture(scope="session")
def binaries() -> Path:
    return bin_dir()


@pytest.fixture(scope="session")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.environ.get("OSOP_USE_EXISTING_CLUSTER") == "1":
        yield Path(os.environ["KUBECONFIG"])
        return
    cluster = Cluster(tmp_path_factory.mktemp("devcluster"))
    try:
        yield cluster.up()
    finally:
        cluster.down()


class AuditLog:
    """The local control plane's audit log of API writes (see devcluster), read as the API server wrote it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def status_patches(self, namespace: str, resource: str, since: float) -> dict[str, int]:
        """PATCHes of `resource`/status in `namespace` completed after `since` (epoch seconds), by user agent. The
        log is written in batches: this waits until the count stops growing."""
        counts: dict[str, int] = {}
        deadline = time.monotonic() + 15
        while True:
            previous, counts = counts, {}
            for line in self.path.read_text().splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # the batch being written right now
                ref = event.get("objectRef") or {}
                stamp = datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00")).timestamp()
                if (event.get("verb"), ref.get("resource"), ref.get("subresource"), ref.get("namespace")) == \
                        ("patch", resource, "status", namespace) and stamp >= since:
                    agent = event.get("userAgent", "").split(" ")[0]
                    counts[agent] = counts.get(agent, 0) + 1
            if (counts == previous and counts) or time.monotonic() > deadline:
                return counts
            time.sleep(2)


@pytest.fixture(scope="session")
def audit_log(kubeconfig: Path) -> AuditLog | None:
    """None on a cluster of $KUBECONFIG (OSOP_USE_EXISTING_CLUSTER=1): its audit log is not ours to read."""
    path = kubeconfig.parent / "logs" / "audit.log"
    return AuditLog(path) if os.environ.get("OSOP_USE_EXISTING_CLUSTER") != "1" and path.exists() else None


@pytest.fixture(scope="session")
def kubectl(binaries: Path, kubeconfig: Path) -> Kubectl:
    return Kubectl(binaries / "kubectl", kubeconfig)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> None:
    kubectl.run("apply", "--server-side", "-f", str(REPO / "crds"))
    kubectl.run("wait", "--for=condition=Established", "--timeout=60s", "crd/openstackdeployments.openstack.osop.dev",
                "crd/helmbundles.openstack.osop.dev")


@pytest.fixture(scope="session")
def chart_repository() -> Iterator[str]:
    """The OpenStack-Helm chart set the catalog pins, served as a chart repository on loopback for the session
    (devcluster.charts: the shared chart set, or the pinned charts mirrored into the per-user cache)."""
    with serve_chart_repository() as url:
        yield url


class Operators:
    """The operator processes, run as users run them (`python -m openstack_operator <process>`), against the test
    cluster, with the session's chart repository as chart source and a chart cache of their own. Logs go to one
    file per process."""

    PROCESSES = ("osdpl", "helmbundle", "health")
    HEALTH_GRACE_SECONDS = 5  # no progress for longer is Unhealthy: short, so tests see it within seconds

    def __init__(self, kubeconfig: Path, helm: Path, logs: Path, chart_source: str, chart_cache: Path) -> None:
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "OSOP_HELM": str(helm),
                    "OSOP_CHART_SOURCE": chart_source, "OSOP_CHART_CACHE": str(chart_cache),
                    "PYTHONPATH": str(REPO), "OSOP_HEALTH_GRACE_SECONDS": str(self.HEALTH_GRACE_SECONDS)}
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        for name in self.PROCESSES:
            with (self.logs / f"{name}.log").open("ab") as log:
                self.procs[name] = subprocess.Popen([sys.executable, "-m", "openstack_operator", name], env=self.env,
                                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as a crashed or evicted pod."""
        for proc in self.procs.values():
            proc.kill()
            proc.wait()
        self.procs.clear()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def log_text(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-4000:]}" for p in sorted(self.logs.glob("*.log")))


@pytest.fixture(scope="session")
def operators(kubeconfig: Path, binaries: Path, crds: None, chart_repository: str,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operators]:
    running = Operators(kubeconfig, binaries / "helm", tmp_path_factory.mktemp("operator-logs"), chart_repository,
                        tmp_path_factory.mktemp("chart-cache"))
    running.start()
    yield running
    running.stop()


class Helm:
    """The pinned helm binary against the test cluster, for checking what the operator did."""

    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary, self.kubeconfig = binary, kubeconfig

    def releases(self, namespace: str) -> dict[str, dict[str, Any]]:
        result = subprocess.run([str(self.binary), "--kubeconfig", str(self.kubeconfig), "list", "-a", "-n",
                                 namespace, "-o", "json"], capture_output=True, text=True, check=True, timeout=60)
        return {r["name"]: r for r in json.loads(result.stdout)}


@pytest.fixture(scope="session")
def helm(binaries: Path, kubeconfig: Path) -> Helm:
    return Helm(binaries / "helm", kubeconfig)
