from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from openstack_operator.cli import main
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.credentials import Credential, placeholder_credentials, required_credentials
from openstack_operator.core.errors import MergeConflict, RenderError
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.rendering.renderer import (RenderedService, Renderer, load_yaml, notification_bus,
                                                       notification_values, yaml_problem)

from .conftest import EXAMPLES, load_example

GOLDEN = Path(__file__).parent / "golden"


def _render(renderer: Renderer, doc: dict[str, Any]) -> list[RenderedService]:
    osdpl = load_osdpl(renderer.catalog, doc)
    enabled = osdpl.spec.enabled_services(renderer.catalog)
    credentials = placeholder_credentials(renderer.catalog, required_credentials(renderer.catalog, enabled))
    return renderer.render(osdpl.spec, credentials, osdpl.namespace)


def _fingerprints(services: list[RenderedService]) -> dict[str, str]:
    return {release.name: release.fingerprint for service in services for release in service.releases}


@pytest.mark.parametrize("example", ["minimal", "full"])
def test_golden_values(example: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI's rendering of each example is pinned; UPDATE_GOLDEN=1 rewrites the files after a deliberate change."""
    assert main(["render", "-f", str(EXAMPLES / f"{example}.yaml")]) == 0
    output = capsys.readouterr().out
    golden = GOLDEN / f"{example}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(output)
    assert output == golden.read_text()


def test_minimal_example_releases_images_and_replicas(renderer: Renderer) -> None:
    services = _render(renderer, load_example("minimal"))
    assert [s.name for s in services] == ["database", "messaging", "memcached", "identity", "image",
                                          "placement", "networking", "dashboard"]
    keystone = services[3].releases[0]
    assert keystone.name == "openstack-keystone" and keystone.version == "2026.1.0"
    # No images_base_url: every image as upstream publishes it for the release, client jobs included.
    assert keystone.values["images"]["tags"]["keystone_api"] == "quay.io/airshipit/keystone:2025.1-ubuntu_noble"
    assert keystone.values["images"]["tags"]["ks_user"] == "quay.io/airshipit/openstack-client:2025.1-ubuntu_noble"
    assert keystone.values["pod"]["replicas"] == {"api": 1}
    assert services[3].depends_on == ("database", "messaging", "memcached")


def test_release_and_size_select_tags_and_replicas(renderer: Renderer) -> None:
    doc = load_example("minimal")
    doc["spec"].update(openstack_version="gazpacho", size="medium")
    doc["spec"]["artifacts"] = {"images_base_url": "mirror.example.com/osh/"}
    glance = next(s for s in _render(renderer, doc) if s.name == "image").releases[0]
    assert glance.values["images"]["tags"]["glance_api"] == "mirror.example.com/osh/glance:2026.1-ubuntu_noble"
    assert glance.values["images"]["tags"]["rabbit_init"] == "mirror.example.com/osh/rabbitmq:4.3.5-management"
    assert glance.values["pod"]["replicas"] == {"api": 3}
    assert glance.timeout_seconds == 1200


def test_one_service_value_changes_one_fingerprint(renderer: Renderer) -> None:
    doc = load_example("full")
    before = _fingerprints(_render(renderer, doc))
    changed = copy.deepcopy(doc)
    changed["spec"]["services"]["compute"]["nova"]["values"]["conf"]["nova"]["DEFAULT"]["debug"] = True
    after = _fingerprints(_render(renderer, changed))
    assert [name for name in before if before[name] != after[name]] == ["openstack-nova"]


def test_rendering_is_deterministic(renderer: Renderer) -> None:
    doc = load_example("full")
    assert _fingerprints(_render(renderer, doc)) == _fingerprints(_render(renderer, copy.deepcopy(doc)))
    assert _fingerprints(_render(renderer, doc)) == _fingerprints(_render(Renderer(Catalog.load()), doc))


def test_an_unchanged_templates_output_is_parsed_once_and_never_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    renderer = Renderer(Catalog.load())
    parsed: list[str] = []

    def counted(text: str) -> Any:
        parsed.append(text)
        return load_yaml(text)
    monkeypatch.setattr("openstack_operator.core.rendering.renderer.load_yaml", counted)
    doc = load_example("minimal")
    first = _render(renderer, doc)
    charts = len(parsed)
    first[3].releases[0].values["pod"]["replicas"]["api"] = 99  # a caller's change stays the caller's
    again = _render(renderer, doc)
    assert len(parsed) == charts and again[3].releases[0].values["pod"]["replicas"] == {"api": 1}
    doc["spec"]["region_name"] = "RegionNine"  # every chart's Keystone users name the region: parsed again
    _render(renderer, doc)
    assert len(parsed) > charts and _fingerprints(_render(renderer, doc)) != _fingerprints(again)


def test_templates_compiled_once_per_renderer(renderer: Renderer, monkeypatch: pytest.MonkeyPatch) -> None:
    _render(renderer, load_example("minimal"))  # the macros module loads on first use

    def no_reads(*args: object) -> None:
        raise AssertionError("template source read again during render")

    loader = renderer._templates["keystone"].environment.loader
    assert loader is not None
    monkeypatch.setattr(loader, "get_source", no_reads)
    _render(renderer, load_example("full"))


def test_features_services_adds_to_preset(renderer: Renderer) -> None:
    doc = load_example("minimal")
    doc["spec"]["features"] = {"services": ["orchestration"]}
    names = [s.name for s in _render(renderer, doc)]
    assert names[-1] == "orchestration"
    assert "compute" not in names


def test_type_conflict_in_services_names_the_path(renderer: Renderer) -> None:
    doc = load_example("full")
    doc["spec"]["services"]["compute"]["nova"]["values"]["conf"]["nova"]["DEFAULT"] = "not-a-mapping"
    with pytest.raises(MergeConflict, match=r"^spec\.services\.compute\.nova\.values\.conf\.nova\.DEFAULT: "
                                            r"cannot merge a string over a mapping$"):
        _render(renderer, doc)


def test_missing_credential_is_named_without_values(renderer: Renderer) -> None:
    osdpl = load_osdpl(renderer.catalog, load_example("minimal"))
    credentials = {name: Credential("u", "TOPSECRET") for name in
                   required_credentials(renderer.catalog, osdpl.spec.enabled_services(renderer.catalog))}
    del credentials["keystone_db"]
    with pytest.raises(RenderError) as error:
        renderer.render(osdpl.spec, credentials, osdpl.namespace)
    assert "keystone_db" in str(error.value) and "TOPSECRET" not in str(error.value)
    assert "TOPSECRET" not in repr(credentials["keystone_admin"])


def test_real_credentials_reach_the_values(renderer: Renderer) -> None:
    osdpl = load_osdpl(renderer.catalog, load_example("minimal"))
    names = required_credentials(renderer.catalog, osdpl.spec.enabled_services(renderer.catalog))
    credentials = {name: Credential(f"user-{name}", f"pw-{name}") for name in names}
    keystone = renderer.render(osdpl.spec, credentials, osdpl.namespace, only={"identity"})[0].releases[0]
    assert keystone.values["endpoints"]["oslo_db"]["auth"]["keystone"] == {"username": "user-keystone_db",
                                                                          "password": "pw-keystone_db"}
    glance = renderer.render(osdpl.spec, credentials, osdpl.namespace, only={"image"})[0].releases[0]
    assert glance.values["endpoints"]["oslo_cache"]["auth"]["memcache_secret_key"] == "pw-memcache_secret_key"


def test_full_example_feature_rendering(renderer: Renderer) -> None:
    services = {s.name: s for s in _render(renderer, load_example("full"))}
    neutron = services["networking"].releases[1].values
    assert neutron["conf"]["plugins"]["openvswitch_agent"]["ovs"]["bridge_mappings"] == "physnet1:br-ex,physnet2:br-vlan"
    assert neutron["conf"]["plugins"]["ml2_conf"]["ml2_type_vlan"]["network_vlan_ranges"] == "physnet2:1000:1999"
    nova = services["compute"].releases[1].values
    assert nova["conf"]["nova"]["DEFAULT"]["cpu_allocation_ratio"] == 4.0
    assert nova["conf"]["overrides"]["nova_compute"]["labels"] == [
        {"label": {"key": "compute-type", "values": ["hpc"]}, "conf": {"nova": {"DEFAULT": {"cpu_allocation_ratio": 1.0}}}}]
    assert nova["endpoints"]["compute"]["host_fqdn_override"] == {"public": {"host": "nova.cloud.example.com"}}
    assert nova["endpoints"]["compute"]["scheme"] == {"public": "https"}
    route = nova["extraObjects"]["route_nova"]
    assert route["spec"]["parentRefs"] == [{"name": "cloud-gateway", "namespace": "gateways"}]
    assert route["spec"]["hostnames"] == ["nova.cloud.example.com"]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "nova-api", "port": 8774}]
    assert neutron["conf"]["auto_bridge_add"] == {"br-ex": "ens5", "br-vlan": "bond1"}
    keystone = services["identity"].releases[0].values
    assert keystone["pod"]["replicas"]["api"] == 3  # services beat size
    assert keystone["conf"]["ks_domains"]["ldap.example.com"]["identity"]["driver"] == "ldap"
    mariadb = services["database"].releases[0].values
    assert mariadb["manifests"]["cron_job_mariadb_backup"] is True
    assert mariadb["pod"]["resources"]["enabled"] is True  # common.infra
    assert keystone["pod"]["affinity"]["anti"]["type"]["default"] == "requiredDuringSchedulingIgnoredDuringExecution"


