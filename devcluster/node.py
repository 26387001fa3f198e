"""The devcluster's real node: containerd with runc, the kubelet, kube-proxy and CoreDNS, in the cluster's network
namespace (devcluster.netns), so that pods start for real: images, init containers, probes, volumes, Services.

Its parts are built from Go modules by tools/build-node.sh. It registers with a certificate of its own
(system:node:<name>, under the Node authorizer and NodeRestriction), not the admin's. `stop` leaves nothing behind:
pods first, then the kubelet's and containerd's mounts, the cgroups, containerd's paths."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from devcluster import netns, processes
from devcluster.binaries import REPO

NODE_NAME = "real-0"
NODE_IP = "10.251.0.1"
POD_SUBNET = "10.250.0.0/24"
CLUSTER_DNS = "10.96.0.10"
CNI_BRIDGE = "osop0"
# The node's processes in the cluster's state, in the order they start.
NODE_PROCESSES = ("containerd", "kubelet", "kube-proxy", "coredns")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# containerd puts its shims' sockets below /run/containerd/s and the CNI library its results below
# /var/lib/cni/results whatever containerd's root and state are: shared with any other node on this machine (the
# demo's next to a test run's), so a teardown removes its own entries there and the folders only once empty.
SHIM_SOCKETS = Path("/run/containerd/s")
CNI_RESULTS = Path("/var/lib/cni/results")


class NodeError(Exception):
    pass


@lru_cache(maxsize=1)
def node_bin_dir() -> Path:
    """The real node's parts, built on first use (a few minutes cold) and cached per user."""
    result = subprocess.run([str(REPO / "tools" / "build-node.sh")], check=True, stdout=subprocess.PIPE, text=True)
    return Path(result.stdout.strip().splitlines()[-1])


