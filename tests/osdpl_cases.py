"""Manifest cases shared by the offline validator's tests and the API server's: both must reject the same
manifests with the same message (INVALID), and accept and store the same (VALID)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import yaml

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.isolation import CHARTS_URL_MESSAGE
from openstack_operator.core.schema.osdpl import MAX_OSDPL_NAME
from openstack_operator.core.schema.semantics import RANGE_MESSAGE, cron_rule

EXAMPLES = Path(__file__).resolve().parents[1] / "deploy" / "examples"


def load_example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    return data



def with_every_service(catalog: Catalog, doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` (the full example) with every service of the catalog on, and what some of them require: Ceph with its
    gateway user (object-storage; the share backend's CephFS), a share backend of each driver, notifications for
    metering, bare metal's settings and its physnet among neutron's."""
    features = doc["spec"]["features"]
    features["services"] = list(catalog.services)
    features["ceph"] = {"enabled": True, "object_gateway": {"enabled": True}}
    features["manila"] = {"service_image_url": "https://mirror.example.com/manila.qcow2", "share": {
        "backends": {"generic": {"driver": "generic"}, "cephfs": {"driver": "cephfs"}}}}
    features["messaging"] = {"notifications": {"enabled": True}}
    features["neutron"]["external_networks"].append({"physnet": "ironic", "interface": "bond2"})
    features["ironic"] = {"provisioning_interface": "pxe0", "baremetal_network_name": "provisioning"}
    return doc

Edit = Callable[[dict[str, Any]], None]
# The key manager's Vault store, complete: its AppRole from a Secret of the osdpl's namespace.
VAULT = {"enabled": True, "vault_url": "https://vault.example.com:8200",
         "approle_role_id": {"value_from": {"secret_key_ref": {"name": "vault-approle", "key": "role_id"}}},
         "approle_secret_id": {"value_from": {"secret_key_ref": {"name": "vault-approle", "key": "secret_id"}}}}


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


# Bare metal with what it needs: compute, the provisioning physnet among neutron's external networks.
_IRONIC_PHYSNET = {"physnet": "ironic", "interface": "eth2"}


def _ironic() -> Edit:
    return _each(_set("spec.features.neutron.external_networks", [_IRONIC_PHYSNET]),
                 _set("spec.features.ironic", {"provisioning_interface": "pxe0", "baremetal_network_name": "bm"}))


