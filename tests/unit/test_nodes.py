"""The node inventory (core.nodes.inventory), the Job manifests (core.nodes.jobs) and what the Jobs' script calls."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.nodes.jobs import MAX_NAME, client_image, job_manifest, job_name, job_state, script
from openstack_operator.core.nodes.inventory import (PodView, cleanup_finalizer, inventory, node_view, not_ready_for_long,
                                           parse_time, pod_view, registering, summary)


def _node(name: str, labels: dict[str, str], ready: str = "True",
          since: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": f"u-{name}", "labels": labels, "resourceVersion": "7"},
            "status": {"conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": since}]}}


def _pod(node: str, application: str, component: str, owner: str = "DaemonSet") -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "labels": {"application": application, "component": component},
                         "ownerReferences": [{"kind": owner, "name": "x"}]}, "spec": {"nodeName": node}}


def test_roles_come_from_labels_and_the_daemonset_pods_scheduled_there() -> None:
    nodes = [node_view(_node("cmp-0", {"openstack-compute-node": "enabled", "rack": "a"})),
             node_view(_node("ctl-0", {"openstack-control-plane": "enabled"})),
             node_view(_node("new-0", {"openstack-compute-node": "enabled"})),
             node_view(_node("other", {}))]
    pods = [pod_view(_pod("cmp-0", "nova", "compute")), pod_view(_pod("cmp-0", "neutron", "neutron-ovs-agent")),
            pod_view(_pod("ctl-0", "neutron", "neutron-l3-agent")), pod_view(_pod("ctl-0", "keystone", "api"))]
    hosts = inventory(nodes, [p for p in pods if p], ["rack::a", "rack::b"])
    assert hosts["cmp-0"].roles == ["compute", "network"] and hosts["cmp-0"].groups == ["rack::a"]
    assert hosts["cmp-0"].components == ["neutron/neutron-ovs-agent", "nova/compute"]
    assert hosts["ctl-0"].roles == ["network", "control-plane"]
    assert hosts["new-0"].roles == ["compute"] and hosts["new-0"].components == []
    assert "other" not in hosts
    # only what ran registered something in OpenStack: the finalizer goes on those nodes only
    assert registering(hosts["cmp-0"]) and registering(hosts["ctl-0"]) and not registering(hosts["new-0"])
    assert summary(hosts, ["cmp-0"], []) == "3 nodes: 2 compute, 2 network, 1 control-plane; 1 not ready; " \
                                            "0 in maintenance"


def test_ovns_controller_gives_a_node_the_network_role() -> None:
    """With OVN no neutron agent runs on a compute node: its ovn-controller (a chassis neutron lists as an agent)
    is what the node registered, and what the cleanup deletes."""
    pods = [pod_view(_pod("cmp-0", "ovn", "ovn-controller")), pod_view(_pod("cmp-0", "openvswitch", "openvswitch")),
            pod_view(_pod("ctl-0", "ovn", "ovn-ovsdb-nb"))]
    hosts = inventory([node_view(_node("cmp-0", {})), node_view(_node("ctl-0", {}))], [p for p in pods if p], [])
    assert hosts["cmp-0"].roles == ["network"] and registering(hosts["cmp-0"])
    assert hosts["cmp-0"].components == ["openvswitch/openvswitch", "ovn/ovn-controller"]
    assert hosts["ctl-0"].roles == [] and not registering(hosts["ctl-0"])


def test_ironics_conductor_gives_its_node_the_baremetal_role() -> None:
    """A conductor is a StatefulSet's pod on the host's network: its node serves PXE and HTTP boot. It registers
    nothing to clean up (ironic gives a silent conductor's nodes to the others), and other StatefulSets' pods are
    not the node's."""
    pods = [pod_view(_pod("ctl-0", "ironic", "conductor", owner="StatefulSet")),
            pod_view(_pod("ctl-1", "mariadb", "server", owner="StatefulSet"))]
    assert pods[1] is None
    nodes = [node_view(_node("ctl-0", {"openstack-control-plane": "enabled"})),
             node_view(_node("ctl-1", {"openstack-control-plane": "enabled"}))]
    hosts = inventory(nodes, [p for p in pods if p], [])
    assert hosts["ctl-0"].roles == ["control-plane", "baremetal"] and not registering(hosts["ctl-0"])
    assert hosts["ctl-0"].components == ["ironic/conductor"]
    assert summary(hosts, [], []) == "2 nodes: 0 compute, 0 network, 2 control-plane, 1 baremetal; 0 not ready; " \
                                     "0 in maintenance"


def test_pods_not_of_a_daemonset_or_not_scheduled_are_not_counted() -> None:
    assert pod_view(_pod("cmp-0", "nova", "compute", owner="ReplicaSet")) is None
    unscheduled = _pod("cmp-0", "nova", "compute")
    unscheduled["spec"] = {}
    assert pod_view(unscheduled) is None
    assert pod_view(_pod("cmp-0", "nova", "compute")) == PodView("ns", "cmp-0", "nova", "compute")


def test_not_ready_counts_from_the_ready_condition_transition() -> None:
    [entry] = inventory([node_view(_node("cmp-0", {"openstack-compute-node": "enabled"}, ready="Unknown"))], [],
                        []).values()
    since = parse_time("2026-01-01T00:00:00Z")
    assert since is not None
    assert not not_ready_for_long(entry, since + 299, 300) and not_ready_for_long(entry, since + 300, 300)
    [ready] = inventory([node_view(_node("cmp-0", {"openstack-compute-node": "enabled"}))], [], []).values()
    assert not not_ready_for_long(ready, since + 10_000, 300)


def test_job_names_are_per_action_node_and_object_and_fit_a_label() -> None:
    assert job_name("disable", "cmp-0", "1234-5678") == "osop-disable-cmp-0-12345"
    long_a, long_b = "n" * 60 + "a", "n" * 60 + "b"
    assert len(job_name("cleanup", long_a, "u")) <= MAX_NAME
    assert job_name("cleanup", long_a, "u") != job_name("cleanup", long_b, "u")
    assert cleanup_finalizer("openstack") == "cleanup.openstack.osop.dev/openstack"


def test_the_job_runs_the_release_client_image_with_the_admin_credentials() -> None:
    catalog = Catalog.load()
    image = client_image(catalog, "epoxy", "")
    assert image == "quay.io/airshipit/openstack-client:2025.1-ubuntu_noble"
    assert client_image(catalog, "epoxy", "registry.local/osh").startswith("registry.local/osh/openstack-client:")
    job = job_manifest(namespace="ns", action="disable", node="cmp-0", uid="abcdef", roles=["compute", "network"],
                       instance_ha=True, image=image, script_text="echo", owner={"kind": "NodeMaintenanceRequest"})
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][3:] == ["node-job.sh", "disable", "cmp-0", "compute,network"]
    assert container["envFrom"] == [{"secretRef": {"name": "keystone-keystone-admin"}}]
    assert {"name": "INSTANCE_HA", "value": "1"} in container["env"]
    terms = job["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0] == {"key": "kubernetes.io/hostname", "operator": "NotIn",
                                               "values": ["cmp-0"]}
    assert job_state({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == "Succeeded"
    assert job_state({"status": {"conditions": [{"type": "Failed", "status": "True"}]}}) == "Failed"
    assert job_state({"status": {}}) == "Running"


# A stand-in `openstack` command: it logs each call and answers the listings (columns in table order, as the real
# client prints them) as a cloud with the node cmp-0 (registered under its FQDN), another compute node cmp-10 and
# one instance of each status. $FAIL makes the call that contains it fail, as an API that answers 503.
FAKE_OPENSTACK = r"""#!/bin/bash
echo "$*" >> "$CALLS"
if [[ -n ${FAIL:-} && "$*" == *"$FAIL"* ]]; then echo "Service Unavailable (HTTP 503)" >&2; exit 1; fi
case "$*" in
  "compute service list --service nova-compute -f value -c Host") printf "${HOSTS-cmp-0.cloud.local\ncmp-10\n}" ;;
  "compute service list --service nova-compute --long -f value -c Host -c Status -c Disabled Reason")
    printf "cmp-0.cloud.local disabled ${REASON:-openstack-operator: node cmp-0 disable}\ncmp-10 disabled by bob\n" ;;
  "compute service list --service nova-compute -f value -c ID -c Host") printf 's1 cmp-0.cloud.local\ns2 cmp-10\n' ;;
  "network agent list -f value -c ID -c Host") printf 'a1 cmp-0\na2 cmp-10\na3 cmp-0.cloud.local\n' ;;
  "server list --all-projects --host cmp-0.cloud.local -f value -c ID -c Status")
    if [ -e "$CALLS.migrated" ]; then exit 0; fi; touch "$CALLS.migrated"; printf "i1 ACTIVE\ni2 ${I2:-SHUTOFF}\n" ;;
  "volume service list -f value -c Binary -c Host") printf 'cinder-volume cmp-0@lvm\ncinder-volume cmp-10@lvm\n' ;;
  "resource provider list -f value -c uuid -c name") printf 'r1 cmp-0.cloud.local\nr2 cmp-10\n' ;;
  "token issue -f value -c id -c project_id") echo "tok1 p1" ;;
  "endpoint list --service instance-ha --interface internal -f value -c URL") echo "${ENDPOINT:-}" ;;
esac
"""


def _run_job(tmp_path: Path, action: str, roles: str = "", **env: str) -> tuple[subprocess.CompletedProcess[str],
                                                                                 list[str]]:
    fake = tmp_path / "openstack"
    fake.write_text(FAKE_OPENSTACK)
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    result = subprocess.run(["bash", "-c", script(Catalog.load().templates_dir), "node-job.sh", action, "cmp-0",
                             roles], env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}",
                                          "CALLS": str(calls), **env}, capture_output=True, text=True)
    return result, calls.read_text().splitlines() if calls.exists() else []


