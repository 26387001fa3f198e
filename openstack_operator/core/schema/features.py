"""The `features` block of the OpenStackDeployment spec: one function per feature (services, ssl, gateway, neutron,
nova, keystone, glance, cinder, ceph, database, messaging, node_lifecycle, upgrade, logging), and the maintenance
policy that nova's feature and the per node group features share. `features` assembles them, with the rule that
spans several of them.
"""

from __future__ import annotations

from typing import Any

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.schema.builders import Schema, boolean, mapping, obj, secret_key_ref, string
from openstack_operator.core.schema.semantics import (DOMAIN_CONFIG_RULE, DOMAIN_NAME_RULE, MAX_CIDR_LENGTH,
                                                      MAX_CRON_LENGTH, MAX_DNS_SERVERS, MAX_IP_LENGTH,
                                                      MAX_EXTERNAL_NETWORKS, MAX_PHYSNET_LENGTH,
                                                      MAX_VLAN_RANGE_LENGTH, SEGMENTATION_ID_RULE, VLAN_RANGE_RULE,
                                                      VLAN_RANGES_NEED_VLAN, checked, cron_rule,
                                                      floating_network_rules, ip_rule, range_rule, subnet_rules)
from openstack_operator.core.secrets.ceph import DEFAULT_GATEWAY_SECRET_NAME, DEFAULT_KEYS_NAME, DEFAULT_KEYS_NAMESPACE
from openstack_operator.core.upgrades.rollout import ALL_AT_ONCE, ORDERED

NEUTRON_BACKENDS = ("ml2", "ml2/ovn")  # MOSK's names: ML2 with Open vSwitch agents, ML2 with OVN


def features(catalog: Catalog) -> Schema:
    return obj(
        {
            "services": _services(catalog),
            "ssl": _ssl(),
            "gateway": _gateway(),
            "neutron": _neutron(),
            "nova": _nova(),
            "keystone": _keystone(),
            "glance": obj({"backend": string("Image store: pvc (one PersistentVolume of "
                                             "persistent_volume_storage_class) or rbd (a Ceph pool).",
                                             enum=["pvc", "rbd"], default="pvc")},
                          default={}, description="The image service (glance)."),
            "cinder": obj({"backend": string("Volume backend: rbd (Ceph, the chart's backend) or lvm (a volume "
                                             "group on the volume nodes).", enum=["rbd", "lvm"], default="rbd")},
                          default={}, description="The block storage service (cinder)."),
            "barbican": _barbican(),
            "designate": _designate(),
            "masakari": _masakari(),
            "octavia": _octavia(),
            "manila": _manila(),
            "ironic": _ironic(),
            "ceph": _ceph(),
            "database": _database(),
            "messaging": obj(
                {"notifications": obj({"enabled": boolean("The services publish oslo.messaging notifications "
                                                          "on the notification bus (ceilometer's RabbitMQ vhost), "
                                                          "where metering reads them: needs metering in "
                                                          "services. False (the default): the driver is noop, "
                                                          "nothing is published.")},
                                      default={}, description="oslo.messaging notifications of the OpenStack "
                                                              "services.")},
                default={},
                description="The message queue (RabbitMQ) as the OpenStack services use it.",
            ),
            "node_lifecycle": _node_lifecycle(),
            "upgrade": _upgrade(),
            "logging": _logging(),
        },
        default={},
        description="What the cloud does beyond the preset's services: TLS, the Gateway, networking, compute, "
                    "storage backends, Ceph, backups, node maintenance, upgrades, log levels. Every block has "
                    "defaults that deploy.",
        # Without a consumer, enabling Ceph would only make the deployment wait for a Secret nothing reads.
        rules=_needs_their_consumer(),
    )


def _needs_their_consumer() -> list[dict[str, str]]:
    """A feature block whose consumer is off (a service no preset has, Ceph without an rbd backend) is refused:
    accepted, it would be ignored."""
    return [{"rule": "!has(self.ceph) || !self.ceph.enabled || self.glance.backend == 'rbd' "
                    f"|| self.cinder.backend == 'rbd' || {share_backend_rule('cephfs')}",
            "message": "ceph.enabled needs a Ceph consumer: glance.backend or cinder.backend rbd, or an enabled "
                       "cephfs share backend"},
           # No preset has the key manager: its backend would be accepted and ignored without it.
           {"rule": "!has(self.barbican) || !self.barbican.backends.vault.enabled "
                    "|| 'key-manager' in self.services",
            "fieldPath": ".barbican.backends.vault.enabled",
            "message": "the Vault backend needs the key manager: add key-manager to features.services"},
           {"rule": "!has(self.masakari) || !has(self.masakari.monitors) "
                    "|| !has(self.masakari.monitors.introspective) "
                    "|| !has(self.masakari.monitors.introspective.enabled) "
                    "|| !self.masakari.monitors.introspective.enabled || 'instance-ha' in self.services",
            "fieldPath": ".masakari.monitors.introspective.enabled",
            "message": "the introspective monitor needs instance HA: add instance-ha to features.services"},
           # No preset has DNS as a service: its backend settings would be accepted and ignored without it.
           {"rule": "!has(self.designate) || !has(self.designate.backend) || 'dns' in self.services "
                    "|| ((!has(self.designate.backend.protocol) || self.designate.backend.protocol == 'udp') "
                    "&& !has(self.designate.backend.external_ip))",
            "fieldPath": ".designate.backend",
            "message": "designate's settings need DNS as a service: add dns to features.services"},
           {"rule": "!has(self.octavia) || !has(self.octavia.amphora_image_url) || 'load-balancer' in self.services",
            "fieldPath": ".octavia.amphora_image_url",
            "message": "octavia's settings need the load balancer: add load-balancer to features.services"},
           {"rule": "!has(self.services) || !('load-balancer' in self.services) "
                    "|| (has(self.octavia) && has(self.octavia.amphora_image_url))",
            "fieldPath": ".services",
            "message": "load-balancer boots amphorae from an image: set octavia.amphora_image_url (the bootstrap "
                       "Job uploads it to glance)"},
           {"rule": "!has(self.manila) || 'shared-file-system' in self.services "
                    "|| (!has(self.manila.service_image_url) && (!has(self.manila.share) "
                    "|| !has(self.manila.share.backends) || size(self.manila.share.backends) == 0))",
            "fieldPath": ".manila",
            "message": "manila's settings need shared file systems: add shared-file-system to features.services"},
           {"rule": "!has(self.services) || !('shared-file-system' in self.services) "
                    f"|| {share_backend_rule('generic')} || {share_backend_rule('cephfs')}",
            "fieldPath": ".services",
            "message": "shared-file-system needs a share backend: an enabled one in manila.share.backends "
                       "(driver generic or cephfs)"},
           {"rule": f"!({share_backend_rule('generic')}) || has(self.manila.service_image_url)",
            "fieldPath": ".manila.share.backends",
            "message": "a generic share backend boots share servers from a service image: set "
                       "manila.service_image_url (the bootstrap Job uploads it to glance)"},
           {"rule": f"!({share_backend_rule('cephfs')}) || (has(self.ceph) && has(self.ceph.enabled) "
                    "&& self.ceph.enabled)",
            "fieldPath": ".manila.share.backends",
            "message": "a cephfs share backend uses the storage side's CephFS: set ceph.enabled (its `manila` "
                       "client comes through the Ceph exchange)"}] + _services_need_theirs()