def _baremetal() -> Edit:
    return _each(_set("spec.preset", "compute"), _set("spec.features.services", ["baremetal"]), _ironic())


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
     'spec.features.services[0]: Unsupported value: "telemetry": supported values: '
     + ", ".join(f'"{service}"' for service in Catalog.load().services)),
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
                               [{"physnet": "p", "interface": "i", "network_types": ["vlan"],
                                 "vlan_ranges": "10-20"}]),
     "spec.features.neutron.external_networks[0].vlan_ranges: Invalid value: \"10-20\": "
     "spec.features.neutron.external_networks[0].vlan_ranges in body should match '^[0-9]+:[0-9]+$'"),
    ("bad-log-level", _set("spec.features.logging", {"nova": {"level": "LOUD"}}),
     'spec.features.logging.nova.level: Unsupported value: "LOUD": supported values: "DEBUG", "INFO", '
     '"WARNING", "ERROR", "CRITICAL"'),
    ("ceph-without-consumer", _each(_set("spec.features.ceph", {"enabled": True}),
                                    _set("spec.features.cinder", {"backend": "lvm"})),
     "spec.features: Invalid value: ceph.enabled needs a Ceph consumer: glance.backend or cinder.backend rbd, or an "
     "enabled cephfs share backend"),
    ("ceph-empty-secret-name", _set("spec.features.ceph", {"enabled": True, "keys_secret": {"name": ""}}),
     'spec.features.ceph.keys_secret.name: Invalid value: "": spec.features.ceph.keys_secret.name in body should '
     "be at least 1 chars long"),
    ("ceph-gateway-without-ceph", _set("spec.features.ceph", {"object_gateway": {"enabled": True}}),
     "spec.features.ceph: Invalid value: object_gateway.enabled needs ceph.enabled"),
    ("vault-without-key-manager", _set("spec.features.barbican", {"backends": {"vault": VAULT}}),
     "spec.features.barbican.backends.vault.enabled: Invalid value: the Vault backend needs the key manager: add "
     "key-manager to features.services"),
    ("vault-without-approle", _each(_set("spec.features.services", ["key-manager"]), _set(
        "spec.features.barbican", {"backends": {"vault": {"enabled": True, "vault_url": "https://vault:8200"}}})),
     "spec.features.barbican.backends.vault: Invalid value: vault.enabled needs vault_url, approle_role_id and "
     "approle_secret_id"),
    ("vault-inline-secret", _each(_set("spec.features.services", ["key-manager"]), _set(
        "spec.features.barbican", {"backends": {"vault": {**VAULT, "approle_secret_id": "s3cr3t"}}})),
     'spec.features.barbican.backends.vault.approle_secret_id: Invalid value: "string": '
     'spec.features.barbican.backends.vault.approle_secret_id in body must be of type object: "string"'),
    ("vault-ssl-over-http", _each(_set("spec.features.services", ["key-manager"]), _set(
        "spec.features.barbican", {"backends": {"vault": {**VAULT, "vault_url": "http://vault:8200",
                                                          "use_ssl": True}}})),
     "spec.features.barbican.backends.vault.use_ssl: Invalid value: use_ssl needs an https:// vault_url"),
    ("designate-without-dns", _set("spec.features.designate", {"backend": {"protocol": "tcp"}}),
     "spec.features.designate.backend: Invalid value: designate's settings need DNS as a service: add dns to "
     "features.services"),
    ("designate-external-ip-not-an-ip", _each(_set("spec.features.services", ["dns"]), _set(
        "spec.features.designate", {"backend": {"external_ip": "ns1.example.com"}})),
     'spec.features.designate.backend.external_ip: Invalid value: "ns1.example.com": external_ip must be an IP '
     'address, e.g. 203.0.113.53'),
    ("designate-unknown-protocol", _each(_set("spec.features.services", ["dns"]), _set(
        "spec.features.designate", {"backend": {"protocol": "sctp"}})),
     'spec.features.designate.backend.protocol: Unsupported value: "sctp": supported values: "udp", "tcp", '
     '"tcp+udp"'),
    ("masakari-log-level-it-cannot-set", _set("spec.features.logging", {"masakari": {"level": "WARNING"}}),
     "spec.features.logging: Invalid value: masakari.level: masakari's chart has no logging configuration: its "
     "level is INFO, or DEBUG through its debug option"),
    ("gnocchi-log-level-it-cannot-set", _set("spec.features.logging", {"gnocchi": {"level": "ERROR"}}),
     "spec.features.logging: Invalid value: gnocchi.level: gnocchi's chart has no logging configuration: its "
     "level is INFO, or DEBUG through its debug option"),
    ("metric-without-redis", _each(_set("spec.artifacts", {"images_base_url": "registry.example.com/openstack"}),
                                   _set("spec.features.services", ["metric"])),
     "spec.features.services: Invalid value: metric keeps gnocchi's incoming measures and its workers' "
     "coordination in redis: add redis to features.services"),
    ("metric-without-a-registry", _set("spec.features.services", ["metric", "redis"]),
     "spec.artifacts.images_base_url: Invalid value: metric runs gnocchi from an image no public registry "
     "publishes: build it (tools/build-openstack-images.sh gnocchi), push it to your registry and set "
     "artifacts.images_base_url (docs/images.md)"),
    ("introspective-monitor-without-instance-ha", _set("spec.features.masakari", {
        "monitors": {"introspective": {"enabled": True}}}),
     "spec.features.masakari.monitors.introspective.enabled: Invalid value: the introspective monitor needs "
     "instance HA: add instance-ha to features.services"),
    ("instance-ha-without-compute", _set("spec.features.services", ["instance-ha"]),
     "spec.features.services: Invalid value: instance-ha needs compute: a preset with it (compute) or compute in "
     "features.services"),
    ("log-level-of-a-chart-without-one", _set("spec.features.logging", {"tempest": {"level": "DEBUG"}}),
     "spec.features.logging: Invalid value: logging sets the level of these charts only: aodh, barbican, ceilometer, "
     "cinder, designate, glance, gnocchi, heat, horizon, ironic, keystone, manila, masakari, neutron, nova, octavia, "
     "placement"),
    ("load-balancer-without-an-amphora-image", _set("spec.features.services", ["compute", "redis", "load-balancer"]),
     "spec.features.services: Invalid value: load-balancer boots amphorae from an image: set "
     "octavia.amphora_image_url (the bootstrap Job uploads it to glance)"),
    ("load-balancer-without-compute", _each(_set("spec.features.services", ["redis", "load-balancer"]), _set(
        "spec.features.octavia", {"amphora_image_url": "https://mirror.example.com/amphora.qcow2"})),
     "spec.features.services: Invalid value: load-balancer needs compute: a preset with it (compute) or compute in "
     "features.services"),
    ("amphora-image-url-with-credentials", _each(_set("spec.features.services", ["compute", "redis", "load-balancer"]), _set(
        "spec.features.octavia", {"amphora_image_url": "https://user:pw@mirror.example.com/amphora.qcow2"})),
     "spec.features.octavia.amphora_image_url: Invalid value: amphora_image_url: an http(s) URL without "
     "user:password@ (the chart keeps the bootstrap Job's script, which holds it, in a ConfigMap)"),
    ("octavia-ovn-provider", _each(_set("spec.features.services", ["compute", "redis", "load-balancer"]), _set(
        "spec.features.octavia", {"amphora_image_url": "https://mirror.example.com/a.qcow2",
                                  "default_provider": "ovn"})),
     "spec.features.octavia.default_provider: Invalid value: default_provider: only amphorav2 can be deployed: ovn "
     "needs the OVN networking backend and tungstenfabric its SDN, neither of which this version deploys"),
    ("octavia-pool-outside-its-subnet", _each(_set("spec.features.services", ["compute", "redis", "load-balancer"]), _set(
        "spec.features.octavia", {"amphora_image_url": "https://mirror.example.com/a.qcow2", "lb_network": {
            "subnets": [{"range": "10.1.0.0/24", "pool_start": "10.2.0.10", "pool_end": "10.1.0.200"}]}})),
     "spec.features.octavia.lb_network.subnets[0]: Invalid value: pool_start and pool_end must be addresses of "
     "range"),
    ("load-balancer-without-redis", _each(_set("spec.features.services", ["compute", "load-balancer"]), _set(
        "spec.features.octavia", {"amphora_image_url": "https://mirror.example.com/amphora.qcow2"})),
     "spec.features.services: Invalid value: load-balancer keeps its workers' flows (amphorav2's jobboard) in "
     "redis: add redis to features.services"),
    ("octavia-settings-without-the-load-balancer", _set(
        "spec.features.octavia", {"amphora_image_url": "https://mirror.example.com/a.qcow2"}),
     "spec.features.octavia.amphora_image_url: Invalid value: octavia's settings need the load balancer: add "
     "load-balancer to features.services"),
    ("object-storage-without-the-gateway-user", _set("spec.features.services", ["object-storage"]),
     "spec.features.services: Invalid value: object-storage registers the storage side's object gateway: it needs "
     "ceph.object_gateway.enabled (the gateway's Keystone user) and ceph.enabled"),
    ("shared-file-system-without-a-backend", _set("spec.features.services", ["shared-file-system"]),
     "spec.features.services: Invalid value: shared-file-system needs a share backend: an enabled one in "
     "manila.share.backends (driver generic or cephfs)"),
    ("shared-file-system-with-its-only-backend-off", _each(
        _set("spec.features.services", ["shared-file-system"]),
        _set("spec.features.manila", {"share": {"backends": {"generic": {"driver": "generic", "enabled": False}}}})),
     "spec.features.services: Invalid value: shared-file-system needs a share backend: an enabled one in "
     "manila.share.backends (driver generic or cephfs)"),
    ("manila-settings-without-shared-file-system", _each(_set("spec.features.ceph", {"enabled": True}), _set(
        "spec.features.manila", {"share": {"backends": {"cephfs": {"driver": "cephfs"}}}})),
     "spec.features.manila: Invalid value: manila's settings need shared file systems: add shared-file-system to "
     "features.services"),
    ("generic-share-backend-without-a-service-image", _each(
        _set("spec.preset", "compute"), _set("spec.features.services", ["shared-file-system"]),
        _set("spec.features.manila", {"share": {"backends": {"generic": {"driver": "generic"}}}})),
     "spec.features.manila.share.backends: Invalid value: a generic share backend boots share servers from a "
     "service image: set manila.service_image_url (the bootstrap Job uploads it to glance)"),
    ("generic-share-backend-without-compute", _each(
        _set("spec.features.services", ["shared-file-system"]),
        _set("spec.features.manila", {"service_image_url": "https://mirror.example.com/manila.qcow2",
                                      "share": {"backends": {"generic": {"driver": "generic"}}}})),
     "spec.features.manila.share.backends: Invalid value: a generic share backend's share servers are instances "
     "with cinder volumes: it needs compute and block-storage (the compute preset, or both in features.services)"),
    ("cephfs-share-backend-without-ceph", _each(
        _set("spec.features.services", ["shared-file-system"]),
        _set("spec.features.manila", {"share": {"backends": {"cephfs": {"driver": "cephfs"}}}})),
     "spec.features.manila.share.backends: Invalid value: a cephfs share backend uses the storage side's CephFS: "
     "set ceph.enabled (its `manila` client comes through the Ceph exchange)"),
    ("share-backend-named-like-the-charts-share-type", _each(
        _set("spec.preset", "compute"), _set("spec.features.services", ["shared-file-system"]),
        _set("spec.features.manila", {"service_image_url": "https://mirror.example.com/manila.qcow2",
                                      "share": {"backends": {"default": {"driver": "generic"}}}})),
     "spec.features.manila.share.backends: Invalid value: share.backends: default is the share type the chart's "
     "bootstrap Job creates in every deployment: name the backend otherwise"),
    ("cephfs-share-backend-without-cephfs-in-its-name", _each(
        _set("spec.features.services", ["shared-file-system"]), _set("spec.features.ceph", {"enabled": True}),
        _set("spec.features.manila", {"share": {"backends": {"fs": {"driver": "cephfs"}}}})),
     "spec.features.manila.share.backends: Invalid value: share.backends: a cephfs backend's name contains cephfs "
     "and no other backend's does (the chart mounts the Ceph client's key exactly when an enabled backend's name "
     "contains cephfs)"),
    ("share-backend-name-not-a-section-name", _each(
        _set("spec.features.services", ["shared-file-system"]), _set("spec.features.ceph", {"enabled": True}),
        _set("spec.features.manila", {"share": {"backends": {"cephfs]X": {"driver": "cephfs"}}}})),
     "spec.features.manila.share.backends: Invalid value: share.backends: a backend's name is lower-case "
     "letters, digits, _ and -, starting with a letter, at most 63 characters"),
    ("service-image-url-with-a-shell-command", _each(
        _set("spec.preset", "compute"), _set("spec.features.services", ["shared-file-system"]),
        _set("spec.features.manila", {"service_image_url": "https://mirror.example.com/$(id)/m.qcow2",
                                      "share": {"backends": {"generic": {"driver": "generic"}}}})),
     "spec.features.manila.service_image_url: Invalid value: service_image_url: an http(s) URL of letters, digits "
     "and ._~%+- in its path, ending in the file name, without user:password@, query or shell characters (the "
     "chart puts it in a shell command unquoted)"),
    ("baremetal-without-ironic", _each(_set("spec.preset", "compute"), _set("spec.features.services", ["baremetal"])),
     "spec.features.services: Invalid value: baremetal needs features.ironic: at least provisioning_interface (the "
     "conductor nodes' interface on the provisioning network) and baremetal_network_name"),
    ("ironic-settings-without-baremetal", _each(_set("spec.preset", "compute"), _ironic()),
     "spec.features.ironic: Invalid value: ironic's settings need bare metal: add baremetal to features.services"),
    ("ironic-without-its-network-name", _each(_baremetal(), _set("spec.features.ironic", {
        "provisioning_interface": "pxe0"})),
     "spec.features.ironic.baremetal_network_name: Required value"),
    ("ironic-physnet-unknown-to-neutron", _each(_baremetal(), _set("spec.features.ironic.networks", {
        "baremetal": {"physnet": "physnet9"}})),
     "spec.features.ironic.networks.baremetal.physnet: Invalid value: ironic.networks.baremetal.physnet must be the "
     "physnet of one of neutron.external_networks (where the nodes' Open vSwitch bridges reach the provisioning "
     "network)"),
    ("ironic-network-type-its-physnet-lacks", _each(_baremetal(), _set("spec.features.ironic.networks", {
        "baremetal": {"network_type": "vlan"}})),
     "spec.features.ironic.networks.baremetal.network_type: Invalid value: ironic.networks.baremetal.network_type "
     "must be one of the network_types of its physnet in neutron.external_networks"),
    ("ironic-geneve-network", _each(_baremetal(), _set("spec.features.ironic.networks", {
        "baremetal": {"network_type": "geneve"}})),
     "spec.features.ironic.networks.baremetal.network_type: Invalid value: network_type: vxlan and geneve need "
     "bind_deployment_services (OVN with VTEP), which this version does not deploy: use flat or vlan"),
    ("ironic-bind-deployment-services", _each(_baremetal(), _set("spec.features.ironic.networks", {
        "baremetal": {"bind_deployment_services": True}})),
     "spec.features.ironic.networks.baremetal.bind_deployment_services: Invalid value: bind_deployment_services "
     "needs OVN with VTEP, which this version does not deploy: set false or remove the field"),
    ("ironic-second-network-name", _each(_baremetal(), _set("spec.features.ironic.networks", {
        "baremetal": {"name": "cleaning"}})),
     "spec.features.ironic.networks.baremetal.name: Invalid value: networks.baremetal.name must equal "
     "baremetal_network_name: the bootstrap Job creates one network for provisioning and cleaning"),
    ("ironic-segment-on-a-flat-network", _each(_baremetal(), _set("spec.features.ironic.networks", {
        "baremetal": {"segmentation_id": 12}})),
     "spec.features.ironic.networks.baremetal.segmentation_id: Invalid value: segmentation_id is for network_type "
     "vlan only"),
    ("ironic-gateway-in-the-pool", _each(_baremetal(), _set("spec.features.ironic.networks", {"baremetal": {
        "subnets": [{"name": "pxe", "range": "10.9.0.0/24", "pool_start": "10.9.0.10", "pool_end": "10.9.0.99",
                     "gateway": "10.9.0.50"}]}})),
     "spec.features.ironic.networks.baremetal.subnets[0].gateway: Invalid value: gateway must be outside the pool "
     "pool_start to pool_end (Neutron refuses a gateway inside an allocation pool)"),
    ("ironic-agent-images-url-with-credentials", _each(_baremetal(), _set("spec.features.ironic.agent_images", {
        "base_url": "https://user:pw@mirror.example.com/ipa"})),
     "spec.features.ironic.agent_images.base_url: Invalid value: agent_images.base_url: an http(s) URL without "
     "user:password@ (the chart keeps the bootstrap Job's script, which holds it, in a ConfigMap)"),
    ("ironic-provisioning-interface-with-a-shell-word", _each(_baremetal(), _set(
        "spec.features.ironic.provisioning_interface", "eth0;id")),
     "spec.features.ironic.provisioning_interface: Invalid value: \"eth0;id\": "
     "spec.features.ironic.provisioning_interface in body should match "
     "'^[A-Za-z0-9_.:@-]{1,15}$'"),
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
                                {"physnet": "physnet1", "interface": "eth2", "network_types": ["vlan"],
                                 "vlan_ranges": "10:20"}]),
     'spec.features.neutron.external_networks[1]: Duplicate value: {"physnet":"physnet1"}'),
    ("null-required-field", _set("spec.size", None), "spec.size: Required value"),  # dropped, then missing
    ("null-spec", _set("spec", None), "spec: Required value"),
    # issue 23: credentials in the chart source would sit in the spec and on Helm's command line
    ("charts-url-credentials", _set("spec.artifacts.charts_url", "https://u:p@charts.example/osh"),
     f"spec.artifacts.charts_url: Invalid value: {CHARTS_URL_MESSAGE}"),
]

