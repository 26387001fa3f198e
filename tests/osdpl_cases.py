"""Manifest cases shared by the offline validator's tests and the API server's: both must reject the same
manifests with the same message (INVALID), and accept and store the same (VALID)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import yaml

from openstack_operator.core.isolation import CHARTS_URL_MESSAGE
from openstack_operator.core.schema.osdpl import MAX_OSDPL_NAME

EXAMPLES = Path(__file__).resolve().parents[1] / "deploy" / "examples"


def load_example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    return data


Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return edit


def _delete(path: str) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        del node[last]
    return edit


def _each(*edits: Edit) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        for one in edits:
            one(doc)
    return edit


INVALID: list[tuple[str, Edit, str]] = [
    ("misspelled-feature-key", _set("spec.features.neutron.tunel_interface", "ens3"),
     "spec.features.neutron.tunel_interface: unknown field"),
    ("misspelled-top-level", _set("spec.openstack_verison", "epoxy"), "spec.openstack_verison: unknown field"),
    ("wrong-type", _set("spec.size", 3),
     'spec.size: Invalid value: "integer": spec.size in body must be of type string: "integer"'),
    ("wrong-type-nested", _set("spec.features.nova.allocation_ratios", {"cpu": "lots"}),
     'spec.features.nova.allocation_ratios.cpu: Invalid value: "string": spec.features.nova.allocation_ratios.cpu '
     'in body must be of type number: "string"'),
    ("unknown-service", _set("spec.features.services", ["telemetry"]),
     'spec.features.services[0]: Unsupported value: "telemetry": supported values: "database", "messaging", '
     '"memcached", "identity", "image", "placement", "networking", "compute", "block-storage", '
     '"dashboard", "orchestration"'),
    ("unknown-service-override", _set("spec.services.telemetry", {"aodh": {"values": {}}}),
     "spec.services.telemetry: unknown field"),
    ("unknown-chart-override", _set("spec.services.compute.novaa", {"values": {}}),
     "spec.services.compute.novaa: unknown field"),
    ("unknown-release", _set("spec.openstack_version", "zed"),
     'spec.openstack_version: Unsupported value: "zed": supported values: "epoxy", "flamingo", '
     '"gazpacho"'),
    ("nodes-key-without-separator", _set("spec.nodes", {"compute-node": {}}),
     'spec.nodes: Invalid value: nodes keys must have the form "<label>::<value>"'),
    ("nodes-unknown-daemonset",
     _set("spec.nodes", {"a::b": {"services": {"compute": {"nova": {"nova_api": {"values": {}}}}}}}),
     "spec.nodes.a::b.services.compute.nova.nova_api: unknown field"),
    ("nodes-conf-only-daemonset",
     _set("spec.nodes", {"a::b": {"services": {"compute": {"nova": {"nova_compute": {"values": {"pod": {}}}}}}}}),
     "spec.nodes.a::b.services.compute.nova.nova_compute.values.pod: unknown field"),
    ("gateway-created-with-section", _set("spec.features.gateway", {"class_name": "envoy", "section_name": "x"}),
     "spec.features.gateway: Invalid value: section_name is for an existing Gateway; with class_name the routes "
     "use the deployment's own listeners"),
    ("gateway-created-elsewhere", _set("spec.features.gateway", {"class_name": "envoy", "namespace": "other"}),
     "spec.features.gateway: Invalid value: a Gateway the deployment creates (class_name) lives in its "
     "namespace: leave namespace unset"),
    ("missing-domain", _delete("spec.public_domain_name"), "spec.public_domain_name: Required value"),
    ("ssl-without-secret", _set("spec.features.ssl", {"public_endpoints": {"enabled": True}}),
     'spec.features.ssl.public_endpoints: Invalid value: secret_name is required when '
     "public_endpoints.enabled is true"),
    ("vlan-range-format", _set("spec.features.neutron.external_networks",
                               [{"physnet": "p", "interface": "i", "vlan_ranges": "10-20"}]),
     "spec.features.neutron.external_networks[0].vlan_ranges: Invalid value: \"10-20\": "
     "spec.features.neutron.external_networks[0].vlan_ranges in body should match '^[0-9]+:[0-9]+$'"),
    ("bad-log-level", _set("spec.features.logging", {"nova": {"level": "LOUD"}}),
     'spec.features.logging.nova.level: Unsupported value: "LOUD": supported values: "DEBUG", "INFO", '
     '"WARNING", "ERROR", "CRITICAL"'),
    ("ceph-without-consumer", _each(_set("spec.features.ceph", {"enabled": True}),
                                    _set("spec.features.cinder", {"backend": "lvm"})),
     "spec.features: Invalid value: ceph.enabled needs a Ceph consumer: glance.backend or cinder.backend rbd"),
    ("ceph-empty-secret-name", _set("spec.features.ceph", {"enabled": True, "keys_secret": {"name": ""}}),
     'spec.features.ceph.keys_secret.name: Invalid value: "": spec.features.ceph.keys_secret.name in body should '
     "be at least 1 chars long"),
    ("ceph-gateway-without-ceph", _set("spec.features.ceph", {"object_gateway": {"enabled": True}}),
     "spec.features.ceph: Invalid value: object_gateway.enabled needs ceph.enabled"),
    ("wrong-kind", _set("kind", "Deployment"),
     'kind: Unsupported value: "Deployment": supported values: "OpenStackDeployment"'),
]


# Names, duplicates and nulls: where `validate` once differed from the API server.
LONGEST_NAME = "o" * MAX_OSDPL_NAME
INVALID += [
    ("name-too-long", _set("metadata.name", "o" * 70), "metadata.name: Too long: may not be more than 63 bytes"),
    ("name-not-a-dns-subdomain", _set("metadata.name", "Osh_dev"),
     'metadata.name: Invalid value: "Osh_dev": a lowercase RFC 1123 subdomain must consist of lower case '
     "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
     "'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
    ("duplicate-service", _set("spec.features.services", ["compute", "image", "compute", "compute"]),
     'spec.features.services[2]: Duplicate value: "compute"'),
    ("duplicate-physnet", _set("spec.features.neutron.external_networks",
                               [{"physnet": "physnet1", "interface": "eth1"},
                                {"physnet": "physnet1", "interface": "eth2", "vlan_ranges": "10:20"}]),
     'spec.features.neutron.external_networks[1]: Duplicate value: {"physnet":"physnet1"}'),
    ("null-required-field", _set("spec.size", None), "spec.size: Required value"),  # dropped, then missing
    ("null-spec", _set("spec", None), "spec: Required value"),
    # issue 23: credentials in the chart source would sit in the spec and on Helm's command line
    ("charts-url-credentials", _set("spec.artifacts.charts_url", "https://u:p@charts.example/osh"),
     f"spec.artifacts.charts_url: Invalid value: {CHARTS_URL_MESSAGE}"),
]

ABSENT = object()  # an expected value: the key is not in the stored object

# Accepted manifests and what the API server stores (defaults and dropped nulls): path -> value.
VALID: list[tuple[str, Edit, dict[str, Any]]] = [
    ("longest-name", _set("metadata.name", LONGEST_NAME), {"metadata.name": LONGEST_NAME}),
    # A null in a typed field is dropped before defaulting: as if unset, so a default applies.
    ("null-optional-field", _set("spec.features.nova.live_migration_interface", None),
     {"spec.features.nova.live_migration_interface": ABSENT, "spec.features.nova.console.novnc.enabled": True}),
    ("null-defaulted-field", _set("spec.draft", None), {"spec.draft": False}),
    ("null-feature-block", _set("spec.features.neutron", None),
     {"spec.features.neutron.tunnel_interface": "ens3", "spec.features.neutron.external_networks": []}),
    ("null-defaulted-list", _set("spec.features.services", None), {"spec.features.services": []}),
    ("null-map-entry", _set("spec.features.logging", {"nova": None, "keystone": {"level": "DEBUG"}}),
     {"spec.features.logging": {"keystone": {"level": "DEBUG"}}}),
    ("null-list-item-field", _set("spec.features.neutron.external_networks",
                                  [{"physnet": "physnet1", "interface": "eth1", "mtu": None}]),
     {"spec.features.neutron.external_networks": [{"physnet": "physnet1", "interface": "eth1", "bridge": "br-ex",
                                                    "network_types": ["flat"]}]}),
    # features.ceph names Pelagia's Secret unless told otherwise; cinder's default rbd backend reads it.
    ("ceph-defaults", _set("spec.features.ceph", {"enabled": True}),
     {"spec.features.ceph.keys_secret": {"namespace": "openstack-ceph-shared", "name": "openstack-ceph-keys"}}),
    ("ceph-off-by-default", lambda doc: None, {"spec.features.ceph": {"enabled": False, "keys_secret": {
        "namespace": "openstack-ceph-shared", "name": "openstack-ceph-keys"}, "object_gateway": {
        "enabled": False, "credentials_secret": {"namespace": "openstack-ceph-shared",
                                                 "name": "openstack-rgw-creds"}}}}),
    # The object gateway's credentials go to Rockoon's Secret unless told otherwise.
    ("ceph-gateway-defaults", _set("spec.features.ceph", {"enabled": True, "object_gateway": {"enabled": True}}),
     {"spec.features.ceph.object_gateway.credentials_secret": {"namespace": "openstack-ceph-shared",
                                                                "name": "openstack-rgw-creds"}}),
    ("null-values-object", _set("spec.services.compute.nova.values", None), {"spec.services.compute.nova": {}}),
    # Inside free-form values a null is kept: Helm then drops that key from the chart's defaults.
    ("null-inside-values", _set("spec.services.compute.nova.values", {"conf": {"nova": {"DEFAULT": {"debug": None}}},
                                                                    "pod": None}),
     {"spec.services.compute.nova.values": {"conf": {"nova": {"DEFAULT": {"debug": None}}}, "pod": None}}),
    ("null-inside-common-values", _set("spec.common.openstack.values", {"endpoints": None}),
     {"spec.common.openstack.values.endpoints": None}),
]


def stored_value(doc: Any, path: str) -> Any:
    """The value at a dotted path of `doc`, or ABSENT."""
    for key in path.split("."):
        if not isinstance(doc, dict) or key not in doc:
            return ABSENT
        doc = doc[key]
    return doc


def update_pair(old_changes: dict[str, Any], new_changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    old, new = load_example("minimal"), load_example("minimal")
    old["spec"].update(old_changes)
    new["spec"].update(new_changes)
    return old, new


# The release may change in any direction as far as the CRD goes: what may follow depends on the deployed release
# on the status, which the admission policy (crds/openstackdeployments-upgrade-policy.yaml) and the osdpl process
# judge (tests/unit/test_upgrade.py, tests/integration/test_upgrade_guard.py).
UPDATES = [
    ("same-version", {"openstack_version": "epoxy"}, {"openstack_version": "epoxy"}, []),
    ("one-step-forward", {"openstack_version": "epoxy"}, {"openstack_version": "flamingo"}, []),
    ("slurp-to-slurp", {"openstack_version": "epoxy"}, {"openstack_version": "gazpacho"}, []),
    ("back-is-for-the-policy", {"openstack_version": "gazpacho"}, {"openstack_version": "flamingo"}, []),
    ("preset-change", {"preset": "core"}, {"preset": "compute"},
     ['spec.preset: Invalid value: preset is immutable']),
    ("size-change-allowed", {"size": "tiny"}, {"size": "medium"}, []),
]