@pytest.mark.parametrize("action,roles,expected", [
    ("disable", "compute,network", [
        "compute service list --service nova-compute -f value -c Host",
        "compute service set --disable --disable-reason openstack-operator: node cmp-0 disable cmp-0.cloud.local "
        "nova-compute",
        "network agent list -f value -c ID -c Host", "network agent set --disable a1",
        "network agent set --disable a3"]),
    ("disable", "network", [  # policy skip: nova is left alone
        "network agent list -f value -c ID -c Host", "network agent set --disable a1",
        "network agent set --disable a3"]),
    ("enable", "compute", [
        "compute service list --service nova-compute --long -f value -c Host -c Status -c Disabled Reason",
        "compute service set --enable cmp-0.cloud.local nova-compute"]),
    ("migrate", "compute", [
        "compute service list --service nova-compute -f value -c Host",
        "server list --all-projects --host cmp-0.cloud.local -f value -c ID -c Status",
        "server migrate --live-migration --wait i1", "server migrate --wait i2", "server resize confirm i2",
        "compute service list --service nova-compute -f value -c Host",
        "server list --all-projects --host cmp-0.cloud.local -f value -c ID -c Status"]),
    ("cleanup", "", [
        "compute service list --service nova-compute -f value -c ID -c Host", "compute service delete s1",
        "network agent list -f value -c ID -c Host", "network agent delete a1", "network agent delete a3",
        "volume service list -f value -c Binary -c Host",
        "volume service set --disable --disable-reason openstack-operator: node cmp-0 cleanup cmp-0@lvm cinder-volume",
        "resource provider list -f value -c uuid -c name", "resource provider delete r1"]),
])
def test_the_job_script_calls_the_openstack_client_for_the_node_only(tmp_path: Path, action: str, roles: str,
                                                                    expected: list[str]) -> None:
    result, calls = _run_job(tmp_path, action, roles)
    assert result.returncode == 0, result.stderr
    assert calls == expected


