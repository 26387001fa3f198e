"""Rendering tempest: a tempest.conf that follows the enabled services, the script with its time budget, and a run
request that changes the tempest release alone."""

from __future__ import annotations

from typing import Any

from openstack_operator.core.rendering.renderer import Renderer
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.secrets.credentials import placeholder_credentials, required_credentials

from .conftest import load_example


def _releases(renderer: Renderer, doc: dict[str, Any], tempest_run: str = "") -> dict[str, Any]:
    osdpl = load_osdpl(renderer.catalog, doc)
    enabled = osdpl.spec.enabled_services(renderer.catalog)
    credentials = placeholder_credentials(renderer.catalog, required_credentials(renderer.catalog, enabled))
    services = renderer.render(osdpl.spec, credentials, osdpl.namespace, tempest_run=tempest_run)
    return {release.name: release for service in services for release in service.releases}


def _doc(services: list[str], preset: str = "core", floating: bool = False) -> dict[str, Any]:
    doc = load_example("minimal")
    doc["spec"]["preset"] = preset
    doc["spec"].setdefault("features", {})["services"] = services
    if floating:  # the full example's networks
        doc["spec"]["features"]["neutron"] = {key: load_example("full")["spec"]["features"]["neutron"][key]
                                              for key in ("external_networks", "floating_network")}
    return doc


def test_tempest_tests_the_services_the_deployment_runs(renderer: Renderer) -> None:
    values = _releases(renderer, _doc(["tempest"]))["openstack-tempest"].values
    available = values["conf"]["tempest"]["service_available"]
    assert available == {"cinder": False, "glance": True, "heat": False, "neutron": True, "nova": False,
                         "swift": False, "horizon": False, "barbican": False, "designate": False, "octavia": False}
    compute = _releases(renderer, _doc(["tempest", "block-storage", "key-manager"], "compute"))["openstack-tempest"]
    available = compute.values["conf"]["tempest"]["service_available"]
    assert available["nova"] and available["cinder"] and available["barbican"] and not available["designate"]
    assert compute.values["conf"]["tempest"]["volume"]["backend_names"] == "rbd1"


def test_the_floating_network_is_tempests_public_network_only_when_the_deployment_creates_it(
        renderer: Renderer) -> None:
    without = _releases(renderer, _doc(["tempest"]))["openstack-tempest"].values["conf"]["tempest"]
    assert without["network-feature-enabled"]["floating_ips"] is False
    assert without["validation"]["run_validation"] is False and without["network"]["floating_network_name"] == ""
    with_floating = _releases(renderer, _doc(["tempest"], floating=True))["openstack-tempest"].values
    conf = with_floating["conf"]["tempest"]
    assert conf["network-feature-enabled"]["floating_ips"] is True and conf["validation"]["run_validation"] is True
    assert conf["network"]["floating_network_name"] == "public"


def test_the_job_runs_our_script_within_the_helm_timeout_without_a_claim(renderer: Renderer) -> None:
    values = _releases(renderer, _doc(["tempest"]))["openstack-tempest"].values
    script = values["conf"]["script"]
    assert script.startswith("BUDGET_SECONDS=300\n")  # tiny: a 600 s Helm timeout, 300 s for the rest
    assert "/dev/termination-log" in script and values["conf"]["cleanup"]["enabled"] is False
    assert values["pvc"]["enabled"] is False
    assert values["endpoints"]["identity"]["auth"]["tempest"]["username"] == "tempest"


def test_a_run_request_changes_the_tempest_release_and_nothing_else(renderer: Renderer) -> None:
    before = _releases(renderer, _doc(["tempest"]))
    after = _releases(renderer, _doc(["tempest"]), tempest_run="2026-12-07")
    assert after["openstack-tempest"].values["release_uuid"] == "2026-12-07"
    assert {name for name in before if before[name].fingerprint != after[name].fingerprint} == {"openstack-tempest"}
