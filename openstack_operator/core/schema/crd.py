"""The CustomResourceDefinitions, built from the catalog so that service, chart, release and DaemonSet names in
the schema can never drift from what the renderer knows. `openstack-operator crds` writes them to crds/.

Validation lives here, at the earliest layer: the structural schema (types, enums, unknown fields, defaults)
and CEL rules for what needs the old object or cross-field logic.
"""

from __future__ import annotations

from typing import Any

from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.upgrades.rollout import (ALL_AT_ONCE, COMPLETED, DISABLED, DONE, ORDERED, PENDING, RUNNING,
                                            STUCK, UNCHANGED, UPGRADING, VERIFYING)
from openstack_operator.core.upgrades.guard import allowed_targets, upgrade_path
from openstack_operator.core.secrets.ceph import DEFAULT_GATEWAY_SECRET_NAME, DEFAULT_KEYS_NAME, DEFAULT_KEYS_NAMESPACE

NODE_KEY_PATTERN = "^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?::[-A-Za-z0-9_.]*$"
# The longest osdpl name. Every name the operator derives from it must stay valid: the label value
# openstack.osop.dev/osdpl=<osdpl> on every child (label values: at most 63 characters), the HelmBundle
# <osdpl>-<service> and the Secrets <osdpl>-<service>-values and <osdpl>-credentials (DNS subdomains: at most 253, so
# 253 - len("-block-storage-values") = 232 would do). The label limit is the binding one: 63. It is a maxLength on
# metadata.name (the only metadata restriction a structural schema may state besides generateName), not a CEL rule
# at the root: the API server then names the field ("metadata.name: Too long: may not be more than 63 bytes") and
# reports it together with other schema errors, where a root CEL rule reports "<nil>" and is skipped when anything
# else is wrong.
MAX_OSDPL_NAME = 63

Schema = dict[str, Any]