def test_enable_leaves_a_service_an_admin_disabled_for_a_reason_of_their_own(tmp_path: Path) -> None:
    result, calls = _run_job(tmp_path, "enable", "compute", REASON="failing disk, ticket 4711")
    assert result.returncode == 0, result.stderr
    assert not [c for c in calls if "--enable" in c]


@pytest.mark.parametrize("action,roles,env,message", [
    ("migrate", "compute", {"I2": "PAUSED"}, "instance i2 is PAUSED: not migrated"),
    ("disable", "compute", {"HOSTS": ""}, "no nova-compute service of cmp-0 (nor of its FQDN) is registered"),
    ("migrate", "compute", {"FAIL": "server list"}, "Service Unavailable"),
    ("cleanup", "", {"FAIL": "network agent list"}, "Service Unavailable"),
])
def test_the_job_script_fails_when_it_cannot_do_its_work(tmp_path: Path, action: str, roles: str,
                                                         env: dict[str, str], message: str) -> None:
    result, calls = _run_job(tmp_path, action, roles, **env)
    assert result.returncode != 0 and message in result.stderr, (result.returncode, result.stderr)
    assert "done" not in result.stdout


class _Masakari(http.server.BaseHTTPRequestHandler):
    """A stand-in masakari API: one segment with the node's host (by its FQDN) and another node's; it records calls."""
    calls: list[str] = []
    hosts = {"h1": "cmp-0.cloud.local", "h2": "cmp-10"}

    def _answer(self, body: Any = None) -> None:
        self.calls.append(f"{self.command} {self.path} {self.headers.get('X-Auth-Token')}"
                          + (f" {self.rfile.read(int(self.headers['Content-Length'])).decode()}"
                             if self.headers.get("Content-Length") else ""))
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/p1/segments":
            self._answer({"segments": [{"uuid": "s1", "name": "rack-a"}]})
        else:
            self._answer({"hosts": [{"uuid": uuid, "name": name} for uuid, name in self.hosts.items()]})

    do_PUT = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def masakari() -> Iterator[str]:
    _Masakari.calls = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Masakari)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1/%(tenant_id)s"
    server.shutdown()


