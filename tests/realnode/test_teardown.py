"""`devcluster down` of a cluster with a real node running pods leaves nothing on the machine: no process, mount,
cgroup, network namespace, iptables rule of the host, or file of containerd's outside the cluster's folder."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from devcluster import Cluster, netns, node
from devcluster.binaries import bin_dir

from ..integration.conftest import Kubectl
from .conftest import RealCluster, wait_until


def _host_iptables() -> str:
    return subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout


def _mounts_below(folder: Path) -> list[str]:
    with open("/proc/self/mountinfo") as info:
        return [line.split()[4] for line in info if line.split()[4].startswith(str(folder))]


def _processes_naming(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found


def test_down_leaves_nothing_behind(real: RealCluster, tmp_path: Path) -> None:
    """A cluster of its own (the module's goes on), with a pod running and one waiting on a missing Secret."""
    del real  # only to share the module's skip and image builds: the node parts are built
    iptables_before = _host_iptables()
    cluster = Cluster(tmp_path / "cluster")
    cluster.up(real_node=True)
    try:
        state = cluster.running()
        assert state and state.netns
        paths = node.NodePaths.of(cluster.dir)
        kubectl = Kubectl(bin_dir() / "kubectl", cluster.kubeconfig)
        pause = node.pinned_node_versions()["PAUSE_IMAGE"]
        kubectl.run("run", "sleeper", f"--image={pause}", "--image-pull-policy=IfNotPresent",
                    "--overrides", '{"spec": {"nodeSelector": {"type": "real"}}}')
        wait_until("the pod running", lambda: kubectl.run("get", "pod", "sleeper", "-o",
                                                          "jsonpath={.status.phase}").stdout == "Running")
        assert _mounts_below(paths.state) and _processes_naming(str(paths.containerd_socket))
    finally:
        start = time.monotonic()
        cluster.down()
        took = time.monotonic() - start
    print(f"down in {took:.1f}s")
    assert not netns.path(state.netns).exists()
    assert not _mounts_below(paths.state) and not _mounts_below(paths.run)
    assert not _processes_naming(str(cluster.dir)) and not _processes_naming(str(paths.run))
    assert not paths.run.exists() and not paths.state.exists()
    assert not [p for p in Path("/sys/fs/cgroup").glob(f"*/{paths.cgroup_name}")]
    assert not list(node.CNI_RESULTS.glob(f"{paths.cgroup_name}-*"))
    assert _host_iptables() == iptables_before  # every rule was the namespace's