def _services_need_theirs() -> list[dict[str, str]]:
    """A service refused without what it cannot run without (another service, a setting)."""
    # object-storage registers the storage side's gateway, which validates tokens with the user object_gateway has
    # the keystone release create and publishes to it.
    return [{"rule": "!has(self.services) || !('object-storage' in self.services) "
                     "|| (has(self.ceph) && has(self.ceph.object_gateway) && has(self.ceph.object_gateway.enabled) "
                     "&& self.ceph.object_gateway.enabled)",
             "fieldPath": ".services",
             "message": "object-storage registers the storage side's object gateway: it needs "
                        "ceph.object_gateway.enabled (the gateway's Keystone user) and ceph.enabled"},
            # nothing but ceilometer reads the services' notifications: without it they would fill RabbitMQ
            {"rule": "!has(self.messaging) || !has(self.messaging.notifications) "
                     "|| !has(self.messaging.notifications.enabled) || !self.messaging.notifications.enabled "
                     "|| (has(self.services) && 'metering' in self.services)",
             "fieldPath": ".messaging.notifications.enabled",
             "message": "notifications are read by metering (ceilometer) alone: add metering to features.services, "
                        "or leave notifications off"},
            {"rule": "!has(self.services) || !('metering' in self.services) || 'metric' in self.services",
             "fieldPath": ".services",
             "message": "metering stores its samples and events in gnocchi: add metric to features.services"},
            {"rule": "!has(self.services) || !('load-balancer' in self.services) || 'redis' in self.services",
             "fieldPath": ".services",
             "message": "load-balancer keeps its workers' flows (amphorav2's jobboard) in redis: add redis to "
                        "features.services"},
            {"rule": "!has(self.services) || !('metric' in self.services) || 'redis' in self.services",
             "fieldPath": ".services",
             "message": "metric keeps gnocchi's incoming measures and its workers' coordination in redis: add "
                        "redis to features.services"}] + _baremetal_rules()


def _baremetal_rules() -> list[dict[str, str]]:
    """features.ironic goes with the baremetal service, and its network with a physnet neutron's agents know."""
    net = "self.ironic.networks.baremetal"
    # the network's fields with their defaults: the API server may check these rules before it fills them in
    has_net = f"has(self.ironic.networks) && has({net})"
    physnet = f"({has_net} && has({net}.physnet) ? {net}.physnet : 'ironic')"
    network_type = f"({has_net} && has({net}.network_type) ? {net}.network_type : 'flat')"
    on_physnet = f"has(n.physnet) && n.physnet == {physnet}"
    return [{"rule": "!has(self.services) || !('baremetal' in self.services) || has(self.ironic)",
             "fieldPath": ".services",
             "message": "baremetal needs features.ironic: at least provisioning_interface (the conductor nodes' "
                        "interface on the provisioning network) and baremetal_network_name"},
            {"rule": "!has(self.ironic) || (has(self.services) && 'baremetal' in self.services)",
             "fieldPath": ".ironic",
             "message": "ironic's settings need bare metal: add baremetal to features.services"},
            {"rule": f"!has(self.ironic) || (has(self.neutron) && has(self.neutron.external_networks) "
                     f"&& self.neutron.external_networks.exists(n, {on_physnet}))",
             "fieldPath": ".ironic.networks.baremetal.physnet",
             "message": "ironic.networks.baremetal.physnet must be the physnet of one of neutron.external_networks "
                        "(where the nodes' Open vSwitch bridges reach the provisioning network)"},
            # (vxlan and geneve are refused on their own)
            {"rule": f"!has(self.ironic) || !({network_type} in ['flat', 'vlan']) || !has(self.neutron) "
                     f"|| !has(self.neutron.external_networks) "
                     f"|| !self.neutron.external_networks.exists(n, {on_physnet}) "
                     f"|| self.neutron.external_networks.exists(n, {on_physnet} && has(n.network_types) "
                     f"&& {network_type} in n.network_types)",
             "fieldPath": ".ironic.networks.baremetal.network_type",
             "message": "ironic.networks.baremetal.network_type must be one of the network_types of its physnet in "
                        "neutron.external_networks"}]