@pytest.mark.parametrize("action,roles,reason,expected", [
    ("disable", "compute", "", ['PUT /v1/p1/segments/s1/hosts/h1 tok1 {"host": {"on_maintenance": true}}']),
    ("enable", "compute", "", ['PUT /v1/p1/segments/s1/hosts/h1 tok1 {"host": {"on_maintenance": false}}']),
    # nova's service was not disabled by the operator: its maintenance is someone else's
    ("enable", "compute", "failing disk, ticket 4711", []),
    ("disable", "network", "", []),  # policy skip: nova and masakari are left alone
    ("cleanup", "", "", ["DELETE /v1/p1/segments/s1/hosts/h1 tok1"]),
])
def test_with_instance_ha_the_node_is_taken_out_of_masakari_as_out_of_nova(
        tmp_path: Path, masakari: str, action: str, roles: str, reason: str, expected: list[str]) -> None:
    result, calls = _run_job(tmp_path, action, roles, INSTANCE_HA="1", ENDPOINT=masakari,
                             **({"REASON": reason} if reason else {}))
    assert result.returncode == 0, result.stderr
    writes = [c for c in _Masakari.calls if not c.startswith("GET")]
    assert writes == expected
    if expected:  # before nova: an instance failing during the maintenance is not evacuated onto the move
        assert calls.index("token issue -f value -c id -c project_id") < min(
            [i for i, c in enumerate(calls) if "compute service set" in c or "compute service delete" in c] or [99])
    (tmp_path / "plain").mkdir()
    result, calls = _run_job(tmp_path / "plain", action, roles, ENDPOINT=masakari)  # without instance-ha
    assert result.returncode == 0, result.stderr
    assert "token issue" not in " ".join(calls)


def test_a_failing_masakari_fails_the_job_before_nova_is_touched(tmp_path: Path) -> None:
    result, calls = _run_job(tmp_path, "disable", "compute", INSTANCE_HA="1", ENDPOINT="http://127.0.0.1:9/v1/x")
    assert result.returncode != 0 and "Connection refused" in result.stderr, result.stderr
    assert not [c for c in calls if "compute service set" in c]