def _obj(properties: dict[str, Schema], *, required: list[str] | None = None, description: str = "",
         default: Any = None, rules: list[dict[str, str]] | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if description:
        schema["description"] = description
    if required:
        schema["required"] = required
    if default is not None:
        schema["default"] = default
    if rules:
        schema["x-kubernetes-validations"] = rules
    return schema


def _str(description: str = "", **extra: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def _bool(description: str, default: bool = False) -> Schema:
    return {"type": "boolean", "description": description, "default": default}


def _map(values: Schema, description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "additionalProperties": values, **extra}
    if description:
        schema["description"] = description
    return schema


def _free(description: str) -> Schema:
    """Free-form values handed to a chart: the only place unknown fields are kept."""
    return {"type": "object", "description": description, "x-kubernetes-preserve-unknown-fields": True}


def _values_holder(description: str) -> Schema:
    return _obj({"values": _free(description)})


def _targets_map(catalog: Catalog) -> str:
    """A CEL map: release -> the releases a spec may name while it is deployed (core.upgrades.guard)."""
    entries = {name: allowed_targets(catalog, name) for name in catalog.releases}
    return "{" + ", ".join(f"'{k}': [{', '.join(repr(v) for v in vs)}]" for k, vs in entries.items()) + "}"


def _features(catalog: Catalog) -> Schema:
    log_levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    services = list(catalog.services)
    network_types = {"type": "array", "items": _str(enum=["flat", "vlan"]), "default": ["flat"]}
    return _obj(
        {
            "services": {
                "type": "array",
                "description": "Services to enable on top of those of the preset.",
                "items": _str(enum=services),
                "x-kubernetes-list-type": "set",
                "default": [],
            },
            "ssl": _obj(
                {
                    "public_endpoints": _obj(
                        {
                            "enabled": _bool("Serve public endpoints over TLS."),
                            "secret_name": _str("kubernetes.io/tls Secret (tls.crt, tls.key) in the osdpl namespace "
                                                "with the certificate of every public endpoint; the Gateway ends "
                                                "TLS with it."),
                        },
                        default={},
                        rules=[{"rule": "!has(self.enabled) || !self.enabled || has(self.secret_name)",
                                "message": "secret_name is required when public_endpoints.enabled is true"}],
                    )
                },
                default={},
            ),
            "gateway": _obj(
                {
                    "name": _str("Gateway API Gateway every public endpoint's HTTPRoute attaches to.",
                                 default="openstack", minLength=1),
                    "namespace": _str("Namespace of that Gateway. Unset: the osdpl's namespace.", minLength=1),
                    "section_name": _str("Listener of an existing Gateway the routes attach to. Unset: every "
                                         "listener whose hostname matches."),
                    "class_name": _str("Set: the deployment creates the Gateway itself, in its namespace, with this "
                                       "GatewayClass: HTTP on port 80 and, with ssl.public_endpoints, HTTPS on 443 "
                                       "ending TLS with that Secret. Unset: the Gateway exists already."),
                },
                default={},
                rules=[{"rule": "!has(self.class_name) || !has(self.__namespace__)",
                        "message": "a Gateway the deployment creates (class_name) lives in its namespace: "
                                   "leave namespace unset"},
                       {"rule": "!has(self.class_name) || !has(self.section_name)",
                        "message": "section_name is for an existing Gateway; with class_name the routes use the "
                                   "deployment's own listeners"}],
            ),
            "neutron": _obj(
                {
                    "backend": _str("Networking backend.", enum=["ml2"], default="ml2"),
                    "tunnel_interface": _str("Host interface carrying tenant (VXLAN) traffic.", default="ens3"),
                    "external_networks": {
                        "type": "array",
                        "description": "Provider networks reachable from the nodes.",
                        "items": _obj(
                            {
                                "physnet": _str("Physical network name.", minLength=1),
                                "interface": _str("Host interface plugged into the bridge.", minLength=1),
                                "bridge": _str("OVS bridge.", default="br-ex"),
                                "network_types": network_types,
                                "vlan_ranges": _str("VLAN range, e.g. 1000:1999.", pattern="^[0-9]+:[0-9]+$"),
                                "mtu": {"type": "integer", "minimum": 68, "maximum": 9216},
                            },
                            required=["physnet", "interface"],
                        ),
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["physnet"],
                        "default": [],
                    },
                    "floating_network": _obj(
                        {
                            "enabled": _bool("Create the floating (public) network at bootstrap."),
                            "physnet": _str("Physical network of the floating network."),
                            "network_type": _str(enum=["flat", "vlan"], default="flat"),
                            "segmentation_id": {"type": "integer", "minimum": 1, "maximum": 4094},
                            "subnet": _obj(
                                {
                                    "range": _str("CIDR."),
                                    "pool_start": _str(),
                                    "pool_end": _str(),
                                    "gateway": _str(),
                                }
                            ),
                        },
                        default={},
                        rules=[{"rule": "!has(self.enabled) || !self.enabled || (has(self.physnet) && has(self.subnet))",
                                "message": "physnet and subnet are required when floating_network.enabled is true"}],
                    ),
                    "dns_servers": {"type": "array", "items": _str(), "default": []},
                },
                default={},
            ),
            "nova": _obj(
                {
                    "console": _obj(
                        {"novnc": _obj({"enabled": _bool("Deploy the noVNC console proxy.", True)}, default={})},
                        default={},
                    ),
                    "live_migration_interface": _str("Host interface used for live migration traffic."),
                    "maintenance_policy": _maintenance_policy(default="migrate"),
                    "allocation_ratios": _obj(
                        {
                            "cpu": {"type": "number", "minimum": 0, "default": 8.0},
                            "ram": {"type": "number", "minimum": 0, "default": 1.0},
                            "disk": {"type": "number", "minimum": 0, "default": 1.6},
                        },
                        default={},
                    ),
                },
                default={},
            ),
            "keystone": _obj(
                {
                    "domains": _map(
                        _obj(
                            {
                                "enabled": _bool("Configure this domain.", True),
                                "config": _map(_map(_str()), "Domain config file: section -> option -> value.", default={}),
                            }
                        ),
                        "Domain-specific identity backends (e.g. LDAP), by domain name.",
                        default={},
                    )
                },
                default={},
            ),
            "glance": _obj({"backend": _str("Image store.", enum=["pvc", "rbd"], default="pvc")}, default={}),
            "cinder": _obj({"backend": _str("Volume backend.", enum=["rbd", "lvm"], default="rbd")}, default={}),
            "ceph": _ceph(),
            "database": _obj(
                {
                    "backup": _obj(
                        {
                            "enabled": _bool("Run periodic MariaDB backups."),
                            "schedule_time": _str("Cron schedule.", default="0 1 * * *"),
                            "backups_to_keep": {"type": "integer", "minimum": 1, "default": 10},
                        },
                        default={},
                    ),
                    "cleanup": _obj({"enabled": _bool("Purge soft-deleted database rows periodically.")},
                                    default={}),
                },
                default={},
            ),
            "messaging": _obj(
                {"notifications": _obj({"enabled": _bool("Emit oslo.messaging notifications.")}, default={})},
                default={},
            ),
            "node_lifecycle": _obj(
                {
                    "max_in_maintenance": _obj(
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
            ),
            "upgrade": _obj(
                {
                    "strategy": _str(f"How a change of openstack_version rolls out: {ORDERED} moves one service at "
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
            ),
            "logging": _map(
                _obj({"level": _str(enum=log_levels)}, required=["level"]),
                "Log level per OpenStack service (keystone, nova, ...).",
                default={},
            ),
        },
        default={},
        # Without a consumer, enabling Ceph would only make the deployment wait for a Secret nothing reads.
        rules=[{"rule": "!has(self.ceph) || !self.ceph.enabled || self.glance.backend == 'rbd' "
                        "|| self.cinder.backend == 'rbd'",
                "message": "ceph.enabled needs a Ceph consumer: glance.backend or cinder.backend rbd"}],
    )


def _upgrade_status() -> Schema:
    """Written by the osdpl process while a change of spec.openstack_version rolls out (core.upgrades.rollout), and kept
    after it as the record of the last one."""
    stamp = _str(format="date-time")
    service = _obj({"phase": _str(enum=[PENDING, UPGRADING, VERIFYING, DONE, UNCHANGED, DISABLED]),
                    "started": stamp, "finished": stamp,
                    "since": _str("When its bundle was last written: its timeout counts from here.",
                                  format="date-time"),
                    "before": _free("Per release: its Helm revision before the service moved."),
                    "after": _free("Per release: its Helm revision once the service passed its gate."),
                    "message": _str("Why the service does not pass its gate."),
                    "moved": {"type": "boolean",  # no default: a defaulted field would differ from what is written
                              "description": "On a way back: the rollout it turns round wrote the service, so it "
                                             "is gated even if its bundle matches."}}, required=["phase"])
    return _obj({"from": _str("The release the rollout started from."),
                 "to": _str("The release it moves every service to."),
                 "phase": _str(enum=[RUNNING, STUCK, COMPLETED]),
                 "started": stamp, "finished": stamp,
                 "current": _str("The service(s) being moved."),
                 "message": _str("Why the rollout is stuck, naming the service."),
                 "order": {"type": "array", "items": _str(), "description": "The services, in the order they move."},
                 "services": _map(service, "Per service: its phase, times and Helm revisions."),
                 "waiting": {"type": "array", "items": _str(),
                             "description": "Services whose other spec changes wait for the end of the rollout."}},
                required=["from", "to", "phase"],
                description="The last change of release: its phase, the service moving, per service times.")


def _credentials_status() -> Schema:
    """Written by the secrets process (controllers/secrets.py); never a credential, only digests of them."""
    revision = {"type": "integer", "format": "int64"}
    rotation = _obj({"request": _str("The annotation value that asked for it."),
                     "phase": _str(enum=["RollingOut", "Done"]),
                     "started": _str(format="date-time"), "finished": _str(format="date-time"),
                     "credentials": {"type": "integer", "description": "Credentials rotated."},
                     "revision": {**revision, "description": "The credentials revision that rotated them."}})
    return _obj({"state": _str(enum=["Ready", "Lost"]),
                 "message": _str(),
                 "revision": {**revision, "description": "Grows with every change of the credentials."},
                 "digests": _map(_str(), "Per credential: a digest of user and password (never the password)."),
                 "rotations": _map(rotation, "Per rotation group: the last rotation asked for."),
                 "restored": _str("The restore request last carried out.")},
                description="The credentials, as the secrets process keeps them.")


def _ceph() -> Schema:
    # The defaults are the names Pelagia publishes and Rockoon reads (core.secrets.ceph), so a cloud next to Pelagia
    # needs only `enabled: true`.
    return _obj(
        {
            "enabled": _bool("Use the Ceph cluster whose storage side publishes client keys and monitor "
                             "endpoints in keys_secret: the operator copies what glance, cinder, nova and libvirt "
                             "need into the deployment's namespace. Off: rbd backends use the charts' own Ceph "
                             "wiring (ceph-etc and an admin key in pvc-ceph-client-key, e.g. from "
                             "ceph-adapter-rook)."),
            "keys_secret": _obj(
                {
                    "namespace": _str("Namespace of the Secret.", default=DEFAULT_KEYS_NAMESPACE, minLength=1),
                    "name": _str("Name of the Secret.", default=DEFAULT_KEYS_NAME, minLength=1),
                },
                default={},
                description="The Secret the storage side publishes (Pelagia's format, see docs/resource.md).",
            ),
            # Opt-in: the gateway's user holds Keystone's admin role, and no such user should exist for a gateway
            # that is not there.
            "object_gateway": _obj(
                {
                    "enabled": _bool("Give the storage side's Ceph object gateway (RGW) a Keystone user to "
                                     "validate OpenStack tokens with (admin role in the service project of the "
                                     "default domain), and publish its credentials in credentials_secret."),
                    "credentials_secret": _obj(
                        {
                            "namespace": _str("Namespace of the Secret.", default=DEFAULT_KEYS_NAMESPACE,
                                              minLength=1),
                            "name": _str("Name of the Secret.", default=DEFAULT_GATEWAY_SECRET_NAME, minLength=1),
                        },
                        default={},
                        description="The Secret the operator writes the gateway's Keystone credentials to "
                                    "(Rockoon's keys, see docs/resource.md).",
                    ),
                },
                default={},
            ),
        },
        default={},
        # The credentials go to the storage side features.ceph connects: without it there is no one to read them.
        rules=[{"rule": "!has(self.object_gateway) || !self.object_gateway.enabled || self.enabled",
                "message": "object_gateway.enabled needs ceph.enabled"}],
    )


def _maintenance_policy(**extra: Any) -> Schema:
    return _str("What a NodeMaintenanceRequest does with the instances of a compute node: migrate (disable its "
                "compute service, live-migrate them away), notify (disable, leave them, say so) or skip (leave the "
                "compute service alone).", enum=["migrate", "notify", "skip"], **extra)


def _services(catalog: Catalog) -> Schema:
    return _obj(
        {
            service.name: _obj(
                {chart.name: _values_holder(f"Values for the {chart.name} chart, merged last.")
                 for chart in service.charts}
            )
            for service in catalog.services.values()
        },
        description="The last word: values per service and chart.",
    )


def _node_values(daemonset: str, shape: str) -> Schema:
    if shape == "conf":  # the chart's DaemonSet takes only configuration per node group
        return _obj({"values": _obj({"conf": _free(f"Configuration of the {daemonset} pods on these nodes.")},
                                    description="Only `conf` can differ per node group for this DaemonSet.")})
    return _values_holder(f"Values for the {daemonset} pods on these nodes.")


def _node_services(catalog: Catalog) -> Schema:
    services = {}
    for service in catalog.services.values():
        charts = {
            chart.name: _obj({ds: _node_values(ds, shape) for ds, shape in chart.daemonsets.items()})
            for chart in service.charts
            if chart.daemonsets
        }
        if charts:
            services[service.name] = _obj(charts)
    return _obj(services)


def osdpl_schema(catalog: Catalog) -> Schema:
    spec = _obj(
        {
            "openstack_version": _str(
                "OpenStack release. From the deployed one (status.openstack_version) it may move to the next "
                "release, or from a SLURP release to the next SLURP release; never back beyond the deployed one "
                f"({upgrade_path(catalog)}). Checked by the admission policy {UPGRADE_POLICY} and the operator.",
                enum=list(catalog.releases),
            ),
            "preset": _str("Which services run by default; immutable.", enum=list(catalog.presets),
                           **{"x-kubernetes-validations": [{"rule": "self == oldSelf",
                                                            "message": "preset is immutable"}]}),
            "size": _str("Replicas, resources and timeouts.", enum=list(catalog.sizes)),
            "draft": _bool("When true, the operator changes nothing (pause)."),
            "artifacts": _obj(
                {"images_base_url": _str("Registry prefix every image is pulled from, as <prefix>/<name>:<tag> "
                                         "(a mirror of the upstream images). Unset: the upstream registries.",
                                         minLength=1),
                 "charts_url": _str("Helm chart repository URL, or a directory the helmbundle process can read, "
                                    "holding the OpenStack-Helm chart set. Unset: the operator's configured "
                                    "source (default: the public OpenStack-Helm repository).", minLength=1)},
                default={},
            ),
            "region_name": _str("Keystone region.", default="RegionOne", minLength=1),
            "public_domain_name": _str("DNS domain of public endpoints.", minLength=1),
            "internal_domain_name": _str("Cluster DNS domain.", default="cluster.local", minLength=1),
            "local_volume_storage_class": _str("StorageClass for node-local volumes.", default="local-storage"),
            "persistent_volume_storage_class": _str("StorageClass for replicated volumes.", default="default"),
            "features": _features(catalog),
            "common": _obj(
                {
                    "openstack": _values_holder("Values merged into every OpenStack chart."),
                    "infra": _values_holder("Values merged into every infrastructure chart."),
                }
            ),
            "services": _services(catalog),
            "nodes": _map(
                _obj({"services": _node_services(catalog),
                      "features": _obj({"nova": _obj({"maintenance_policy": _maintenance_policy()})},
                                       description="Per node group features: the maintenance policy.")}),
                'Per node group overrides, keyed "<label>::<value>".',
                **{"x-kubernetes-validations": [{
                    "rule": f"self.all(k, k.matches('{NODE_KEY_PATTERN}'))",
                    "message": 'nodes keys must have the form "<label>::<value>"',
                }]},
            ),
        },
        required=["openstack_version", "preset", "size", "public_domain_name"],
    )
    status = _obj(
        {
            "observedGeneration": {"type": "integer", "format": "int64"},
            "conditions": _conditions(),
            "openstack_version": _str("Release the deployed services run."),
            "lcm_progress": _str("Services whose releases are deployed, as n/m."),
            "health_progress": _str("Ready components, as n/m."),
            "children": _free("Per service: per release state, revision, chart version, last error."),
            "health": _map(_map(_obj({"state": _str(enum=["Ready", "Progressing", "Unhealthy"]),
                                       "reason": _str()}, required=["state"]),
                                 "Per component of the application."),
                           "Per application (OpenStack-Helm `application` label), written by the health process."),
            "health_basis": _str("Digest of the release revisions the health was checked against."),
            "applied_credentials": {"type": "integer", "format": "int64",
                                    "description": "The credentials revision the releases were rendered from."},
            "credentials": _credentials_status(),
            "ceph": _obj({"state": _str(enum=["Ready", "Waiting", "Invalid"]), "source": _str(), "message": _str(),
                          "digest": _str("Of everything rendered from the keys: a change re-renders their users.")},
                         description="The Ceph keys, as the secrets process copied them (never a key)."),
            "object_gateway": _obj({"state": _str(enum=["Published", "Waiting", "Invalid"]), "secret": _str(),
                                    "message": _str()},
                                   description="The object gateway's Keystone credentials, as the secrets process "
                                               "published them (never a credential)."),
            "nodes": _obj(
                {"summary": _str("Nodes per role, not ready, in maintenance."),
                 "compute": {"type": "integer", "description": "Nodes with the compute role."},
                 "hosts": _free("Per node with an OpenStack role: roles, components its DaemonSet pods run, "
                                "readiness, spec.nodes groups."),
                 "not_ready": {"type": "array", "items": _str(),
                               "description": "Nodes NotReady for longer than not_ready_report_seconds."},
                 "maintenance": _map(_str(), "Per node: the phase of its NodeMaintenanceRequest."),
                 "removals": _free("Per deleted node: its cleanup Job's state and attempts."),
                 "removed": {"type": "array", "description": "The last removals, newest first.",
                             "items": _obj({"node": _str(), "result": _str(enum=["Cleaned", "Skipped"]),
                                            "at": _str(format="date-time"), "attempts": {"type": "integer"}})}},
                description="The node inventory, written by the node process."),
            "upgrade": _upgrade_status(),
            "certificate": _obj({"state": _str(enum=["Ready", "Expiring", "Invalid"]), "secret": _str(),
                                 "message": _str()},
                                description="The public endpoints' certificate, as the secrets process checked it."),
        }
    )
    metadata = _obj({"name": _str(maxLength=MAX_OSDPL_NAME)})
    return _obj({"apiVersion": _str(), "kind": _str(), "metadata": metadata, "spec": spec,
                 "status": status}, required=["spec"])


def _conditions() -> Schema:
    """Conditions in the standard shape, one per type."""
    condition = _obj(
        {
            "type": _str(),
            "status": _str(enum=["True", "False", "Unknown"]),
            "reason": _str(),
            "message": _str(),
            "lastTransitionTime": _str(format="date-time"),
            "observedGeneration": {"type": "integer", "format": "int64"},
        },
        required=["type", "status"],
    )
    return {"type": "array", "items": condition, "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"]}


def helmbundle_schema() -> Schema:
    release = _obj(
        {
            "name": _str("Helm release name.", minLength=1),
            "chart": _str("Chart name in the chart source.", minLength=1),
            "version": _str("Chart version."),
            "repository": _str("Chart repository URL or directory. Unset: the helmbundle process's source."),
            "digest": _str("sha256:<hex> of the chart archive: a fetched chart that differs is not installed.",
                           pattern="^sha256:[0-9a-f]{64}$"),
            "namespace": _str("Namespace of the release.", minLength=1),
            "values_from": _obj(
                {"secret_name": _str(minLength=1), "key": _str(minLength=1)},
                required=["secret_name", "key"],
                description="Secret holding the release values (they contain credentials).",
            ),
            "fingerprint": _str("Digest of chart, version and values; changes exactly when they do."),
            "timeout_seconds": {"type": "integer", "minimum": 1},
        },
        required=["name", "chart", "namespace", "values_from"],
    )
    spec = _obj(
        {
            "service": _str("The osdpl service this bundle deploys.", minLength=1),
            "depends_on": {"type": "array", "items": _str(), "default": [],
                           "description": "Services (bundles of the same osdpl) deployed before this one."},
            "uninstall": _bool("Uninstall every release (after the bundles that depend on this one); the "
                               "osdpl operator deletes the bundle once status shows them uninstalled."),
            "retry": _str("A failed release is retried at once when this differs from the value its failure was "
                          "recorded under (the osdpl operator sets it when the osdpl changes)."),
            "reapply": _str("Every release is applied again (Helm upgrade with the same values) when this differs "
                            "from the value it was deployed under (the osdpl's openstack.osop.dev/reapply)."),
            "releases": {"type": "array", "items": release, "x-kubernetes-list-type": "map",
                         "x-kubernetes-list-map-keys": ["name"]},
        },
        required=["service", "releases"],
    )
    status = _obj(
        {
            "observedGeneration": {"type": "integer", "format": "int64"},
            "conditions": _conditions(),
            "releases": _free("Per release: state, revision, chart version, fingerprint, attempts, last error, next "
                              "attempt time, the workloads its manifest runs."),
        }
    )
    return _obj({"apiVersion": _str(), "kind": _str(), "metadata": {"type": "object"}, "spec": spec,
                 "status": status}, required=["spec"])


def _crd(kind: str, plural: str, short: list[str], schema: Schema, columns: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower(),
                      "shortNames": short},
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": schema},
            }],
        },
    }


def osdpl_crd(catalog: Catalog) -> dict[str, Any]:
    columns: list[dict[str, Any]] = [
        {"name": "OpenStack", "type": "string", "jsonPath": ".status.openstack_version",
         "description": "Deployed OpenStack release"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "LCM Progress", "type": "string", "jsonPath": ".status.lcm_progress"},
        {"name": "Health", "type": "string", "jsonPath": ".status.health_progress"},
        {"name": "Upgrade", "type": "string", "jsonPath": ".status.upgrade.phase",
         "description": "The last release change: Running, Stuck or Completed."},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Moving", "type": "string", "jsonPath": ".status.upgrade.current", "priority": 1,
         "description": "The service(s) a release change is moving now."},
        {"name": "Compute", "type": "integer", "jsonPath": ".status.nodes.compute", "priority": 1,
         "description": "Nodes with the compute role"},
        {"name": "Nodes", "type": "string", "jsonPath": ".status.nodes.summary", "priority": 1},
    ]
    return _crd("OpenStackDeployment", "openstackdeployments", ["osdpl"], osdpl_schema(catalog), columns)


