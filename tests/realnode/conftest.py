"""The real-node tier: a local control plane in a network namespace of its own next to a real node (containerd,
runc, kubelet, kube-proxy, CoreDNS; devcluster.node), where pods start for real: images, Secrets, init containers,
probes, Services and DNS all have to exist and work, which kwok's always-Ready pods never show.

It runs where the machine allows it (root and network namespaces) and is skipped with the reason elsewhere. One
cluster for the tier: its tests only add objects of their own."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from devcluster import Cluster, images, netns
from devcluster.binaries import bin_dir

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
    reason = netns.unavailable()
    if reason:
        pytest.skip(f"no real node on this machine: {reason}")
    timings: dict[str, float] = {}
    start = time.monotonic()
    operator_image, operator_archive = images.operator()
    archives = [images.entrypoint(), operator_archive]
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
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}\n{describe()}")