def share_backend_rule(driver: str, features: str = "self") -> str:
    """CEL: whether an enabled share backend uses `driver`, `features` being the expression of the features
    block."""
    backends = f"{features}.manila.share.backends"
    return (f"(has({features}.manila) && has({features}.manila.share) && has({backends}) "
            f"&& {backends}.exists(name, {backends}[name].driver == '{driver}' "
            f"&& (!has({backends}[name].enabled) || {backends}[name].enabled)))")


def maintenance_policy(**extra: Any) -> Schema:
    return string("What a NodeMaintenanceRequest does with the instances of a compute node: migrate (disable its "
                  "compute service, live-migrate them away), notify (disable, leave them, say so) or skip (leave the "
                  "compute service alone).", enum=["migrate", "notify", "skip"], **extra)


def _services(catalog: Catalog) -> Schema:
    return {
        "type": "array",
        "description": "Services to enable on top of those of the preset.",
        "items": string(enum=list(catalog.services)),
        "x-kubernetes-list-type": "set",
        "default": [],
    }


def _ssl() -> Schema:
    return obj(
        {
            "public_endpoints": obj(
                {
                    "enabled": boolean("Serve public endpoints over TLS."),
                    "secret_name": string("kubernetes.io/tls Secret (tls.crt, tls.key) in the osdpl namespace "
                                          "with the certificate of every public endpoint; the Gateway ends "
                                          "TLS with it."),
                },
                default={},
                rules=[{"rule": "!has(self.enabled) || !self.enabled || has(self.secret_name)",
                        "message": "secret_name is required when public_endpoints.enabled is true"}],
                description="TLS of the public endpoints, ended at the Gateway.",
            )
        },
        default={},
        description="TLS.",
    )


def _gateway() -> Schema:
    return obj(
        {
            "name": string("Gateway API Gateway every public endpoint's HTTPRoute attaches to.",
                           default="openstack", minLength=1),
            "namespace": string("Namespace of that Gateway. Unset: the osdpl's namespace.", minLength=1),
            "section_name": string("Listener of an existing Gateway the routes attach to. Unset: every "
                                   "listener whose hostname matches."),
            "class_name": string("Set: the deployment creates the Gateway itself, in its namespace, with this "
                                 "GatewayClass: HTTP on port 80 and, with ssl.public_endpoints, HTTPS on 443 "
                                 "ending TLS with that Secret. Unset: the Gateway exists already."),
        },
        default={},
        description="The Gateway API Gateway the public endpoints (one HTTPRoute each) are published through.",
        rules=[{"rule": "!has(self.class_name) || !has(self.__namespace__)",
                "message": "a Gateway the deployment creates (class_name) lives in its namespace: "
                           "leave namespace unset"},
               {"rule": "!has(self.class_name) || !has(self.section_name)",
                "message": "section_name is for an existing Gateway; with class_name the routes use the "
                           "deployment's own listeners"}],
    )


def _neutron() -> Schema:
    return obj(
        {
            "backend": string("The ML2 mechanism: ml2 (Open vSwitch agents) or ml2/ovn (OVN: its northbound and "
                              "southbound databases and northd, an ovn-controller per node, neutron's OVN "
                              "metadata agent). Fixed at creation.", enum=list(NEUTRON_BACKENDS), default="ml2"),
            "tunnel_interface": string("Host interface carrying tenant (VXLAN, or Geneve with ml2/ovn) traffic.",
                                       default="ens3"),
            "external_networks": _external_networks(),
            "floating_network": _floating_network(),
            "dns_servers": {"type": "array", "default": [], "maxItems": MAX_DNS_SERVERS,
                            "items": checked(string(), ip_rule("each of dns_servers", "10.0.0.53"),
                                             maxLength=MAX_IP_LENGTH),
                            "description": "DNS servers the DHCP agents' dnsmasq forwards to (IP addresses). "
                                           "Empty: the agent pods' own resolvers."},
        },
        default={},
        description="Networking (neutron, ML2 with Open vSwitch or OVN).",
        # has(): the API server also checks the rules against the default, {}, whose backend is not filled in.
        rules=[*floating_network_rules(),
               {"rule": "(has(self.backend) ? self.backend : 'ml2') == (has(oldSelf.backend) ? oldSelf.backend : 'ml2')",
                "fieldPath": ".backend",
                "message": "the networking backend cannot change after creation: moving a cloud between Open vSwitch "
                           "and OVN moves every network, router and port, a migration the operator does not do"}],
    )


def _external_networks() -> Schema:
    network_types = {"type": "array", "items": string(enum=["flat", "vlan"]), "default": ["flat"],
                     "maxItems": 2,
                     "description": "Provider network types on this physnet: flat, vlan (VLAN segments from "
                                    "vlan_ranges), or both."}
    return {
        "type": "array",
        "description": "Provider networks reachable from the nodes.",
        "maxItems": MAX_EXTERNAL_NETWORKS,
        "items": obj(
            {
                "physnet": string("Physical network name.", minLength=1, maxLength=MAX_PHYSNET_LENGTH),
                "interface": string("Host interface plugged into the bridge.", minLength=1),
                "bridge": string("OVS bridge.", default="br-ex"),
                "network_types": network_types,
                "vlan_ranges": checked(string("VLAN range, e.g. 1000:1999.", pattern="^[0-9]+:[0-9]+$"),
                                       VLAN_RANGE_RULE, maxLength=MAX_VLAN_RANGE_LENGTH),
                "mtu": {"type": "integer", "minimum": 68, "maximum": 9216,
                        "description": "MTU of this physnet in bytes (neutron's physical_network_mtus). Unset: "
                                       "neutron's global MTU."},
            },
            required=["physnet", "interface"],
            rules=[VLAN_RANGES_NEED_VLAN],
        ),
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["physnet"],
        "default": [],
    }


