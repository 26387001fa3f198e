"""Rendering octavia: before its bootstrap reported, no worker or health manager (they would have nothing to boot
amphorae with, and no port); after, the reported IDs and health manager addresses in octavia.conf; the controller
nodes in the bootstrap's script; the amphora PKI mounted where octavia.conf looks, from the credential's record."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from openstack_operator.core.errors import OperatorError
from openstack_operator.core.models.bundle import Bundle
from openstack_operator.core.rendering.load_balancer import ControlPlane, control_plane, controller_hosts
from openstack_operator.core.rendering.renderer import Renderer
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.secrets import amphora_pki
from openstack_operator.core.secrets.credentials import Credential, placeholder_credentials, required_credentials

from .conftest import load_example

REPORT = {"result": "Ready", "job": "octavia-bootstrap", "network_id": "net-1",
          "amphora_secgroup_id": "sg-1", "flavor_id": "flavor-1",
          "health_managers": [{"host": "net-a", "address": "10.255.0.11"},
                              {"host": "net-b", "address": "10.255.0.12"}]}


def _doc() -> dict[str, Any]:
    doc = load_example("minimal")
    doc["spec"]["preset"] = "compute"
    doc["spec"].setdefault("features", {})["services"] = ["redis", "load-balancer"]
    doc["spec"]["features"]["octavia"] = {"amphora_image_url": "https://mirror.example.com/amphora.qcow2"}
    return doc


def _octavia(renderer: Renderer, load_balancer: ControlPlane | None = None,
             credentials: dict[str, Credential] | None = None) -> dict[str, Any]:
    osdpl = load_osdpl(renderer.catalog, _doc())
    enabled = osdpl.spec.enabled_services(renderer.catalog)
    creds = placeholder_credentials(renderer.catalog, required_credentials(renderer.catalog, enabled))
    creds.update(credentials or {})
    services = renderer.render(osdpl.spec, creds, osdpl.namespace, load_balancer=load_balancer)
    releases = {release.name: release for service in services for release in service.releases}
    return dict(releases["openstack-octavia"].values)


def test_before_the_bootstrap_reported_no_worker_or_health_manager_runs(renderer: Renderer) -> None:
    values = _octavia(renderer, ControlPlane(hosts=("net-a",)))
    assert values["manifests"] == {"daemonset_worker": False, "daemonset_health_manager": False}
    worker = values["conf"]["octavia"]["controller_worker"]
    assert "amp_boot_network_list" not in worker and "controller_ip_port_list" not in \
        values["conf"]["octavia"]["health_manager"]
    script = values["bootstrap"]["script"]
    assert script.startswith("set +x\nHOSTS=net-a\n") and "AMPHORA_IMAGE_URL=https://mirror.example.com/" in script


def test_the_report_names_what_amphorae_boot_with_and_where_they_send_heartbeats(renderer: Renderer) -> None:
    values = _octavia(renderer, ControlPlane(report=REPORT, hosts=("net-a", "net-b")))
    assert values["manifests"] == {"daemonset_worker": True, "daemonset_health_manager": True}
    conf = values["conf"]["octavia"]
    assert conf["controller_worker"]["amp_boot_network_list"] == "net-1"
    assert conf["controller_worker"]["amp_secgroup_list"] == "sg-1"
    assert conf["controller_worker"]["amp_flavor_id"] == "flavor-1"
    assert conf["health_manager"]["controller_ip_port_list"] == "10.255.0.11:5555,10.255.0.12:5555"
    assert values["bootstrap"]["script"].startswith("set +x\nHOSTS='net-a net-b'\n")
    # a report without a health manager (no controller node yet) keeps them off
    empty = _octavia(renderer, ControlPlane(report={**REPORT, "health_managers": []}))
    assert empty["manifests"]["daemonset_worker"] is False


def test_the_amphora_pki_is_mounted_from_a_secret_of_the_release(renderer: Renderer) -> None:
    record = amphora_pki.generate(datetime.datetime.now(datetime.timezone.utc))
    pki = amphora_pki.files(record)
    values = _octavia(renderer, credentials={"octavia_amphora_pki": Credential("", record)})
    secret = values["extraObjects"]["amphora_certs"]
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "octavia-amphora-certs"
    assert secret["stringData"]["server_ca.key.pem"] == pki.files["private/server_ca.key.pem"]
    assert values["conf"]["octavia"]["certificates"]["ca_private_key_passphrase"] == pki.passphrase
    for component in ("octavia_worker", "octavia_health_manager", "octavia_housekeeping"):
        mounts = values["pod"]["mounts"][component][component]
        assert mounts["volumeMounts"] == [{"name": "amphora-certs", "mountPath": "/etc/octavia/certs",
                                           "readOnly": True}]
        items = {item["path"] for item in mounts["volumes"][0]["secret"]["items"]}
        assert items == set(amphora_pki.FILES)


def test_a_pki_record_the_secrets_process_did_not_write_is_refused(renderer: Renderer) -> None:
    with pytest.raises(OperatorError, match="credential octavia_amphora_pki: .* not a usable amphora PKI"):
        _octavia(renderer, credentials={"octavia_amphora_pki": Credential("", "not a record")})


def test_with_ovn_the_control_planes_gateway_chassis_are_the_controller_nodes() -> None:
    """No L3 agent runs with OVN: a control-plane node's ovn-controller marks it; a compute node's does not."""
    status = {"nodes": {"hosts": {
        "ctl-0.example.com": {"roles": ["network", "control-plane"], "components": ["ovn/ovn-controller"]},
        "ctl-1": {"roles": ["control-plane"], "components": ["openvswitch/openvswitch-vswitchd"]},
        "cmp-0": {"roles": ["compute", "network"], "components": ["ovn/ovn-controller", "nova/compute"]}}}}
    assert controller_hosts(status) == ("ctl-0",)


def test_the_controller_nodes_and_the_report_come_from_the_status_and_the_bundle(catalog: Any) -> None:
    status = {"nodes": {"hosts": {
        "net-b.example.com": {"roles": ["network"], "components": ["neutron/l3-agent", "neutron/ovs-agent"]},
        "cmp-1": {"roles": ["compute", "network"], "components": ["neutron/ovs-agent", "nova/compute"]},
        "net-a": {"roles": ["network"], "components": ["octavia/health_manager"]}}}}
    assert controller_hosts(status) == ("net-a", "net-b")
    bundle = Bundle.from_api({
        "metadata": {"name": "osdpl-load-balancer", "namespace": "openstack"},
        "spec": {"service": "load-balancer", "releases": [
            {"name": "openstack-octavia", "chart": "octavia", "version": "2026.1.0", "namespace": "openstack",
             "values_from": {"secret_name": "v", "key": "openstack-octavia"}, "fingerprint": "f"}]},
        "status": {"releases": {"openstack-octavia": {"state": "deployed", "summary": REPORT}}}})
    found = control_plane(status, [bundle])
    assert found.report == REPORT and found.ready and found.hosts == ("net-a", "net-b")
    unknown = Bundle.from_api({**bundle.to_api(), "status": {"releases": {"openstack-octavia": {
        "state": "deployed", "summary": {"result": "Unknown", "message": "no summary"}}}}})
    assert control_plane(status, [unknown]).report is None
    assert control_plane(status, [unknown]).digest() != found.digest()
