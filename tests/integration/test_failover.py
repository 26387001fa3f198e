"""High availability: two replicas of a process, one leading (a Lease in the operator's namespace). SIGKILL of the
leader hands over to the standby within a lease and a few seconds, and the standby does the work the leader would
have done, once. A leader whose API requests hang (not killed: its connection frozen) stops by the renew deadline,
before the standby takes over, and the API server's audit log shows no write of the old leader after that."""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.operators import launch
from devcluster.processes import free_port
from openstack_operator.core.runtime.leader import LEASE_SECONDS, RENEW_DEADLINE_SECONDS, WATCHDOG_TICK_SECONDS

from .conftest import OPERATOR_NAMESPACE, AuditLog, Deployment, Helm, Kubectl, Operators, wait_for

HANDOVER_LIMIT_SECONDS = LEASE_SECONDS + 5  # the standby waits a whole lease out, then looks every second


def _holder(kubectl: Kubectl, process: str) -> str:
    lease = kubectl.json("-n", OPERATOR_NAMESPACE, "get", "lease", f"openstack-operator-{process}")
    holder: str = (lease.get("spec") or {}).get("holderIdentity") or ""
    return holder


def _leader_gauge(port: int, process: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    line = next(line for line in text.splitlines() if line.startswith(f'osop_leader{{process="{process}"}}'))
    return float(line.split()[-1])


@pytest.mark.parametrize("process", ["helmbundle", "osdpl"])
def test_killing_the_leader_hands_over_within_a_lease_and_the_change_is_applied_once(
        process: str, deployment: Deployment, operators: Operators, kubectl: Kubectl, helm: Helm) -> None:
    assert _holder(kubectl, process) == operators.identity(process)
    standby, port = operators.replica(process)
    try:
        wait_for("the standby's probes", lambda: _answers(port), operators, timeout=60)
        assert _leader_gauge(port, process) == 0.0  # it waits, and does nothing else
        before = helm.revisions(deployment.namespace)

        operators.kill(process)
        killed = time.monotonic()
        # A change while nobody leads: the standby must pick it up.
        deployment.merge_patch({"spec": {"services": {"dashboard": {"horizon": {"values": {"pod": {"replicas": {
            "server": 2}}}}}}}})
        wait_for("the standby holding the lease", lambda: _holder(kubectl, process) ==
                 f"{socket.gethostname()}_{standby.pid}", operators, timeout=60)
        handover = time.monotonic() - killed
        print(f"\n{process}: lease handed over {handover:.1f} s after SIGKILL of the leader")
        assert handover < HANDOVER_LIMIT_SECONDS
        assert _leader_gauge(port, process) == 1.0
        wait_for("Ready with the change", deployment.ready_at_generation, operators)
        print(f"{process}: change applied {time.monotonic() - killed:.1f} s after the kill")
        after = helm.revisions(deployment.namespace)
        # Exactly one Helm operation, on the one release the change touches: nothing twice, nothing else.
        assert {r: after[r] - before[r] for r in before if after[r] != before[r]} == {"openstack-horizon": 1}

        # A clean stop hands the lease over at once: the standby clears it on SIGTERM.
        standby.send_signal(signal.SIGTERM)
        standby.wait(timeout=60)
        assert _holder(kubectl, process) == ""
    finally:
        if standby.poll() is None:
            standby.kill()
            standby.wait()
        operators.start(process)
    wait_for("the restarted process leading", lambda: _holder(kubectl, process) ==
             operators.identity(process), operators, timeout=30)


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            answered: bool = response.status == 200 and response.read() == b"ok\n"
            return answered
    except OSError:
        return False


# -- a leader whose API requests hang ----------------------------------------------------------------------------

class FreezingProxy:
    """A TCP proxy on loopback in front of the API server. `freeze()`: connections stay open and new ones are
    accepted, but nothing is forwarded either way: the client's requests hang, as behind a network that drops its
    packets. `thaw()`: forwarding resumes for the clients still there (their requests arrive late, as retransmitted
    packets do); what a client that went away meanwhile had sent is dropped, as a network drops the packets of a
    connection whose end is gone."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._lock = threading.Lock()  # held while one chunk moves: once freeze() returns, nothing more is forwarded
        self._frozen = self._closed = False
        self._connections: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, name="freezing-proxy", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(self.upstream)
            except OSError:
                return
            with self._lock:
                self._connections.append((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while not self._closed:
                if not select.select([source], [], [], 0.1)[0]:
                    continue
                with self._lock:
                    if self._frozen:
                        chunk = None
                    else:
                        chunk = source.recv(65536)
                        if chunk:
                            target.sendall(chunk)
                if chunk is None:
                    time.sleep(0.05)
                elif not chunk:
                    break
        except (OSError, ValueError):
            pass
        for end in (source, target):
            end.close()

    def freeze(self) -> None:
        with self._lock:
            self._frozen = True

    def thaw(self) -> int:
        """Resume; returns how many connections were dropped because their client had gone."""
        dropped = 0
        with self._lock:
            for client, server in self._connections:
                if client.fileno() < 0:
                    continue
                data, gone = _drain(client)
                if gone:
                    client.close()
                    server.close()
                    dropped += 1
                elif data:
                    server.sendall(data)
            self._frozen = False
        return dropped

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        with self._lock:
            for client, server in self._connections:
                client.close()
                server.close()


def _drain(client: socket.socket) -> tuple[bytes, bool]:
    """What the client sent while frozen, and whether it has gone (closed its end)."""
    data = b""
    client.setblocking(False)
    try:
        while True:
            chunk = client.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except BlockingIOError:
        return data, False
    except OSError:
        return data, True
    finally:
        if client.fileno() >= 0:
            client.setblocking(True)


def _through(proxy: FreezingProxy, kubeconfig: Path, folder: Path) -> Path:
    """`kubeconfig` with its server behind `proxy` (the API server's certificate names 127.0.0.1 whatever the port)."""
    config = yaml.safe_load(kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    path = folder / "proxied.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def _upstream_port(kubeconfig: Path) -> int:
    server: str = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    return int(server.rsplit(":", 1)[1])


def _helm_children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid) and fields.get("Name", "").strip() == "helm":
            found.append(int(status.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    except OSError:
        return False


def _stamp(event: dict[str, Any], field: str) -> float:
    return datetime.fromisoformat(event[field].replace("Z", "+00:00")).timestamp()


def _writes_of(audit_log: AuditLog, agent: str, since: float) -> list[dict[str, Any]]:
    """Every write whose User-Agent is `agent` (the process and the replica) received after `since`, oldest first."""
    events = [e for e, _ in audit_log._events(since) if e.get("userAgent", "") == agent]
    return sorted(events, key=lambda e: _stamp(e, "requestReceivedTimestamp"))


def _acquired(events: list[dict[str, Any]], lease: str) -> float:
    """When the first successful write of the Lease among `events` was received."""
    return min(_stamp(e, "requestReceivedTimestamp") for e in events
               if (e.get("objectRef") or {}).get("name") == lease and (e.get("objectRef") or {}).get("resource") ==
               "leases" and (e.get("responseStatus") or {}).get("code", 0) < 300)


def _renewing(kubectl: Kubectl, lease: str, operators: Operators) -> None:
    """Until the holder has renewed `lease` twice (through the proxy, before it freezes)."""
    def renew_time() -> str:
        found = kubectl.json("-n", OPERATOR_NAMESPACE, "get", "lease", lease)
        return str((found.get("spec") or {}).get("renewTime"))
    seen = {renew_time()}

    def renewed_twice() -> bool:
        seen.add(renew_time())
        return len(seen) > 2
    wait_for("two renewals", renewed_twice, operators, timeout=30)


def _by_resource(events: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        ref = event.get("objectRef") or {}
        key = f"{event.get('verb')} {ref.get('resource')}" + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        counts[key] = counts.get(key, 0) + 1
    return counts


def _agent(pid: int) -> str:
    return f"openstack-operator/helmbundle ({socket.gethostname()}_{pid})"


def _exit_time(proc: subprocess.Popen[bytes], timeout: float) -> float | None:
    """When `proc` exited (polled finely: the test checks it against the renew deadline), None if it did not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return time.time()
        time.sleep(0.05)
    return None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # a clean stop clears the Lease: the next holder takes over at once
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_leader_whose_api_requests_hang_stops_before_the_standby_takes_over(
        deployment: Deployment, operators: Operators, kubectl: Kubectl, audit_log: AuditLog | None,
        tmp_path: Path) -> None:
    if audit_log is None:
        pytest.skip("needs the local control plane's audit log")
    lease = "openstack-operator-helmbundle"
    kubeconfig = operators.kubeconfigs["helmbundle"]
    proxy = FreezingProxy(_upstream_port(kubeconfig))
    operators.kill("helmbundle")
    # The killed leader's Lease is given up by hand, so the proxied replica leads at once.
    kubectl.run("-n", OPERATOR_NAMESPACE, "patch", "lease", lease, "--type=merge", "-p",
                json.dumps({"spec": {"holderIdentity": None}}))
    with (tmp_path / "old-leader.log").open("ab") as log:
        old = launch("helmbundle", _through(proxy, kubeconfig, tmp_path),
                     replace(operators.settings, metrics_port=free_port()), log)
    standby: subprocess.Popen[bytes] | None = None
    started = time.time()
    try:
        wait_for("the proxied replica leading", lambda: _holder(kubectl, "helmbundle") ==
                 f"{socket.gethostname()}_{old.pid}", operators, timeout=60)
        _renewing(kubectl, lease, operators)
        standby, _ = operators.replica("helmbundle")
        # Work under way when the connection freezes: a change makes the leader run helm, through the proxy too.
        deployment.merge_patch({"spec": {"services": {"dashboard": {"horizon": {"values": {"pod": {"replicas": {
            "server": 3}}}}}}}})
        helm = wait_for("a helm process of the old leader", lambda: _helm_children(old.pid), operators, timeout=180)
        proxy.freeze()
        frozen = time.time()
        exited = _exit_time(old, timeout=60)
        assert exited is not None, f"the old leader kept running:\n{(tmp_path / 'old-leader.log').read_text()[-3000:]}"
        assert all(not _running(pid) for pid in helm), "the old leader's helm outlived it"
        wait_for("the standby holding the lease", lambda: _holder(kubectl, "helmbundle") ==
                 f"{socket.gethostname()}_{standby.pid}", operators, timeout=60)
        dropped = proxy.thaw()  # a leader still running would now get its held requests through, late
        wait_for("Ready with the change, by the new leader", deployment.ready_at_generation, operators)

        old_writes = _writes_of(audit_log, _agent(old.pid), started)
        assert old_writes, f"no write by {_agent(old.pid)!r} in the audit log: the User-Agent names the replica"
        acquired = _acquired(_writes_of(audit_log, _agent(standby.pid), started), lease)
        last_received = max(_stamp(e, "requestReceivedTimestamp") for e in old_writes)
        last_done = max(_stamp(e, "stageTimestamp") for e in old_writes)
        last_renew = max(_stamp(e, "requestReceivedTimestamp") for e in old_writes
                         if (e.get("objectRef") or {}).get("name") == lease)
        print(f"\nhung-API failover (s after the freeze): old leader's last write received {last_received - frozen:+.2f}"
              f" (done {last_done - frozen:+.2f}, last renew {last_renew - frozen:+.2f}); old leader exited "
              f"{exited - frozen:+.2f}; new leader's first Lease acquisition {acquired - frozen:+.2f}; "
              f"writes by {_agent(old.pid)!r}: {_by_resource(old_writes)}; {dropped} connections of the gone leader "
              "dropped at the thaw")
        assert exited - last_renew < RENEW_DEADLINE_SECONDS + WATCHDOG_TICK_SECONDS + 1.5  # by the renew deadline
        assert exited < acquired and acquired - last_renew >= LEASE_SECONDS  # the standby waited a lease out
        assert last_received < acquired and last_done < acquired  # no write of the old leader after the takeover
    finally:
        proxy.close()
        for proc in (old, standby):
            if proc is not None:
                _stop(proc)
        operators.start("helmbundle")
        deployment.reset()
    wait_for("the restarted process leading", lambda: _holder(kubectl, "helmbundle") ==
             operators.identity("helmbundle"), operators, timeout=60)