def _floating_network() -> Schema:
    return obj(
        {
            "enabled": boolean("Create the floating (public) network at bootstrap."),
            "physnet": string("Physical network of the floating network.", maxLength=MAX_PHYSNET_LENGTH),
            "network_type": string("Provider network type of the floating network: flat or vlan.",
                                   enum=["flat", "vlan"], default="flat"),
            "segmentation_id": {"type": "integer", "minimum": 1, "maximum": 4094,
                                "description": "VLAN ID of a vlan floating network. Unset: neutron picks one "
                                               "from the physnet's vlan_ranges."},
            "subnet": obj(
                {
                    "range": checked(string("CIDR of the subnet, e.g. 10.11.12.0/24."), range_rule(),
                                     maxLength=MAX_CIDR_LENGTH),
                    "pool_start": checked(string("First IP address of the floating IP pool. Unset, with "
                                                 "pool_end: the whole range but the gateway."),
                                          ip_rule("pool_start", "10.11.12.100"), maxLength=MAX_IP_LENGTH),
                    "pool_end": checked(string("Last IP address of the floating IP pool."),
                                        ip_rule("pool_end", "10.11.12.200"), maxLength=MAX_IP_LENGTH),
                    "gateway": checked(string("Gateway IP address of the subnet. Unset: the first address of the "
                                              "range."),
                                       ip_rule("gateway", "10.11.12.1"), maxLength=MAX_IP_LENGTH),
                },
                required=["range"],
                description="The floating network's subnet (created without DHCP).",
                rules=subnet_rules(),
            ),
        },
        default={},
        rules=[{"rule": "!has(self.enabled) || !self.enabled || (has(self.physnet) && has(self.subnet))",
                "message": "physnet and subnet are required when floating_network.enabled is true"},
               SEGMENTATION_ID_RULE],
        description="The external network `public` floating IPs come from, created once by neutron's "
                    "bootstrap Job when it does not exist.",
    )


def _nova() -> Schema:
    return obj(
        {
            "console": obj(
                {"novnc": obj({"enabled": boolean("Deploy the noVNC console proxy.", True)}, default={},
                              description="The noVNC console proxy and its public endpoint.")},
                default={},
                description="Instance consoles.",
            ),
            "live_migration_interface": string("Host interface used for live migration traffic."),
            "maintenance_policy": maintenance_policy(default="migrate"),
            "allocation_ratios": obj(
                {
                    "cpu": {"type": "number", "minimum": 0, "default": 8.0,
                            "description": "Virtual CPUs scheduled per physical CPU (nova's "
                                           "cpu_allocation_ratio)."},
                    "ram": {"type": "number", "minimum": 0, "default": 1.0,
                            "description": "Instance memory scheduled per unit of host memory (nova's "
                                           "ram_allocation_ratio)."},
                    "disk": {"type": "number", "minimum": 0, "default": 1.6,
                             "description": "Instance disk scheduled per unit of host disk (nova's "
                                            "disk_allocation_ratio)."},
                },
                default={},
                description="Overcommit ratios of the compute nodes; per node group in spec.nodes.",
            ),
        },
        default={},
        description="The compute service (nova).",
    )


def _keystone() -> Schema:
    return obj(
        {
            "domains": mapping(
                obj(
                    {
                        "enabled": boolean("Configure this domain.", True),
                        "config": mapping(mapping(string()), "Domain config file: section -> option -> value.",
                                          default={}),
                    },
                    rules=[DOMAIN_CONFIG_RULE],
                ),
                "Domain-specific identity backends (e.g. LDAP), by domain name.",
                default={},
                **{"x-kubernetes-validations": [DOMAIN_NAME_RULE]},
            )
        },
        default={},
        description="The identity service (keystone).",
    )


def _barbican() -> Schema:
    vault = obj(
        {
            "enabled": boolean("Keep the key manager's secrets in HashiCorp Vault (barbican's vault plugin) rather "
                               "than in its database under the deployment's own key encryption key."),
            "vault_url": string("Vault's address, e.g. https://vault.example.com:8200.", maxLength=2048,
                                pattern="^https?://[^ ]+$"),
            "approle_role_id": secret_key_ref("The AppRole's role ID."),
            "approle_secret_id": secret_key_ref("The AppRole's secret ID."),
            "kv_mountpoint": string("Mount point of the KV secrets engine barbican writes to.", default="secret",
                                    minLength=1, maxLength=253),
            "namespace": string("Vault Enterprise namespace of every request.", minLength=1, maxLength=253),
            "use_ssl": boolean("Verify Vault's TLS certificate against the system's CAs (vault_url https)."),
        },
        default={},
        description="HashiCorp Vault as the secret store, logged in with an AppRole whose IDs come from a Secret.",
        # has(): the API server also checks these rules against the default, {}, whose `enabled` is not filled in.
        rules=[{"rule": "!has(self.enabled) || !self.enabled || (has(self.vault_url) && has(self.approle_role_id) "
                        "&& has(self.approle_secret_id))",
                "message": "vault.enabled needs vault_url, approle_role_id and approle_secret_id"},
               {"rule": "!has(self.use_ssl) || !self.use_ssl || !has(self.vault_url) "
                        "|| self.vault_url.startsWith('https://')",
                "fieldPath": ".use_ssl", "message": "use_ssl needs an https:// vault_url"},
               # Barbican reads a secret only through the store that wrote it.
               {"rule": "(has(self.enabled) && self.enabled) == (has(oldSelf.enabled) && oldSelf.enabled)",
                "fieldPath": ".enabled",
                "message": "the key manager's store cannot change after creation: secrets stored in one would be "
                           "unreadable through the other"}],
    )
    return obj({"backends": obj({"vault": vault}, default={}, description="Where barbican stores secrets.")},
               default={}, description="The key manager (barbican); add key-manager to features.services.")


