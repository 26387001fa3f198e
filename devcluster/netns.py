"""A network namespace of the devcluster's own for the real node and its control plane, and the relay that lets
processes on the host's loopback (kubectl, the tests, the operators run as local processes) reach its API server.

Nothing is added to the host's network: no interface, route, rule or sysctl. The node's IP sits on the namespace's
own loopback (the kernel here has no dummy device); pods hang off a bridge inside the namespace."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from devcluster import processes

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000


class NetnsError(Exception):
    pass


def path(name: str) -> Path:
    return NETNS_DIR / name


def enter_argv(name: str) -> list[str]:
    """The prefix that runs a command in the namespace. `nsenter --net` changes the network namespace alone:
    `ip netns exec` would also give each process a mount namespace of its own, and the kubelet's volume mounts must
    be seen by containerd and runc."""
    return ["nsenter", f"--net={path(name)}"]


def unavailable() -> str | None:
    """Why this machine cannot make the namespace (None when it can)."""
    if os.geteuid() != 0:
        return "the real node needs root (network namespaces, mounts, cgroups)"
    missing = [tool for tool in ("ip", "nsenter", "iptables", "mount", "umount") if shutil.which(tool) is None]
    if missing:
        return f"the real node needs {', '.join(missing)} on PATH"
    return None


def _ip(*args: str, name: str | None = None) -> None:
    argv = [*(enter_argv(name) if name else []), "ip", *args]
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise NetnsError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")


def create(name: str, node_ip: str) -> None:
    """The namespace with loopback up and the node's IP on it, forwarding on, bridged traffic through iptables (a
    pod that reaches a Service backed by a pod on the same bridge gets its answer through kube-proxy's NAT)."""
    if path(name).exists():
        delete(name)
    _ip("netns", "add", name)
    try:
        _ip("link", "set", "lo", "up", name=name)
        _ip("addr", "add", f"{node_ip}/32", "dev", "lo", name=name)
        for key, value in (("net/ipv4/ip_forward", "1"), ("net/bridge/bridge-nf-call-iptables", "1"),
                           ("net/ipv4/conf/all/route_localnet", "1")):
            _sysctl(name, key, value)
    except BaseException:
        delete(name)
        raise


def _sysctl(name: str, key: str, value: str) -> None:
    # Written from inside: /proc/sys/net is per network namespace.
    argv = [*enter_argv(name), "sh", "-c", f"echo {value} > /proc/sys/{key}"]
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0 and "bridge" not in key:  # no br_netfilter: pods on one bridge still reach each other
        raise NetnsError(f"cannot set {key} in the namespace {name}: {result.stderr.strip()}")


def delete(name: str) -> None:
    if path(name).exists():
        subprocess.run(["ip", "netns", "delete", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pids_inside(name: str) -> list[int]:
    """Processes whose network namespace is this one (whatever started them): what a teardown must end first."""
    try:
        target = os.stat(path(name))
    except OSError:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ns = os.stat(entry / "ns" / "net")
            except OSError:
                continue
            if (ns.st_dev, ns.st_ino) == (target.st_dev, target.st_ino):
                found.append(int(entry.name))
    return found


def kill_inside(name: str, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, every process left in the namespace (each alone: it need not lead a process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = pids_inside(name)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if processes.alive(pid)]
            time.sleep(0.1)
        if not pids:
            return


def join(name: str) -> None:
    """Move the calling thread into the namespace: sockets it makes from now on live there."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path(name), os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise NetnsError(f"setns({path(name)}): {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)