def pinned_node_versions() -> dict[str, str]:
    lines = (REPO / "tools" / "node-versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


@dataclass(frozen=True)
class NodePaths:
    """Where the node keeps its state: short folders of its own below /var/lib and /run, not in the cluster's
    folder, because a unix socket's path is limited to 107 bytes (the kubelet makes its sockets below its root) and
    a cluster folder can be deep."""

    state: Path
    run: Path

    @classmethod
    def of(cls, cluster_dir: Path) -> NodePaths:
        digest = hashlib.sha256(str(cluster_dir).encode()).hexdigest()[:8]
        return cls(state=Path("/var/lib") / f"osop-{digest}", run=Path("/run") / f"osop-{digest}")

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def cgroup_name(self) -> str:
        return self.run.name


class RealNode:
    def __init__(self, cluster_dir: Path, pki: Path, logs: Path, netns_name: str, api_server: str,
                 labels: dict[str, str]) -> None:
        self.paths = NodePaths.of(cluster_dir)
        self.labels = labels
        self.pki = pki
        self.logs = logs
        self.netns = netns_name
        self.api_server = api_server
        self.bin = node_bin_dir()

    # -- start -------------------------------------------------------------------------------------------------------
    def start(self, pids: dict[str, int], images: list[Path]) -> None:
        """Start containerd, import the images, then the kubelet, kube-proxy and CoreDNS; `pids` gets their pids as
        each starts (the caller saves them, so a failure half-way is still torn down)."""
        self.paths.state.mkdir(parents=True, exist_ok=True)
        self.paths.run.mkdir(parents=True, exist_ok=True)
        self._make_cgroups()
        self._write_configs()
        env = {"PATH": f"{self.bin}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"}
        pids["containerd"] = self._start("containerd", [str(self.bin / "containerd"), "--config",
                                                        str(self.paths.state / "containerd.toml")], env)
        self._wait("containerd", lambda: self._ctr("version").returncode == 0, 30)
        for archive in [self.bin / "pause.tar", *images]:
            result = self._ctr("images", "import", "--local", str(archive))
            if result.returncode != 0:
                raise NodeError(f"cannot import {archive} into the node's containerd: {result.stderr.strip()}")
        pids["kubelet"] = self._start("kubelet", [
            str(self.bin / "kubelet"), f"--config={self.paths.state / 'kubelet.yaml'}",
            f"--kubeconfig={self.paths.state / 'kubelet.kubeconfig'}", f"--hostname-override={NODE_NAME}",
            f"--node-ip={NODE_IP}", f"--root-dir={self.paths.kubelet_root}",
            f"--node-labels={','.join(f'{k}={v}' for k, v in self.labels.items())}"], env)
        pids["kube-proxy"] = self._start("kube-proxy", [str(self.bin / "kube-proxy"),
                                                        f"--config={self.paths.state / 'kube-proxy.yaml'}"], env)
        pids["coredns"] = self._start("coredns", [str(self.bin / "coredns"), "-conf",
                                                  str(self.paths.state / "Corefile")], env)

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> int:
        return processes.start([*netns.enter_argv(self.netns), *argv], self.logs / f"{name}.log", env)

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin / "ctr"), f"--address={self.paths.containerd_socket}", "-n", "k8s.io",
                               *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def _wait(what: str, check: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.2)
        raise NodeError(f"timed out waiting for {what}")

    def _make_cgroups(self) -> None:
        """The pods' cgroup parent in every cgroup v1 hierarchy (or the v2 tree): the kubelet makes `kubepods`
        below it, so a teardown removes one folder per hierarchy and touches nothing else of the host's."""
        for root in self._cgroup_roots():
            folder = root / self.paths.cgroup_name
            folder.mkdir(exist_ok=True)
            if root.name == "cpuset":  # a new v1 cpuset is empty: no task could join it
                for key in ("cpuset.cpus", "cpuset.mems"):
                    (folder / key).write_text((root / key).read_text())

    @staticmethod
    def _cgroup_roots() -> list[Path]:
        if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2: one tree
            return [CGROUP_ROOT]
        # v1 hierarchies, and the v2 tree a hybrid host mounts at `unified` (runc makes the pods' folders there too)
        return [p for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink() and (p / "cgroup.procs").exists()]

    def _write_configs(self) -> None:
        state, pki = self.paths.state, self.pki
        pinned = pinned_node_versions()
        (state / "containerd.toml").write_text(f"""version = 3
root = "{state / 'containerd'}"
state = "{self.paths.run / 'containerd-state'}"
[grpc]
  address = "{self.paths.containerd_socket}"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "{pinned['PAUSE_IMAGE']}"
[plugins.'io.containerd.cri.v1.runtime']
  # No CAP_SYS_RESOURCE here: a container may only raise its OOM score, as the runtime does when unprivileged.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = "{self.bin / 'runc'}"
  Root = "{self.paths.run / 'runc'}"
  SystemdCgroup = false
[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["{self.bin / 'cni'}"]
  conf_dir = "{state / 'cni'}"
  # Loopback set up by containerd itself: no CNI result of its own in the shared cache.
  use_internal_loopback = true
""")
        (state / "cni").mkdir(exist_ok=True)
        (state / "cni" / "10-osop.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": self.paths.cgroup_name,  # names its entries in CNI_RESULTS
            "plugins": [{"type": "bridge", "bridge": CNI_BRIDGE, "isGateway": True, "ipMasq": True,
                         "hairpinMode": True,
                         "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_SUBNET}]],
                                  "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(state / "ipam")}},
                        {"type": "portmap", "capabilities": {"portMappings": True}}],
        }, indent=2))
        (state / "resolv.conf").write_text(f"nameserver {CLUSTER_DNS}\nsearch cluster.local\n")
        self._kubeconfig(state / "kubelet.kubeconfig", "kubelet")
        self._kubeconfig(state / "kube-proxy.kubeconfig", "kube-proxy")
        self._kubeconfig(state / "coredns.kubeconfig", "admin")
        (state / "kubelet.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": NODE_IP, "readOnlyPort": 0, "healthzBindAddress": "127.0.0.1", "healthzPort": 10248,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(pki / "ca.crt")}},
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.paths.containerd_socket}",
            "cgroupDriver": "cgroupfs", "cgroupRoot": f"/{self.paths.cgroup_name}",
            # This machine: cgroup v1, swap possibly on. Both refused by default since 1.35.
            "failCgroupV1": False, "failSwapOn": False,
            "clusterDNS": [CLUSTER_DNS], "clusterDomain": "cluster.local",
            "resolvConf": str(state / "resolv.conf"),
            # The images were imported, not pulled: garbage collection would delete what cannot come back.
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "serializeImagePulls": False, "staticPodPath": "", "protectKernelDefaults": False,
            "maxPods": 110,
        }))
        (state / "kube-proxy.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(state / "kube-proxy.kubeconfig")},
            "hostnameOverride": NODE_NAME, "mode": "iptables", "clusterCIDR": POD_SUBNET,
            "bindAddress": NODE_IP, "healthzBindAddress": "127.0.0.1:10256", "metricsBindAddress": "127.0.0.1:10249",
            # Not allowed to raise nf_conntrack_max here (a host-wide setting): leave it as it is.
            "conntrack": {"maxPerCore": 0},
        }))
        (state / "Corefile").write_text(f""".:53 {{
    bind {NODE_IP}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {state / 'coredns.kubeconfig'} devcluster
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
}}
""")

    def _kubeconfig(self, target: Path, user: str) -> None:
        pki = self.pki
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "devcluster",
            "clusters": [{"name": "devcluster", "cluster": {"server": self.api_server,
                                                            "certificate-authority": str(pki / "ca.crt")}}],
            "users": [{"name": user, "user": {"client-certificate": str(pki / f"{user}.crt"),
                                              "client-key": str(pki / f"{user}.key")}}],
            "contexts": [{"name": "devcluster", "context": {"cluster": "devcluster", "user": user}}],
        }
        target.write_text(yaml.safe_dump(config))
        target.chmod(0o600)


    # -- stop --------------------------------------------------------------------------------------------------------
    def stop(self, pids: dict[str, int]) -> None:
        """Pods first (every container task, then containerd's shims), the node's processes, every mount below the
        node's folders, the cgroups, containerd's paths. Safe to call on a half-started or stopped node."""
        for name in ("kubelet", "kube-proxy", "coredns"):
            if name in pids:
                processes.stop(pids.pop(name))
        if "containerd" in pids and processes.alive(pids["containerd"]):
            self._stop_containers()
        for pid in self._shim_pids():
            processes.stop(pid, timeout=5.0)
        if "containerd" in pids:
            processes.stop(pids.pop("containerd"))
        self._unmount_below([self.paths.state, self.paths.run])
        self._remove_cgroups()
        self._remove_shared_entries()
        shutil.rmtree(self.paths.run, ignore_errors=True)
        shutil.rmtree(self.paths.state, ignore_errors=True)

    def _remove_shared_entries(self) -> None:
        for result in CNI_RESULTS.glob(f"{self.paths.cgroup_name}-*"):
            result.unlink(missing_ok=True)
        for path in SHIM_SOCKETS.glob("*"):  # ours are the ones no shim answers on any more
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                try:
                    probe.connect(str(path))
                except (ConnectionRefusedError, FileNotFoundError):
                    path.unlink(missing_ok=True)
                except OSError:
                    pass
        for folder in (SHIM_SOCKETS, SHIM_SOCKETS.parent, CNI_RESULTS, CNI_RESULTS.parent):
            try:
                folder.rmdir()
            except OSError:  # not empty (another node's) or gone
                pass

    def _stop_containers(self) -> None:
        listed = self._ctr("tasks", "list", "--quiet")
        for task in listed.stdout.split():
            self._ctr("tasks", "kill", "--signal", "SIGKILL", "--all", task)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._ctr("tasks", "list", "--quiet").stdout.split():
            for task in self._ctr("tasks", "list", "--quiet").stdout.split():
                self._ctr("tasks", "delete", "--force", task)
            time.sleep(0.2)

    def _shim_pids(self) -> list[int]:
        """containerd's shims start their own sessions: ending containerd leaves them running."""
        address = str(self.paths.containerd_socket)
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    argv = (entry / "cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if argv and argv[0].endswith(b"containerd-shim-runc-v2") and address.encode() in argv:
                    found.append(int(entry.name))
        return found

    @staticmethod
    def _unmount_below(folders: list[Path]) -> None:
        prefixes = [str(folder.resolve()) + "/" for folder in folders]
        mounts = []
        with open("/proc/self/mountinfo") as info:
            for line in info:
                point = line.split()[4].replace("\\040", " ")
                if any((point + "/").startswith(prefix) for prefix in prefixes):
                    mounts.append(point)
        for point in sorted(mounts, key=len, reverse=True):  # deepest first
            subprocess.run(["umount", "--lazy", point], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _remove_cgroups(self) -> None:
        for root in self._cgroup_roots():
            folder = root / self.paths.cgroup_name
            if folder.is_dir():
                for dirpath, _, _ in sorted(os.walk(folder), key=lambda entry: len(entry[0]), reverse=True):
                    try:
                        os.rmdir(dirpath)
                    except OSError:
                        pass


def add_cluster_dns(client: Any) -> None:
    """The `kube-dns` Service at the kubelet's cluster DNS address, backed by CoreDNS on the node's IP (a process in
    the namespace, not a pod: nothing to pull, up before the first pod)."""
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
               "spec": {"clusterIP": CLUSTER_DNS,
                        "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                                  {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}}
    slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": {"name": "kube-dns-node", "namespace": "kube-system",
                           "labels": {"kubernetes.io/service-name": "kube-dns",
                                      "endpointslice.kubernetes.io/managed-by": "devcluster"}},
              "addressType": "IPv4",
              "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}, "nodeName": NODE_NAME}],
              "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}
    for path, body in (("/api/v1/namespaces/kube-system/services", service),
                       ("/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices", slice_)):
        status, response = client.request("POST", path, body, timeout=30.0)
        if status not in (201, 409):
            raise NodeError(f"cannot create {body['kind']} kube-system/kube-dns: {status} {response}")