def _designate() -> Schema:
    backend = obj(
        {
            "type": string("The DNS server that serves designate's zones: powerdns (the only one with an "
                           "OpenStack-Helm chart).", enum=["powerdns"], default="powerdns"),
            "protocol": string("Protocols of the LoadBalancer Service powerdns-external that serves the zones on "
                               "port 53.", enum=["udp", "tcp", "tcp+udp"], default="udp"),
            "external_ip": checked(string("Address asked of the load balancer for powerdns-external (its "
                                          "spec.loadBalancerIP); unset: the load balancer picks one."),
                                   ip_rule("external_ip", "203.0.113.53"), maxLength=MAX_IP_LENGTH),
        },
        default={}, description="Where designate's zones are served.")
    return obj({"backend": backend}, default={}, description="DNS as a service (designate); add dns to "
                                                              "features.services.")


def _masakari() -> Schema:
    def seconds(description: str, default: int) -> Schema:
        return {"type": "integer", "minimum": 1, "maximum": 3600, "default": default, "description": description}

    introspective = obj(
        {
            "enabled": boolean("Also run the introspective instance monitor on every compute node: it asks each "
                               "guest's QEMU guest agent whether the guest still answers and has masakari recover "
                               "one that stops (instances need the agent and hw_qemu_guest_agent=yes)."),
            "guest_monitoring_interval": seconds("Seconds between two checks of a guest.", 10),
            "guest_monitoring_timeout": seconds("Seconds a guest has to answer a check.", 2),
            "guest_monitoring_failure_threshold": {"type": "integer", "minimum": 1, "maximum": 100, "default": 3,
                                                   "description": "Checks a guest may fail in a row before masakari "
                                                                  "is notified."},
        },
        default={}, description="The guests' own liveness, through their QEMU guest agent.")
    return obj({"monitors": obj({"introspective": introspective}, default={},
                                description="What the monitors on the compute nodes watch besides libvirt's "
                                            "events of each instance (always on with compute).")},
               default={}, description="Instance HA (masakari); add instance-ha to features.services.")


def _octavia() -> Schema:
    subnet = obj(
        {
            "range": string("The subnet, as a CIDR (for example 10.255.0.0/16).", minLength=1),
            "pool_start": string("The first address neutron gives out.", minLength=1),
            "pool_end": string("The last address neutron gives out.", minLength=1),
        },
        required=["range", "pool_start", "pool_end"],
        rules=[{"rule": "isCIDR(self.range)", "fieldPath": ".range", "message": "range is not a CIDR"},
               {"rule": "isIP(self.pool_start) && isIP(self.pool_end) && isCIDR(self.range) "
                        "&& cidr(self.range).containsIP(self.pool_start) && cidr(self.range).containsIP(self.pool_end)",
                "message": "pool_start and pool_end must be addresses of range"}])
    return obj(
        {
            "default_provider": string("The provider of load balancers that name none: amphorav2 (amphorae, "
                                       "virtual machines that run HAProxy). ovn needs the OVN networking backend and "
                                       "tungstenfabric its SDN, neither of which this version deploys: both are "
                                       "refused.", enum=["amphorav2", "ovn", "tungstenfabric"], default="amphorav2"),
            "lb_network": obj(
                {
                    "name": string("Name of the network (its subnet is <name>-subnet).", default="lb-mgmt-net",
                                   minLength=1, maxLength=200, pattern="^[A-Za-z0-9_.-]+$"),
                    "subnets": {"type": "array", "minItems": 1, "maxItems": 1, "items": subnet,
                                "description": "Its subnet (one): the amphorae and the controllers' ports get "
                                               "their addresses from it."},
                },
                required=["subnets"],
                default={"name": "lb-mgmt-net", "subnets": [{"range": "10.255.0.0/16", "pool_start": "10.255.0.10",
                                                             "pool_end": "10.255.255.250"}]},
                description="The management network the bootstrap Job creates: octavia's worker and health "
                            "managers reach the amphorae on it."),
            "amphora_image_url": string("http(s) URL of the amphora image (qcow2, with HAProxy and the amphora "
                                        "agent of the deployment's OpenStack release) the bootstrap Job uploads to "
                                        "glance, tagged amphora, when no image has that tag. No user:password@: "
                                        "the URL is part of the Job's script, which the chart keeps in a ConfigMap.",
                                        maxLength=2048),
        },
        default={},
        description="Load balancers (octavia); add load-balancer to features.services.",
        rules=[{"rule": "!has(self.amphora_image_url) || self.amphora_image_url.matches('^https?://[^/@\\\\s]+(/\\\\S*)?$')",
                "fieldPath": ".amphora_image_url",
                "message": "amphora_image_url: an http(s) URL without user:password@ (the chart keeps the bootstrap "
                           "Job's script, which holds it, in a ConfigMap)"},
               {"rule": "!has(self.default_provider) || self.default_provider == 'amphorav2'",
                "fieldPath": ".default_provider",
                "message": "default_provider: only amphorav2 can be deployed: ovn needs the OVN networking backend "
                           "and tungstenfabric its SDN, neither of which this version deploys"}])


