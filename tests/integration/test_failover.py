"""High availability: two replicas of a process, one leading (a Lease in the operator's namespace). SIGKILL of the
leader hands over to the standby within 15 s, and the standby does the work the leader would have done, once."""

from __future__ import annotations

import signal
import socket
import time
import urllib.request

import pytest

from .conftest import OPERATOR_NAMESPACE, Deployment, Helm, Kubectl, Operators, wait_for

HANDOVER_LIMIT_SECONDS = 15


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
def test_killing_the_leader_hands_over_within_15_s_and_the_change_is_applied_once(
        process: str, deployment: Deployment, operators: Operators, kubectl: Kubectl, helm: Helm) -> None:
    leader = operators.procs[process]
    assert _holder(kubectl, process) == f"{socket.gethostname()}_{leader.pid}"
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
             f"{socket.gethostname()}_{operators.procs[process].pid}", operators, timeout=30)


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            answered: bool = response.status == 200 and response.read() == b"ok\n"
            return answered
    except OSError:
        return False
