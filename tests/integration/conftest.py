"""Fixtures for tests against a real kube-apiserver: the project's local control plane (devcluster), or the
cluster of $KUBECONFIG when OSOP_USE_EXISTING_CLUSTER=1. Every test gets its own namespace."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from devcluster import Cluster
from devcluster.binaries import bin_dir

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