MANILA_DRIVERS = ("generic", "cephfs")
# What the chart's bootstrap Job always creates: a share type of this name would not be ours to define.
CHART_SHARE_TYPE = "default"


def _manila() -> Schema:
    backend = obj(
        {
            "enabled": boolean("Whether manila's share service runs this backend.", default=True),
            "create_share_type": boolean("Whether the bootstrap Job creates a public share type of the backend's "
                                         "name that places shares on it.", default=True),
            "type": string("How the backend runs: statefulset (the manila-share pods of the release, each with a "
                           "host name of its own).", enum=["statefulset"], default="statefulset"),
            "driver": string("The share driver: generic (share servers are instances of the service image with "
                             "cinder volumes, on each share network's neutron network; needs compute, "
                             "block-storage and service_image_url) or cephfs (CephFS of the storage side through "
                             "features.ceph, its `manila` client; the backend's name must contain cephfs, which is "
                             "how the chart decides to mount the client's key).", enum=list(MANILA_DRIVERS)),
        },
        required=["driver"])
    return obj(
        {
            "share": obj(
                {"backends": mapping(backend, "Share backends by name (the name of the backend section in "
                                              "manila.conf, of its share type and its share_backend_name).",
                                     maxProperties=8)},
                default={}, description="manila's share service."),
            "service_image_url": string("http(s) URL of the generic driver's service image (qcow2; its login "
                                        "manila/manila, as in the images manila-image-elements publishes) that the "
                                        "bootstrap Job uploads to glance as manila-service-image when glance has "
                                        "none. A plain URL ending in the file name: the chart puts it in a shell "
                                        "command unquoted.", maxLength=2048),
        },
        default={},
        description="Shared file systems (manila); add shared-file-system to features.services.",
        rules=[{"rule": "!has(self.share) || !has(self.share.backends) || self.share.backends.all(name, "
                        "name.matches('^[a-z][a-z0-9_-]{0,62}$'))",
                "fieldPath": ".share.backends",
                "message": "share.backends: a backend's name is lower-case letters, digits, _ and -, starting with "
                           "a letter, at most 63 characters"},
               {"rule": f"!has(self.share) || !has(self.share.backends) "
                        f"|| !('{CHART_SHARE_TYPE}' in self.share.backends)",
                "fieldPath": ".share.backends",
                "message": f"share.backends: {CHART_SHARE_TYPE} is the share type the chart's bootstrap Job creates "
                           "in every deployment: name the backend otherwise"},
               {"rule": "!has(self.share) || !has(self.share.backends) || self.share.backends.all(name, "
                        "(self.share.backends[name].driver == 'cephfs') == name.contains('cephfs'))",
                "fieldPath": ".share.backends",
                "message": "share.backends: a cephfs backend's name contains cephfs and no other backend's does "
                           "(the chart mounts the Ceph client's key exactly when an enabled backend's name "
                           "contains cephfs)"},
               {"rule": "!has(self.service_image_url) || self.service_image_url.matches("
                        "'^https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~%+-]+)*/[A-Za-z0-9._~%+-]+$')",
                "fieldPath": ".service_image_url",
                "message": "service_image_url: an http(s) URL of letters, digits and ._~%+- in its path, ending in "
                           "the file name, without user:password@, query or shell characters (the chart puts it "
                           "in a shell command unquoted)"}])


# A Linux interface name (IFNAMSIZ: 15 characters): the conductor's init scripts find the node's provisioning
# address on it.
INTERFACE_PATTERN = "^[A-Za-z0-9_.:@-]{1,15}$"
# The ironic-python-agent images the chart's defaults name (tinyipa of the 2025.1 branch, on OpenStack's tarballs
# site): a cloud without that site sets a mirror.
AGENT_IMAGES_URL = "https://tarballs.opendev.org/openstack/ironic-python-agent/tinyipa/files"
AGENT_KERNEL, AGENT_INITRAMFS = "tinyipa-stable-2025.1.vmlinuz", "tinyipa-stable-2025.1.gz"


# A neutron network's or subnet's name, as the bootstrap script passes it (quoted) to the client.
_NAME = {"minLength": 1, "maxLength": 255, "pattern": "^[A-Za-z0-9_.-]+$"}


def _ironic() -> Schema:
    return obj(
        {
            "provisioning_interface": string("The conductor nodes' interface on the provisioning network: the "
                                             "conductor's TFTP and HTTP servers listen on its address.",
                                             pattern=INTERFACE_PATTERN),
            "baremetal_network_name": string("Name of the provisioning and cleaning network (neutron) the "
                                             "bootstrap Job creates.", **_NAME),
            "networks": obj({"baremetal": _ironic_network()}, default={}, description="Networks of bare metal."),
            "agent_images": _ironic_agent_images(),
            "console": obj(
                {"serial": obj({"enabled": boolean("Offer nodes' serial consoles (ipmitool-socat): off, nodes "
                                                   "have no console interface.", default=True)},
                               default={}, description="The nodes' serial console.")},
                default={}, description="Consoles of the bare metal nodes."),
        },
        required=["provisioning_interface", "baremetal_network_name"],
        description="Bare metal (ironic); add baremetal to features.services.",
        rules=[{"rule": "!has(self.networks) || !has(self.networks.baremetal) "
                        "|| !has(self.networks.baremetal.name) "
                        "|| self.networks.baremetal.name == self.baremetal_network_name",
                "fieldPath": ".networks.baremetal.name",
                "message": "networks.baremetal.name must equal baremetal_network_name: the bootstrap Job creates "
                           "one network for provisioning and cleaning"}])


