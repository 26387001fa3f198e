"""The real-node tier: a local control plane in a network namespace of its own next to a real node (containerd,
runc, kubelet, kube-proxy, CoreDNS; devcluster.node), where pods start for real: images, Secrets, init containers,
probes, Services and DNS all have to exist and work, which kwok's always-Ready pods never show.

It runs where the machine allows it (root and network namespaces) and is skipped with the reason elsewhere. One
cluster for the tier: its tests only add objects of their own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from devcluster import Cluster, images, netns, node
from devcluster.binaries import REPO, bin_dir
from devcluster.charts import chart_directory

from .. import polling
from ..integration.conftest import Kubectl


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.realnode)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "realnode: needs root and network namespaces (a real node)")


class RealCluster:
    def __init__(self, cluster: Cluster, kubectl: Kubectl, operator_image: str, timings: dict[str, float]) -> None:
        self.cluster, self.kubectl, self.operator_image, self.timings = cluster, kubectl, operator_image, timings


@pytest.fixture(scope="session")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    if os.geteuid() == 0:
        node.node_bin_dir()  # the node's parts, and the host tools its namespace needs (tools/build-node.sh)
    reason = netns.unavailable()
    if reason:
        pytest.skip(f"no real node on this machine: {reason}")
    timings: dict[str, float] = {}
    start = time.monotonic()
    operator_image, operator_archive = images.operator()
    archives = [images.entrypoint(), operator_archive, *images.identity_stack()]
    timings["images"] = time.monotonic() - start
    cluster = Cluster(tmp_path_factory.mktemp("realnode"))
    start = time.monotonic()
    try:
        cluster.up(real_node=True, images=archives)
        timings["cluster and node up"] = time.monotonic() - start
        yield RealCluster(cluster, Kubectl(bin_dir() / "kubectl", cluster.kubeconfig), operator_image, timings)
    finally:
        cluster.down()


def wait_until(what: str, check: Callable[[], Any], timeout: float = 120.0,
               describe: Callable[[], str] = lambda: "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    for pause in polling.pauses():
        if time.monotonic() >= deadline:
            break
        last = check()
        if last:
            return last
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}\n{describe()}")


OPERATOR_NAMESPACE = "openstack-operator"
WATCHED = "openstack"  # the namespace the operator's chart gives it, where the tier's osdpl goes
CHART_PORT = 8879


def helm(real: RealCluster, *args: str) -> subprocess.CompletedProcess[str]:
    binary = real.kubectl.binary.parent / "helm"  # the pinned helm, built next to kubectl
    return subprocess.run([str(binary), f"--kubeconfig={real.cluster.kubeconfig}", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="session")
def operator_release(real: RealCluster) -> Iterator[str]:
    """The operator installed as users install it: its chart, its image (imported on the node, found there by the
    chart's `IfNotPresent`), every pod on the real node, the OpenStack-Helm charts from a repository on the node's
    IP (the pods cannot reach the host's loopback)."""
    state = real.cluster.running()
    assert state is not None and state.netns
    real.cluster.start_process(
        "chart-repository", [*netns.enter_argv(state.netns), sys.executable, "-m",
                             "devcluster.charts", "serve", "--address", node.NODE_IP, "--port", str(CHART_PORT),
                             "--directory", str(chart_directory())],
        {**os.environ, "PYTHONPATH": str(REPO)})
    repository, tag = real.operator_image.rsplit(":", 1)
    real.kubectl.run("create", "namespace", WATCHED, check=False)  # the chart binds its Roles there
    release = "openstack-operator"
    result = helm(real, "install", release, str(REPO / "charts" / "openstack-operator"), "--namespace",
                  OPERATOR_NAMESPACE, "--create-namespace", f"--set=image.repository={repository}",
                  f"--set=image.tag={tag}", "--set=nodeSelector.type=real", f"--set=namespaces={{{WATCHED}}}",
                  f"--set=chartSource=http://{node.NODE_IP}:{CHART_PORT}", "--wait", "--timeout=240s")
    assert result.returncode == 0, result.stderr
    yield release
    helm(real, "uninstall", release, "--namespace", OPERATOR_NAMESPACE, "--wait")