CRON_MESSAGE = cron_rule("schedule_time")["message"]
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
    # Bare metal's defaults: the chart's tinyipa images, a flat network on physnet ironic with the chart's subnet.
    ("ironic-defaults", _baremetal(),
     {"spec.features.ironic.networks.baremetal": {
         "physnet": "ironic", "network_type": "flat", "external": True, "shared": True,
         "bind_deployment_services": False,
         "subnets": [{"name": "baremetal", "range": "172.24.6.0/24", "pool_start": "172.24.6.100",
                      "pool_end": "172.24.6.200", "gateway": "172.24.6.1"}]},
      "spec.features.ironic.agent_images": {
          "base_url": "https://tarballs.opendev.org/openstack/ironic-python-agent/tinyipa/files",
          "kernel": "tinyipa-stable-2025.1.vmlinuz", "initramfs": "tinyipa-stable-2025.1.gz"},
      "spec.features.ironic.console.serial.enabled": True}),
    # A share backend's defaults: on, with a share type of its name, run by the release's StatefulSet.
    ("cephfs-share-backend-defaults", _each(
        _set("spec.features.services", ["shared-file-system"]), _set("spec.features.ceph", {"enabled": True}),
        _set("spec.features.manila", {"share": {"backends": {"cephfs": {"driver": "cephfs"}}}})),
     {"spec.features.manila.share.backends.cephfs": {"driver": "cephfs", "enabled": True,
                                                      "create_share_type": True, "type": "statefulset"}}),
    ("null-values-object", _set("spec.services.compute.nova.values", None), {"spec.services.compute.nova": {}}),
    # Inside free-form values a null is kept: Helm then drops that key from the chart's defaults.
    ("null-inside-values", _set("spec.services.compute.nova.values", {"conf": {"nova": {"DEFAULT": {"debug": None}}},
                                                                    "pod": None}),
     {"spec.services.compute.nova.values": {"conf": {"nova": {"DEFAULT": {"debug": None}}}, "pod": None}}),
    ("null-inside-common-values", _set("spec.common.openstack.values", {"endpoints": None}),
     {"spec.common.openstack.values.endpoints": None}),
]