def _ironic_network() -> Schema:
    subnet = obj(
        {
            "name": string("Name of the subnet.", **_NAME),
            "range": checked(string("CIDR of the subnet, e.g. 10.0.10.0/24."), range_rule(),
                             maxLength=MAX_CIDR_LENGTH),
            "pool_start": checked(string("First address neutron gives the nodes being provisioned."),
                                  ip_rule("pool_start", "10.0.10.100"), maxLength=MAX_IP_LENGTH),
            "pool_end": checked(string("Last address neutron gives out."), ip_rule("pool_end", "10.0.10.200"),
                                maxLength=MAX_IP_LENGTH),
            "gateway": checked(string("Gateway of the subnet."), ip_rule("gateway", "10.0.10.1"),
                               maxLength=MAX_IP_LENGTH),
        },
        required=["name", "range", "pool_start", "pool_end", "gateway"],
        rules=subnet_rules())
    return obj(
        {
            "name": string("Name of the network: baremetal_network_name names it, this may only repeat it.",
                           **_NAME),
            "bind_deployment_services": boolean("Plug ironic's services into a virtual network through neutron "
                                                "(OVN with VTEP): not deployed by this version, true is refused."),
            "physnet": string("Physical network the provisioning network is on: one of "
                              "neutron.external_networks.", default="ironic", minLength=1,
                              maxLength=MAX_PHYSNET_LENGTH),
            "network_type": string("Provider network type: flat or vlan (vxlan and geneve need "
                                   "bind_deployment_services, and are refused).",
                                   enum=["flat", "vlan", "vxlan", "geneve"], default="flat"),
            "segmentation_id": {"type": "integer", "minimum": 1, "maximum": 4094,
                                "description": "VLAN ID of a vlan network. Unset: neutron picks one from the "
                                               "physnet's vlan_ranges."},
            "mtu": {"type": "integer", "minimum": 68, "maximum": 9216,
                    "description": "MTU of the network. Unset: the physnet's."},
            "external": boolean("Create the network as external (router:external).", default=True),
            "shared": boolean("Share the network with every project.", default=True),
            "subnets": {"type": "array", "minItems": 1, "maxItems": 1, "items": subnet,
                        "default": [{"name": "baremetal", "range": "172.24.6.0/24", "pool_start": "172.24.6.100",
                                     "pool_end": "172.24.6.200", "gateway": "172.24.6.1"}],
                        "description": "Its subnet (one), where nodes being provisioned or cleaned get addresses "
                                       "by DHCP."},
        },
        default={},
        description="The provisioning and cleaning network the bootstrap Job creates (and leaves as it is once "
                    "created).",
        rules=[SEGMENTATION_ID_RULE,
               {"rule": "!has(self.bind_deployment_services) || !self.bind_deployment_services",
                "fieldPath": ".bind_deployment_services",
                "message": "bind_deployment_services needs OVN with VTEP, which this version does not deploy: set "
                           "false or remove the field"},
               {"rule": "!has(self.network_type) || self.network_type in ['flat', 'vlan']",
                "fieldPath": ".network_type",
                "message": "network_type: vxlan and geneve need bind_deployment_services (OVN with VTEP), which "
                           "this version does not deploy: use flat or vlan"}])


def _ironic_agent_images() -> Schema:
    return obj(
        {
            "base_url": string("http(s) URL of the directory holding the ironic-python-agent images, without "
                               "user:password@ (the URLs are part of the bootstrap Job's script, which the chart "
                               "keeps in a ConfigMap).", default=AGENT_IMAGES_URL, maxLength=2048),
            "kernel": string("File name of the agent's kernel under base_url.", default=AGENT_KERNEL,
                             minLength=1, maxLength=255, pattern="^[A-Za-z0-9_.~%+-]+$"),
            "initramfs": string("File name of the agent's initramfs under base_url.", default=AGENT_INITRAMFS,
                                minLength=1, maxLength=255, pattern="^[A-Za-z0-9_.~%+-]+$"),
        },
        default={},
        description="The deploy images nodes boot to be provisioned and cleaned: the bootstrap Job uploads them to "
                    "glance as ironic-agent.kernel and ironic-agent.initramfs when glance has none of that name.",
        rules=[{"rule": "!has(self.base_url) || self.base_url.matches('^https?://[^/@\\\\s]+(/\\\\S*)?$')",
                "fieldPath": ".base_url",
                "message": "agent_images.base_url: an http(s) URL without user:password@ (the chart keeps the "
                           "bootstrap Job's script, which holds it, in a ConfigMap)"}])


def _ceph() -> Schema:
    # The defaults are the names Pelagia publishes and Rockoon reads (core.secrets.ceph), so a cloud next to Pelagia
    # needs only `enabled: true`.
    return obj(
        {
            "enabled": boolean("Use the Ceph cluster whose storage side publishes client keys and monitor "
                               "endpoints in keys_secret: the operator copies what glance, cinder, nova and libvirt "
                               "need into the deployment's namespace. Off: rbd backends use the charts' own Ceph "
                               "wiring (ceph-etc and an admin key in pvc-ceph-client-key, e.g. from "
                               "ceph-adapter-rook)."),
            "keys_secret": obj(
                {
                    "namespace": string("Namespace of the Secret.", default=DEFAULT_KEYS_NAMESPACE, minLength=1),
                    "name": string("Name of the Secret.", default=DEFAULT_KEYS_NAME, minLength=1),
                },
                default={},
                description="The Secret the storage side publishes (Pelagia's format, see docs/resource.md).",
            ),
            # Opt-in: the gateway's user holds Keystone's admin role, and no such user should exist for a gateway
            # that is not there.
            "object_gateway": _ceph_object_gateway(),
        },
        default={},
        # The credentials go to the storage side features.ceph connects: without it there is no one to read them.
        rules=[{"rule": "!has(self.object_gateway) || !self.object_gateway.enabled || self.enabled",
                "message": "object_gateway.enabled needs ceph.enabled"}],
        description="An external Ceph cluster for the rbd backends and its object gateway.",
    )