def helmbundle_crd() -> dict[str, Any]:
    columns: list[dict[str, Any]] = [
        {"name": "Service", "type": "string", "jsonPath": ".spec.service"},
        {"name": "Refused", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Refused")].status',
         "description": "True: the helmbundle process does not act on this bundle (see the condition)"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return _crd("HelmBundle", "helmbundles", ["hb"], helmbundle_schema(), columns)


def maintenance_schema() -> Schema:
    spec = _obj({"nodeName": _str("The Node going into maintenance; immutable.", minLength=1,
                                  **{"x-kubernetes-validations": [{"rule": "self == oldSelf",
                                                                   "message": "nodeName is immutable"}]})},
                required=["nodeName"])
    status = _obj({
        "phase": _str(enum=["Waiting", "Disabling", "Migrating", "Ready", "Restoring", "Failed"]),
        "message": _str(),
        "roles": {"type": "array", "items": _str(), "description": "The node's roles when the request was served."},
        "acts_on": {"type": "array", "items": _str(),
                    "description": "The roles the Jobs act on: those whose pods ran there (not nova's under skip)."},
        "policy": _str("The maintenance policy applied."),
        "steps": {"type": "array", "items": _str(), "description": "The Jobs to run, in order."},
        "step": _str("The current (or last) Job's action."),
        "job": _str("The current (or last) Job's name."),
        "attempts": {"type": "integer", "description": "Runs of the current step's Job."},
    })
    return _obj({"apiVersion": _str(), "kind": _str(), "metadata": {"type": "object"}, "spec": spec,
                 "status": status}, required=["spec"])


def maintenance_crd() -> dict[str, Any]:
    columns: list[dict[str, Any]] = [
        {"name": "Node", "type": "string", "jsonPath": ".spec.nodeName"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Policy", "type": "string", "jsonPath": ".status.policy"},
        {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return _crd("NodeMaintenanceRequest", "nodemaintenancerequests", ["nmr"], maintenance_schema(), columns)


UPGRADE_POLICY = "openstackdeployments-upgrades.openstack.osop.dev"


def upgrade_policy(catalog: Catalog) -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy (and its binding): spec.openstack_version may name only what may follow the
    release on the status, the deployed one; while a rollout of a release change runs, only its two ends; while a
    credential rotation rolls out, no other release (the rotation would finish only after the whole rollout). A CRD
    rule sees the spec alone; an admission policy sees the stored object, status included. Where the policy is not
    installed the osdpl process holds what the first two refuse (core.upgrades.guard); a release change during a rotation
    it lets through: holding it would keep Ready false, and the rotation, which finishes at Ready, would wait
    forever."""
    deployed = "oldObject.status.openstack_version"
    target = "object.spec.openstack_version"
    unchanged = f"{target} == oldObject.spec.openstack_version"
    rollout = "oldObject.status.upgrade"  # core.upgrades.rollout: while one runs, only its two ends may be named
    rotations = "oldObject.status.credentials.rotations"
    rotating = f"has({rotations}[g].phase) && {rotations}[g].phase == 'RollingOut'"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": UPGRADE_POLICY},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [GROUP], "apiVersions": ["*"], "operations": ["UPDATE"],
                "resources": ["openstackdeployments"]}]},
            "variables": [{"name": "targets", "expression": _targets_map(catalog)}],
            "validations": [{
                # Only a change of the release is judged: a finalizer's removal, a deletion or any other change
                # of a deployment whose spec already names a release it cannot have is never blocked.
                "expression": f"{unchanged} || !has(oldObject.status) || "
                              f"!has({deployed}) || {target} == {deployed} || !({deployed} in variables.targets) "
                              f"|| {target} in variables.targets[{deployed}]",
                "messageExpression": f"'spec.openstack_version: ' + {target} + ' cannot follow the deployed ' + "
                                     f"{deployed} + '; from ' + {deployed} + ' the spec may name ' + "
                                     f"variables.targets[{deployed}].join(', ') + ' (upgrade path: "
                                     f"{upgrade_path(catalog)})'",
                "reason": "Invalid",
            }, {
                "expression": f"{unchanged} || !has(oldObject.status) || !has({rollout}) || "
                              f"{rollout}.phase == '{COMPLETED}' || {target} == {rollout}.to || "
                              f"{target} == {rollout}.from",
                "messageExpression": f"'spec.openstack_version: ' + {target} + ': the rollout ' + {rollout}.from + "
                                     f"' -> ' + {rollout}.to + ' has not finished; the spec may name ' + "
                                     f"{rollout}.to + ' to finish it or ' + {rollout}.from + ' to go back'",
                "reason": "Invalid",
            }, {
                "expression": f"{unchanged} || !has(oldObject.status) || !has(oldObject.status.credentials) || "
                              f"!has({rotations}) || !{rotations}.exists(g, {rotating})",
                "messageExpression": f"'spec.openstack_version: a credential rotation is rolling out (' + "
                                     f"{rotations}.filter(g, {rotating}).join(', ') + '): change the release once "
                                     f"it is Done (status.credentials.rotations)'",
                "reason": "Invalid",
            }],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": UPGRADE_POLICY},
        "spec": {"policyName": UPGRADE_POLICY, "validationActions": ["Deny"]},
    }
    return [policy, binding]