def test_golden_files_hold_no_real_secret() -> None:
    for path in GOLDEN.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            auth = doc["values"].get("endpoints", {}).get("identity", {}).get("auth", {})
            for account in auth.values():
                assert account["password"].startswith("<"), path


def test_a_yaml_error_names_the_position_but_quotes_no_rendered_text() -> None:
    secret = "s3cr3t-password"
    with pytest.raises(yaml.YAMLError) as error:
        yaml.safe_load(f"a: 1\nb: {{password: {secret}\n")
    assert secret in str(error.value)  # what PyYAML would have put in the message
    message = yaml_problem(error.value)
    assert secret not in message and "line" in message


def test_provider_network_mtu_and_the_floating_network_reach_neutron(renderer: Renderer) -> None:
    doc = load_example("full")
    neutron = next(s for s in _render(renderer, doc) if s.name == "networking").releases[1].values
    assert neutron["conf"]["plugins"]["ml2_conf"]["ml2"]["physical_network_mtus"] == "physnet1:9000"
    assert neutron["bootstrap"]["enabled"] is True
    script = neutron["bootstrap"]["script"].splitlines()
    assert script == [
        "openstack network show public >/dev/null 2>&1 || openstack network create public --external "
        "--provider-network-type flat --provider-physical-network physnet1",
        "openstack subnet show public-subnet >/dev/null 2>&1 || openstack subnet create public-subnet --network "
        "public --no-dhcp --subnet-range 10.11.12.0/24 --allocation-pool start=10.11.12.100,end=10.11.12.200 "
        "--gateway 10.11.12.1"]