def _ceph_object_gateway() -> Schema:
    return obj(
        {
            "enabled": boolean("Give the storage side's Ceph object gateway (RGW) a Keystone user to "
                               "validate OpenStack tokens with (admin role in the service project of the "
                               "default domain), and publish its credentials in credentials_secret."),
            "credentials_secret": obj(
                {
                    "namespace": string("Namespace of the Secret.", default=DEFAULT_KEYS_NAMESPACE,
                                        minLength=1),
                    "name": string("Name of the Secret.", default=DEFAULT_GATEWAY_SECRET_NAME, minLength=1),
                },
                default={},
                description="The Secret the operator writes the gateway's Keystone credentials to "
                            "(Rockoon's keys, see docs/resource.md).",
            ),
        },
        default={},
        description="Keystone credentials for the storage side's Ceph object gateway (RGW).",
    )


def _database() -> Schema:
    return obj(
        {
            "backup": obj(
                {
                    "enabled": boolean("Run periodic MariaDB backups."),
                    "schedule_time": checked(string("Cron schedule of the backup (five fields, UTC), e.g. the "
                                                    "default 0 1 * * * (01:00 every day).", default="0 1 * * *"),
                                             cron_rule("schedule_time"), maxLength=MAX_CRON_LENGTH),
                    "backups_to_keep": {"type": "integer", "minimum": 1, "default": 10,
                                        "description": "Days a backup is kept (the mariadb chart's "
                                                       "days_to_keep): with the default daily schedule, the "
                                                       "number of backups kept."},
                },
                default={},
                description="A CronJob that backs MariaDB up to a volume of persistent_volume_storage_class.",
            ),
            "cleanup": obj({"enabled": boolean("Must be false: this version schedules no purge of soft-deleted "
                                               "rows, so true is refused rather than ignored.")},
                           default={}, description="Periodic purge of soft-deleted database rows.",
                           rules=[{"rule": "!has(self.enabled) || !self.enabled", "fieldPath": ".enabled",
                                   "message": "cleanup cannot be enabled by this version: it schedules no purge of "
                                              "soft-deleted rows; set false or remove the field"}]),
        },
        default={},
        description="The database (MariaDB): backups.",
    )


def _node_lifecycle() -> Schema:
    return obj(
        {
            "max_in_maintenance": obj(
                {role: {"type": "integer", "minimum": 1, "default": 1,
                        "description": f"Nodes of the {role} role in maintenance at once."}
                 for role in ("compute", "network", "control_plane")},
                default={},
                description="Caps on NodeMaintenanceRequests served at once, per role; a request for a "
                            "node with several roles needs a free slot in each.",
            ),
            "not_ready_report_seconds": {
                "type": "integer", "minimum": 1, "default": 300,
                "description": "A node NotReady this long is reported on the status (never cleaned up: "
                               "only a deleted Node is)."},
        },
        default={},
        description="Node maintenance and readiness reporting (the node process).",
    )


def _upgrade() -> Schema:
    return obj(
        {
            "strategy": string(f"How a change of openstack_version rolls out: {ORDERED} moves one service at "
                               "a time in the catalog's order, each healthy at the new release before the "
                               f"next; {ALL_AT_ONCE} moves every service at once (test clouds).",
                               enum=[ORDERED, ALL_AT_ONCE], default=ORDERED),
            "service_timeout_seconds": {
                "type": "integer", "minimum": 30,
                "description": "Seconds a service may take to be healthy at the new release once its "
                               "releases are written, before the rollout stops (Degraded UpgradeStuck). "
                               "Default: the Helm timeouts of its releases, summed."},
        },
        default={},
        description="How a change of openstack_version rolls out.",
    )


# The charts whose values templates set a log level from features.logging (tests/unit/test_schema.py reads the
# templates to keep this true): a level for any other name would be accepted and ignored.
LOGGING_CHARTS = ("aodh", "barbican", "ceilometer", "cinder", "designate", "glance", "gnocchi", "heat", "horizon", "ironic",
                  "keystone", "manila", "masakari", "neutron", "nova", "octavia", "placement")
# Of those, the charts with no logging configuration: their level is INFO, or DEBUG through their debug option.
DEBUG_OPTION_CHARTS = ("ceilometer", "gnocchi", "masakari")


def _logging() -> Schema:
    log_levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    return mapping(
        obj({"level": string("oslo.log level of the service's own and root loggers. Unset service: INFO.",
                             enum=log_levels)}, required=["level"]),
        "Log level per OpenStack service (keystone, nova, ...).",
        default={},
        **{"x-kubernetes-validations": [{
            "rule": f"self.all(name, name in {list(LOGGING_CHARTS)!r})",
            "message": f"logging sets the level of these charts only: {', '.join(LOGGING_CHARTS)}"}] + [{
            # no fieldPath: the API server writes a path into a map as `.[masakari]`, kubectl's readers do not
            "rule": f"!has(self.{chart}) || self.{chart}.level in ['DEBUG', 'INFO']",
            "message": f"{chart}.level: {chart}'s chart has no logging configuration: its level is INFO, or DEBUG "
                       "through its debug option"} for chart in DEBUG_OPTION_CHARTS]},
    )