# Issue 24: values that cannot work, refused by CEL rules with the same message offline (core/schema/semantics.py).
_SUBNET = {"range": "10.11.12.0/24", "pool_start": "10.11.12.100", "pool_end": "10.11.12.200",
           "gateway": "10.11.12.1"}
_FLAT = {"physnet": "physnet1", "interface": "ens5"}
_VLAN = {"physnet": "physnet2", "interface": "bond1", "network_types": ["vlan"]}


def _neutron(external: list[dict[str, Any]] | None = None, dns: list[str] | None = None, **floating: Any) -> Edit:
    """features.neutron with an enabled floating network on physnet1 (flat) and the subnet above, changed by
    `floating` (its `subnet` entries update the subnet; None drops a key)."""
    subnet = {k: v for k, v in {**_SUBNET, **floating.pop("subnet", {})}.items() if v is not None}
    fl = {k: v for k, v in {"enabled": True, "physnet": "physnet1", "subnet": subnet, **floating}.items()
          if v is not None}
    return _set("spec.features.neutron", {"external_networks": external or [_FLAT], "floating_network": fl,
                                          **({"dns_servers": dns} if dns is not None else {})})


_SUBNET_PATH = "spec.features.neutron.floating_network.subnet"
_HOST = "must be a host address of range (inside it, neither its network nor its broadcast address)"
SEMANTIC_INVALID: list[tuple[str, Edit, str]] = [
    ("subnet-prefix-too-long", _neutron(subnet={"range": "10.11.12.0/33"}),
     f'{_SUBNET_PATH}.range: Invalid value: "10.11.12.0/33": {RANGE_MESSAGE}'),
    ("subnet-ipv6", _neutron(subnet={"range": "2001:db8::/64"}),
     f'{_SUBNET_PATH}.range: Invalid value: "2001:db8::/64": {RANGE_MESSAGE}'),
    ("subnet-without-range", _neutron(subnet={"range": None}), f"{_SUBNET_PATH}.range: Required value"),
    ("pool-start-not-an-ip", _neutron(subnet={"pool_start": "banana"}),
     f'{_SUBNET_PATH}.pool_start: Invalid value: "banana": pool_start must be an IP address, e.g. 10.11.12.100'),
    ("gateway-not-an-ip", _neutron(subnet={"gateway": "300.1.1.1"}),
     f'{_SUBNET_PATH}.gateway: Invalid value: "300.1.1.1": gateway must be an IP address, e.g. 10.11.12.1'),
    ("dns-server-not-an-ip", _neutron(dns=["10.0.0.53", "not-an-ip"]),
     'spec.features.neutron.dns_servers[1]: Invalid value: "not-an-ip": each of dns_servers must be an IP '
     "address, e.g. 10.0.0.53"),
    ("pool-end-outside-range", _neutron(subnet={"pool_end": "10.11.13.5"}),
     f"{_SUBNET_PATH}.pool_end: Invalid value: pool_end {_HOST}"),
    ("pool-start-network-address", _neutron(subnet={"pool_start": "10.11.12.0"}),
     f"{_SUBNET_PATH}.pool_start: Invalid value: pool_start {_HOST}"),
    ("gateway-broadcast-address", _neutron(subnet={"gateway": "10.11.12.255"}),
     f"{_SUBNET_PATH}.gateway: Invalid value: gateway {_HOST}"),
    ("gateway-outside-range", _neutron(subnet={"gateway": "10.11.0.1"}),
     f"{_SUBNET_PATH}.gateway: Invalid value: gateway {_HOST}"),
    ("pool-reversed", _neutron(subnet={"pool_start": "10.11.12.200", "pool_end": "10.11.12.100"}),
     f"{_SUBNET_PATH}.pool_end: Invalid value: pool_end must not be lower than pool_start"),
    ("pool-reversed-low-bit", _neutron(subnet={"pool_start": "10.11.12.101", "pool_end": "10.11.12.100"}),
     f"{_SUBNET_PATH}.pool_end: Invalid value: pool_end must not be lower than pool_start"),
    ("gateway-inside-pool", _neutron(subnet={"gateway": "10.11.12.150"}),
     f"{_SUBNET_PATH}.gateway: Invalid value: gateway must be outside the pool pool_start to pool_end (Neutron "
     "refuses a gateway inside an allocation pool)"),
    ("pool-holds-default-gateway", _neutron(subnet={"pool_start": "10.11.12.1", "gateway": None}),
     f"{_SUBNET_PATH}.pool_start: Invalid value: pool_start must not be the first address of range while "
     "gateway is unset (Neutron makes that address the gateway, and a gateway may not be in the pool)"),
    ("pool-without-end", _neutron(subnet={"pool_end": None}),
     f"{_SUBNET_PATH}: Invalid value: pool_start and pool_end go together: set both or neither"),
    ("floating-physnet-undeclared", _neutron(physnet="physnet9"),
     "spec.features.neutron.floating_network.physnet: Invalid value: floating_network.physnet must be the physnet "
     "of one of external_networks"),
    ("floating-type-not-offered", _neutron(network_type="vlan", segmentation_id=100),
     "spec.features.neutron.floating_network.network_type: Invalid value: floating_network.network_type must be "
     "one of the network_types of its physnet in external_networks"),
    ("floating-vlan-without-segment", _neutron(external=[_FLAT, _VLAN], physnet="physnet2", network_type="vlan"),
     "spec.features.neutron.floating_network.segmentation_id: Invalid value: floating_network.segmentation_id is "
     "required: its physnet has no vlan_ranges to allocate a VLAN from"),
    ("segmentation-id-on-flat", _neutron(segmentation_id=100),
     "spec.features.neutron.floating_network.segmentation_id: Invalid value: segmentation_id is for network_type "
     "vlan only"),
    ("cron-words", _set("spec.features.database.backup", {"enabled": True, "schedule_time": "every day"}),
     f'spec.features.database.backup.schedule_time: Invalid value: "every day": {CRON_MESSAGE}'),
    ("cron-hour-24", _set("spec.features.database.backup", {"schedule_time": "0 24 * * *"}),
     f'spec.features.database.backup.schedule_time: Invalid value: "0 24 * * *": {CRON_MESSAGE}'),
    ("cron-six-fields", _set("spec.features.database.backup", {"schedule_time": "0 0 1 * * *"}),
     f'spec.features.database.backup.schedule_time: Invalid value: "0 0 1 * * *": {CRON_MESSAGE}'),
    ("public-domain-not-dns", _set("spec.public_domain_name", "Not A Domain!"),
     'spec.public_domain_name: Invalid value: "Not A Domain!": public_domain_name must be a lowercase DNS name '
     "(RFC 1123: letters, digits, '-' and '.', labels of at most 63 characters), e.g. cloud.example.com"),
    ("internal-domain-trailing-dot", _set("spec.internal_domain_name", "cluster.local."),
     'spec.internal_domain_name: Invalid value: "cluster.local.": internal_domain_name must be a lowercase DNS '
     "name (RFC 1123: letters, digits, '-' and '.', labels of at most 63 characters), e.g. cluster.local"),
    ("vlan-range-backwards", _set("spec.features.neutron.external_networks", [{**_VLAN, "vlan_ranges": "2000:1000"}]),
     'spec.features.neutron.external_networks[0].vlan_ranges: Invalid value: "2000:1000": vlan_ranges must be '
     "min:max with VLAN IDs 1 to 4094 and min <= max, e.g. 1000:1999"),
    ("vlan-range-beyond-4094", _set("spec.features.neutron.external_networks", [{**_VLAN, "vlan_ranges": "4000:4095"}]),
     'spec.features.neutron.external_networks[0].vlan_ranges: Invalid value: "4000:4095": vlan_ranges must be '
     "min:max with VLAN IDs 1 to 4094 and min <= max, e.g. 1000:1999"),
    ("vlan-ranges-on-flat", _set("spec.features.neutron.external_networks", [{**_FLAT, "vlan_ranges": "10:20"}]),
     "spec.features.neutron.external_networks[0].vlan_ranges: Invalid value: vlan_ranges is for a physnet whose "
     "network_types include vlan"),
    ("keystone-domain-without-config", _set("spec.features.keystone.domains", {"ldap": {"enabled": True}}),
     "spec.features.keystone.domains[ldap].config: Invalid value: config is required for an enabled domain "
     "(Keystone refuses an empty domain config): set its sections, e.g. identity.driver, or enabled: false"),
    ("notifications-without-metering", _set("spec.features.messaging.notifications", {"enabled": True}),
     "spec.features.messaging.notifications.enabled: Invalid value: notifications are read by metering (ceilometer) "
     "alone: add metering to features.services, or leave notifications off"),
    ("metering-without-metric", _set("spec.features.services", ["metering"]),
     "spec.features.services: Invalid value: metering stores its samples and events in gnocchi: add metric to "
     "features.services"),
    ("database-cleanup-enabled", _set("spec.features.database.cleanup", {"enabled": True}),
     "spec.features.database.cleanup.enabled: Invalid value: cleanup cannot be enabled by this version: it schedules "
     "no purge of soft-deleted rows; set false or remove the field"),
    ("keystone-domain-name", _set("spec.features.keystone.domains", {"my domain": {"enabled": False}}),
     "spec.features.keystone.domains: Invalid value: domains keys must be Keystone domain names of 1 to 64 "
     "letters, digits, '-', '_' and '.'"),
]
INVALID += SEMANTIC_INVALID
INVALID += [
    ("ovn-values-with-open-vswitch", _set("spec.services.networking.ovn", {"values": {"conf": {"ovn_monitor_all": True}}}),
     "spec.services.networking.ovn: Invalid value: the ovn chart is installed only with features.neutron.backend "
     "ml2/ovn: its values would be ignored"),
]