def test_spec_strings_in_the_bootstrap_script_are_shell_quoted(renderer: Renderer) -> None:
    doc = load_example("full")
    doc["spec"]["features"]["neutron"]["floating_network"]["physnet"] = "physnet1; rm -rf /"
    doc["spec"]["features"]["neutron"]["external_networks"][0]["physnet"] = "physnet1; rm -rf /"  # as it must be
    neutron = next(s for s in _render(renderer, doc) if s.name == "networking").releases[1].values
    assert "--provider-physical-network 'physnet1; rm -rf /'" in neutron["bootstrap"]["script"]


def test_the_templates_yaml_reader_reads_what_pyyamls_safe_loader_reads() -> None:
    text = """
base: &base {"a": 1, "b": "two", "c": [true, no, null, ~, 1.5, .inf, 0x1f, 1_000, "3", '4', 2026-01-02]}
features:
  <<: *base
  plain: yes
  nested: {"list": [{"k": "v"}, [], {}], "empty": ""}
  text: |
    two
    lines
  octal: 0o17
  key with spaces: !!str 12
"""
    assert load_yaml(text) == yaml.load(text, Loader=yaml.SafeLoader)
    assert load_yaml("") is None and load_yaml("[1, '1']") == [1, "1"]


def test_publishing_charts_get_the_noop_notification_driver_while_notifications_are_off(renderer: Renderer) -> None:
    """The charts default to messagingv2: queues nobody reads. Only the catalog's notifiers get a driver."""
    values = {r.chart: r.values for s in _render(renderer, load_example("full")) for r in s.releases}
    notifiers = {c.name: c.notifier for c in renderer.catalog.charts.values() if c.notifier}
    assert {"keystone", "glance", "neutron", "nova", "cinder", "heat"} <= set(values) & set(notifiers)
    for chart, chart_values in values.items():
        section = chart_values.get("conf", {}).get(notifiers.get(chart, ""), {})
        assert section.get("oslo_messaging_notifications") == ({"driver": "noop"} if chart in notifiers else None)
    spec = load_osdpl(renderer.catalog, load_example("minimal")).spec
    on = dataclasses.replace(spec, features={**spec.features, "messaging": {"notifications": {"enabled": True}}})
    nova = renderer.catalog.charts["nova"]
    bus = notification_bus("openstack", "cluster.local", {"ceilometer_messaging": Credential("ceilometer", "p/w")})
    assert bus == "rabbit://ceilometer:p%2Fw@rabbitmq.openstack.svc.cluster.local:5672/ceilometer"
    # on: published on the bus, never blocking the service for ever when the bus is away
    published = {"oslo_messaging_notifications": {"driver": "messagingv2", "transport_url": bus, "retry": 3}}
    assert notification_values(on, nova, bus) == {"conf": {"nova": published}}
    assert notification_values(on, renderer.catalog.charts["memcached"], bus) == {}
    with pytest.raises(RenderError, match="ceilometer_messaging"):
        notification_values(on, nova, None)
    assert notification_bus("openstack", "cluster.local", {}) is None


