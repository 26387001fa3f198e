"""The local control plane: start, reuse, stop. State (PKI, etcd data, logs, pids, ports) lives in one folder."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devcluster import addons, netns, node, processes
from devcluster.api import AdminClient
from devcluster.binaries import REPO, bin_dir
from devcluster.certs import make_pki

# Fake nodes kwok keeps Ready, with the node labels OpenStack-Helm charts select by default (their `labels:`
# values): control-plane nodes run the APIs, MariaDB, RabbitMQ, memcached, the Jobs and the neutron L3, DHCP and
# metadata agents (OpenStack-Helm's network role is on the control plane); compute nodes run nova-compute and
# libvirt; both run Open vSwitch and the neutron OVS agent. Not set: `sriov=enabled` (nodes with SR-IOV NICs only).
CONTROL_PLANE_LABELS = {"openstack-control-plane": "enabled", "openvswitch": "enabled"}
COMPUTE_LABELS = {"openstack-compute-node": "enabled", "openvswitch": "enabled"}
NODES = {
    **{f"ctl-{i}": CONTROL_PLANE_LABELS for i in range(3)},
    **{f"cmp-{i}": COMPUTE_LABELS for i in range(2)},
}
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
SERVICE_CIDR = "10.96.0.0/16"
NODE_LEASE_SECONDS = 40  # as the kubelet's default


class ClusterError(Exception):
    pass


@dataclass
class State:
    pids: dict[str, int]
    ports: dict[str, int]
    # The network namespace the control plane and the real node run in (None: the host's loopback, kwok only).
    netns: str | None = None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"


class Cluster:
    def __init__(self, directory: Path) -> None:
        self.dir = directory.resolve()
        self.pki = self.dir / "pki"
        self.logs = self.dir / "logs"
        self.kubeconfig = self.dir / "kubeconfig"
        self._state_file = self.dir / "state.json"

    # -- state -------------------------------------------------------------------------------------------------
    def _load_state(self) -> State | None:
        try:
            raw = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return None
        return State(pids=raw["pids"], ports=raw["ports"], netns=raw.get("netns"))

    def _save_state(self, state: State) -> None:
        self._state_file.write_text(json.dumps({"pids": state.pids, "ports": state.ports, "netns": state.netns},
                                               indent=2))

    def _netns_name(self) -> str:
        return "osop-" + node.NodePaths.of(self.dir).cgroup_name.removeprefix("osop-")

    def _inside(self, state: State) -> list[str]:
        """The prefix that runs a control-plane process where the cluster lives."""
        return netns.enter_argv(state.netns) if state.netns else []

    CORE = ("etcd", "apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

    def running(self) -> State | None:
        """The state of a live cluster in this folder (every control-plane process alive and the API ready)."""
        state = self._load_state()
        if state is None or not all(processes.alive(pid) for name, pid in state.pids.items()
                                    if name in (*self.CORE, "relay", *node.NODE_PROCESSES)):
            return None
        return state if AdminClient(state.server, self.pki).ready() else None

    # -- up ----------------------------------------------------------------------------------------------------
    def up(self, timeout: float = 120.0, controllers: bool = True, real_node: bool = False,
           images: list[Path] | None = None) -> Path:
        """Start the control plane (or reuse a live one) and return the admin kubeconfig path.

        `controllers=False`: etcd and kube-apiserver only (as envtest), for benchmarks that write workload
        statuses themselves and must not have a controller overwrite them.

        `real_node=True`: the control plane runs in a network namespace of its own next to a real node
        (devcluster.node) that runs pods for real, with `images` (OCI archives) imported into its containerd. The
        real node carries none of the charts' node labels, only `type=real`: the kwok nodes keep every role, and a
        pod runs for real where it asks for that node (a nodeSelector, a chart's `labels` values). The kubeconfig's
        address reaches it from the host through a relay."""
        state = self.running()
        if state and (not controllers or "kwok" in state.pids) and bool(state.netns) == real_node:
            return self.kubeconfig
        self.down()  # whatever half-started before goes first
        binaries = bin_dir()
        if real_node:
            reason = netns.unavailable()
            if reason:
                raise ClusterError(reason)
            node.node_bin_dir()  # built before anything starts: minutes, cold
        self.logs.mkdir(parents=True, exist_ok=True)
        make_pki(self.pki, (node.NODE_NAME, node.NODE_IP) if real_node else None)
        state = State(pids={}, ports={name: processes.free_port() for name in ("etcd", "etcd_peer", "apiserver")},
                      netns=self._netns_name() if real_node else None)
        self._save_state(state)
        self._write_kubeconfig(state)
        start = time.monotonic()
        try:
            if state.netns:
                netns.create(state.netns, node.NODE_IP)
                # The same port on the host's loopback as inside: one kubeconfig serves both sides.
                state.pids["relay"] = processes.start(
                    [sys.executable, "-m", "devcluster.relay", str(state.ports["apiserver"]), state.netns,
                     f"127.0.0.1:{state.ports['apiserver']}"], self.logs / "relay.log",
                    {**os.environ, "PYTHONPATH": str(REPO)})
            state.pids["etcd"] = processes.start(self._etcd_argv(binaries, state), self.logs / "etcd.log")
            self._save_state(state)
            state.pids["apiserver"] = processes.start(self._apiserver_argv(binaries, state),
                                                      self.logs / "kube-apiserver.log")
            self._save_state(state)
            client = AdminClient(state.server, self.pki)
            self._wait("kube-apiserver ready", client.ready, start + timeout, state)
            if controllers:
                for name, argv in self._controller_argvs(binaries, state).items():
                    state.pids[name] = processes.start(argv, self.logs / f"{name}.log")
                    self._save_state(state)
                self._create_nodes(client)
                if state.netns:
                    self._real_node(state).start(state.pids, images or [])
                    self._save_state(state)
                    node.add_cluster_dns(client)
            # Gateway API CRDs and StorageClasses, in every mode; meanwhile the controllers start and kwok takes the
            # nodes over. No workload exists before `up` returns: none misses a StorageClass.
            crds = addons.install(client, binaries)
            if controllers:
                self._wait("nodes Ready", lambda: self._nodes_ready(client, real_node), start + timeout, state)
                self._wait("default service account", lambda: self._has_default_sa(client), start + timeout, state)
            self._wait("Gateway API CRDs Established", lambda: addons.established(client, crds), start + timeout,
                       state)
        except (addons.AddonError, netns.NetnsError, node.NodeError) as error:
            self.down()
            raise ClusterError(str(error)) from error
        except BaseException:
            self.down()
            raise
        return self.kubeconfig

    def _wait(self, what: str, check: Any, deadline: float, state: State) -> None:
        while time.monotonic() < deadline:
            dead = [name for name, pid in state.pids.items() if not processes.alive(pid)]
            if dead:
                raise ClusterError(f"{', '.join(dead)} exited while waiting for {what}; see {self.logs}")
            if check():
                return
            time.sleep(0.25)
        raise ClusterError(f"timed out waiting for {what}; see {self.logs}")

    def _real_node(self, state: State) -> node.RealNode:
        assert state.netns
        return node.RealNode(self.dir, self.pki, self.logs, state.netns, state.server,
                             {"type": "real"})

    def _etcd_argv(self, binaries: Path, state: State) -> list[str]:
        client = f"http://127.0.0.1:{state.ports['etcd']}"
        peer = f"http://127.0.0.1:{state.ports['etcd_peer']}"
        return [*self._inside(state), str(binaries / "etcd"), "--name=devcluster", f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=devcluster={peer}",
                # A throwaway test database: durability across power loss is not worth the fsync latency.
                "--unsafe-no-fsync", "--log-level=warn"]

    def _apiserver_argv(self, binaries: Path, state: State) -> list[str]:
        pki = self.pki
        # With a real node, inside its namespace: on every address there (the pods reach it at the node's IP
        # through the `kubernetes` Service), calling kubelets with a certificate of its own, nodes held to their own
        # objects by the Node authorizer and NodeRestriction.
        placement = ["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--authorization-mode=RBAC"]
        if state.netns:
            placement = ["--bind-address=0.0.0.0", f"--advertise-address={node.NODE_IP}",
                         "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
                         f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                         f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                         "--kubelet-preferred-address-types=InternalIP,Hostname"]
        return [*self._inside(state), str(binaries / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{state.ports['etcd']}", *placement,
                f"--secure-port={state.ports['apiserver']}",
                f"--cert-dir={pki}", f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}", f"--client-ca-file={pki / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                f"--audit-policy-file={self._audit_policy()}",
                f"--audit-log-path={self.logs / 'audit.log'}", "--audit-log-maxsize=200",
                "--audit-log-maxbackup=1", "--audit-log-mode=batch"]

    def _audit_policy(self) -> Path:
        # Writes only, metadata level: lets tests and benchmarks count API writes (e.g. status PATCHes).
        policy = self.dir / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump({
            "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
            "rules": [{"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
                      {"level": "None"}],
        }))
        return policy

    def _controller_argvs(self, binaries: Path, state: State) -> dict[str, list[str]]:
        kubeconfig = f"--kubeconfig={self.kubeconfig}"
        pki = self.pki
        inside = self._inside(state)
        return {
            "kube-controller-manager": [
                *inside, str(binaries / "kube-controller-manager"), kubeconfig, "--leader-elect=false",
                "--bind-address=127.0.0.1", "--secure-port=0",
                f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
                "--use-service-account-credentials=true", f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--concurrent-deployment-syncs=10", "--concurrent-statefulset-syncs=10",
                # The default 20 requests/s makes 300 new Deployments take 15 s to get a status; tests need less.
                "--kube-api-qps=200", "--kube-api-burst=400",
                # Binds claims of the host-path StorageClasses (devcluster.addons): StatefulSets with volume claim
                # templates (MariaDB, RabbitMQ) get scheduled.
                "--enable-hostpath-provisioner",
            ],
            "kube-scheduler": [*inside, str(binaries / "kube-scheduler"), kubeconfig, "--leader-elect=false",
                               "--bind-address=127.0.0.1", "--secure-port=0"],
            "kwok": [*inside, str(binaries / "kwok"), kubeconfig, "--manage-all-nodes=false",
                     f"--manage-nodes-with-annotation-selector={'='.join(KWOK_ANNOTATION)}",
                     "--cidr=10.244.0.1/16", "--node-ip=10.0.0.1",
                     # Heartbeats by Lease: without them kwok posts node status only every minute or so, the node
                     # controller marks the nodes NotReady (grace 50 s) and every pod not ready, for good.
                     f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}"],
        }

    def _write_kubeconfig(self, state: State) -> None:
        def b64(name: str) -> str:
            return base64.b64encode((self.pki / name).read_bytes()).decode()

        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "devcluster",
            "clusters": [{"name": "devcluster", "cluster": {"server": state.server,
                                                            "certificate-authority-data": b64("ca.crt")}}],
            "users": [{"name": "admin", "user": {"client-certificate-data": b64("admin.crt"),
                                                 "client-key-data": b64("admin.key")}}],
            "contexts": [{"name": "devcluster", "context": {"cluster": "devcluster", "user": "admin"}}],
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    def _create_nodes(self, client: AdminClient) -> None:
        for name, labels in NODES.items():
            node = {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "annotations": {KWOK_ANNOTATION[0]: KWOK_ANNOTATION[1]},
                             "labels": {**labels, "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                        "type": "kwok"}},
                "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "250"},
                           "capacity": {"cpu": "32", "memory": "256Gi", "pods": "250"}},
            }
            status, body = client.request("POST", "/api/v1/nodes", node)
            if status not in (201, 409):
                raise ClusterError(f"cannot create node {name}: {status} {body}")

    def _nodes_ready(self, client: AdminClient, real_node: bool) -> bool:
        status, body = client.request("GET", "/api/v1/nodes")
        if status != 200:
            return False
        ready = {item["metadata"]["name"] for item in body["items"]
                 if any(c["type"] == "Ready" and c["status"] == "True"
                        for c in item.get("status", {}).get("conditions", []))}
        return {*NODES, *([node.NODE_NAME] if real_node else [])} <= ready

    @staticmethod
    def _has_default_sa(client: AdminClient) -> bool:
        status, _ = client.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        return status == 200

    def restart_apiserver(self, down_seconds: float = 5.0, timeout: float = 60.0) -> None:
        """Stop kube-apiserver (SIGTERM, as in a rolling upgrade of the control plane), keep it down for
        `down_seconds`, start it again on the same port and wait until it is ready: every client sees its
        connections and watches end, then errors, then the API back.

        The cluster's own controllers (kube-controller-manager, kube-scheduler, kwok) are restarted with it: observed
        here, kube-controller-manager's informers can stay behind an API server that restarted under them ("read
        version ... is not as new as written version") and never update a StatefulSet's status again, which would
        test the local control plane rather than the clients of the API server."""
        state = self.running()
        if state is None:
            raise ClusterError("the cluster is not running")
        controllers = {name: argv for name, argv in self._controller_argvs(bin_dir(), state).items()
                       if name in state.pids}
        for name in controllers:
            processes.stop(state.pids.pop(name))
        processes.stop(state.pids["apiserver"])
        time.sleep(down_seconds)
        state.pids["apiserver"] = processes.start(self._apiserver_argv(bin_dir(), state),
                                                  self.logs / "kube-apiserver.log")
        self._save_state(state)
        self._wait("kube-apiserver ready", AdminClient(state.server, self.pki).ready, time.monotonic() + timeout,
                   state)
        for name, argv in controllers.items():
            state.pids[name] = processes.start(argv, self.logs / f"{name}.log")
        self._save_state(state)

    # -- extra processes ------------------------------------------------------------------------------------------
    def start_process(self, name: str, argv: list[str], env: dict[str, str]) -> int:
        """Start a process that belongs with this cluster (e.g. an operator), replacing one of the same name;
        `down` stops it before the control plane."""
        state = self.running()
        if state is None:
            raise ClusterError("the cluster is not running")
        if name in state.pids:
            processes.stop(state.pids[name])
        state.pids[name] = processes.start(argv, self.logs / f"{name}.log", env)
        self._save_state(state)
        return state.pids[name]

    # -- down --------------------------------------------------------------------------------------------------
    def down(self) -> None:
        """Stop every process this folder's cluster started, controllers first, and remove its state."""
        state = self._load_state()
        if state is not None:
            if processes.alive(state.pids.get("apiserver", 0)) and (self.pki / "admin.key").exists():
                addons.remove_volume_directories(AdminClient(state.server, self.pki))
            core = list(reversed(self.CORE))
            on_top = [n for n in state.pids if n not in core and n not in node.NODE_PROCESSES]
            for name in on_top:  # processes started on top first (operators)
                processes.stop(state.pids[name])
            if state.netns:
                self._real_node(state).stop(state.pids)
            for name in core:
                if name in state.pids:
                    processes.stop(state.pids[name])
            if state.netns:
                netns.kill_inside(state.netns)  # anything else someone started in there
                netns.delete(state.netns)
        for path in (self.dir / "etcd", self.pki, self._state_file, self.kubeconfig):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