VALID += [
    ("cron-descriptor", _set("spec.features.database.backup", {"enabled": True, "schedule_time": "@daily"}),
     {"spec.features.database.backup.schedule_time": "@daily"}),
    ("cron-ranges-names-steps", _set("spec.features.database.backup.schedule_time", "*/15 0-6,22 * JAN-mar mon-FRI"),
     {"spec.features.database.backup.schedule_time": "*/15 0-6,22 * JAN-mar mon-FRI"}),
    ("smallest-subnet", _neutron(subnet={"range": "10.0.0.0/30", "pool_start": "10.0.0.1", "pool_end": "10.0.0.1",
                                         "gateway": "10.0.0.2"}),
     {f"{_SUBNET_PATH}.pool_end": "10.0.0.1"}),
    ("pool-from-first-address-with-gateway", _neutron(subnet={"pool_start": "10.11.12.1", "gateway": "10.11.12.254"}),
     {f"{_SUBNET_PATH}.pool_start": "10.11.12.1"}),
    ("subnet-without-pool", _neutron(subnet={"pool_start": None, "pool_end": None, "gateway": "10.11.12.254"}),
     {f"{_SUBNET_PATH}.pool_start": ABSENT}),
    ("floating-vlan-from-ranges", _neutron(external=[_FLAT, {**_VLAN, "vlan_ranges": "1000:1999"}],
                                           physnet="physnet2", network_type="vlan"),
     {"spec.features.neutron.floating_network.network_type": "vlan"}),
    ("floating-vlan-given-segment", _neutron(external=[_VLAN], physnet="physnet2", network_type="vlan",
                                             segmentation_id=4094),
     {"spec.features.neutron.floating_network.segmentation_id": 4094}),
    ("dns-servers-ipv6", _set("spec.features.neutron.dns_servers", ["2001:db8::53", "10.0.0.53"]),
     {"spec.features.neutron.dns_servers": ["2001:db8::53", "10.0.0.53"]}),
    ("keystone-domain-disabled-without-config", _set("spec.features.keystone.domains", {"ldap": {"enabled": False}}),
     {"spec.features.keystone.domains.ldap": {"enabled": False, "config": {}}}),
    ("ovn-with-its-values", _each(_set("spec.features.neutron.backend", "ml2/ovn"),
                                  _set("spec.services.networking.ovn", {"values": {"conf": {"ovn_monitor_all": True}}})),
     {"spec.features.neutron.backend": "ml2/ovn"}),
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
     ['spec.preset: Invalid value: "compute": preset is immutable']),
    ("size-change-allowed", {"size": "tiny"}, {"size": "medium"}, []),
    ("key-manager-store-change", {"features": {"services": ["key-manager"]}},
     {"features": {"services": ["key-manager"], "barbican": {"backends": {"vault": VAULT}}}},
     ["spec.features.barbican.backends.vault.enabled: Invalid value: the key manager's store cannot change after "
      "creation: secrets stored in one would be unreadable through the other"]),
    ("networking-backend-change", {"features": {"neutron": {"backend": "ml2"}}},
     {"features": {"neutron": {"backend": "ml2/ovn"}}},
     ["spec.features.neutron.backend: Invalid value: the networking backend cannot change after creation: moving a "
      "cloud between Open vSwitch and OVN moves every network, router and port, a migration the operator does not "
      "do"]),
    ("networking-backend-default-to-ovn", {}, {"features": {"neutron": {"backend": "ml2/ovn"}}},
     ["spec.features.neutron.backend: Invalid value: the networking backend cannot change after creation: moving a "
      "cloud between Open vSwitch and OVN moves every network, router and port, a migration the operator does not "
      "do"]),
    ("networking-backend-kept", {"features": {"neutron": {"backend": "ml2/ovn"}}},
     {"features": {"neutron": {"backend": "ml2/ovn", "tunnel_interface": "ens7"}}}, []),
]