def test_metering_reads_the_notification_bus_and_hands_events_to_aodh(renderer: Renderer) -> None:
    doc = load_example("full")
    doc["spec"]["features"]["services"] += ["metric", "metering", "alarming"]  # redis is in the example
    doc["spec"]["features"]["messaging"] = {"notifications": {"enabled": True}}
    values = {r.chart: r.values for s in _render(renderer, doc) for r in s.releases}
    bus = values["nova"]["conf"]["nova"]["oslo_messaging_notifications"]["transport_url"]
    assert bus.endswith("@rabbitmq.openstack.svc.cluster.local:5672/ceilometer")
    assert values["aodh"]["conf"]["aodh"]["oslo_messaging_notifications"] == {"transport_url": bus}
    ceilometer = values["ceilometer"]["conf"]
    assert ceilometer["ceilometer"]["oslo_messaging_notifications"] == {"driver": "messagingv2"}
    assert ceilometer["event_pipeline"]["sinks"][0]["publishers"] == ["gnocchi://", "notifier://?topic=alarm.all"]
    # without alarming nothing reads ceilometer's own notifications: it publishes none
    doc["spec"]["features"]["services"].remove("alarming")
    values = {r.chart: r.values for s in _render(renderer, doc) for r in s.releases}
    assert "aodh" not in values
    ceilometer = values["ceilometer"]["conf"]
    assert ceilometer["ceilometer"]["oslo_messaging_notifications"] == {"driver": "noop"}
    assert ceilometer["event_pipeline"]["sinks"][0]["publishers"] == ["gnocchi://"]


@pytest.mark.parametrize(("services", "evaluators"), [(["alarming"], 1), (["alarming", "coordination"], 2)])
def test_aodh_runs_one_evaluator_unless_they_coordinate(renderer: Renderer, services: list[str],
                                                        evaluators: int) -> None:
    doc = load_example("minimal")
    doc["spec"]["size"] = "small"
    doc["spec"]["features"] = {"services": services}
    aodh = next(s for s in _render(renderer, doc) if s.name == "alarming").releases[0]
    assert aodh.values["pod"]["replicas"] == {"api": 2, "evaluator": evaluators, "listener": 2, "notifier": 2}
    assert (aodh.values["conf"]["aodh"]["coordination"]["backend_url"] is not None) == (evaluators > 1)


def _networking(renderer: Renderer, doc: dict[str, Any]) -> dict[str, Any]:
    return {r.chart: r.values for s in _render(renderer, doc) if s.name == "networking" for r in s.releases}


def test_the_ovn_backend_installs_ovn_between_open_vswitch_and_neutron(renderer: Renderer) -> None:
    doc = load_example("full")
    assert list(_networking(renderer, doc)) == ["openvswitch", "neutron"]
    doc["spec"]["features"]["neutron"]["backend"] = "ml2/ovn"
    releases = _networking(renderer, doc)
    assert list(releases) == ["openvswitch", "ovn", "neutron"]  # the upgrade order inside the service too
    assert releases["neutron"]["network"]["backend"] == ["ovn"]
    # full.yaml's provider networks: mapped by OVN, not by the Open vSwitch agent that no longer runs
    assert releases["ovn"]["conf"]["ovn_bridge_mappings"] == "physnet1:br-ex,physnet2:br-vlan"
    assert "openvswitch_agent" not in releases["neutron"]["conf"]["plugins"]
    compute = {r.chart: r.values for s in _render(renderer, doc) if s.name == "compute" for r in s.releases}
    assert compute["nova"]["network"]["backend"] == compute["libvirt"]["network"]["backend"] == ["ovn"]


@pytest.mark.parametrize("backend, daemonset, runs_with", [("ml2/ovn", "neutron_l3-agent", "ml2"),
                                                           ("ml2", "neutron_ovn-metadata-agent", "ml2/ovn")])
def test_node_values_of_a_daemonset_the_backend_does_not_run_are_refused(renderer: Renderer, backend: str,
                                                                         daemonset: str, runs_with: str) -> None:
    doc = load_example("full")
    doc["spec"]["features"]["neutron"]["backend"] = backend
    doc["spec"]["nodes"] = {"rack::r1": {"services": {"networking": {"neutron": {daemonset: {"values": {
        "conf": {"DEFAULT": {"debug": True}}}}}}}}}
    with pytest.raises(RenderError) as raised:
        _render(renderer, doc)
    assert str(raised.value) == (
        f"spec.nodes.rack::r1.services.networking.neutron.{daemonset}: the neutron chart runs this DaemonSet only "
        f"with features.neutron.backend {runs_with}: its values would be ignored")
