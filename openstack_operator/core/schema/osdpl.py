"""The OpenStackDeployment schema, built from the catalog so that service, chart, release and DaemonSet names in it
can never drift from what the renderer knows: the spec's top-level fields, the values per service and chart, the
per node group overrides (`nodes`, keyed `NODE_KEY_PATTERN`) and the limit on the osdpl's name (`MAX_OSDPL_NAME`).
The `features` block is in features.py, the status in status.py.
"""

from __future__ import annotations

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.isolation import CHARTS_URL_RULE
from openstack_operator.core.schema.builders import (Schema, boolean, free_form, mapping, obj, object_fields, string,
                                                     values_holder)
from openstack_operator.core.schema.features import (features, maintenance_policy,
                                                       share_backend_rule)
from openstack_operator.core.schema.semantics import MAX_DNS_NAME, checked, dns_name_rule
from openstack_operator.core.schema.status import osdpl_status
from openstack_operator.core.schema.upgrade_policy import UPGRADE_POLICY
from openstack_operator.core.upgrades.guard import upgrade_path

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


def osdpl_schema(catalog: Catalog) -> Schema:
    metadata = obj({"name": string(f"Name of the deployment, at most {MAX_OSDPL_NAME} characters: it labels "
                                   "every object the operator writes for it.", maxLength=MAX_OSDPL_NAME)})
    return obj({**object_fields("OpenStackDeployment", metadata),
                "spec": _spec(catalog),
                "status": {**osdpl_status(), "description": "What the operator's processes observed and did; "
                                                            "written by them only."}},
               required=["spec"],
               description="An OpenStack cloud: its release, services, features and per-service values. The "
                           "operator renders one HelmBundle per enabled service from it, in dependency order.")


def _spec(catalog: Catalog) -> Schema:
    feature_schema = features(catalog)
    return obj(
        {
            "openstack_version": string(
                "OpenStack release. From the deployed one (status.openstack_version) it may move to the next "
                "release, or from a SLURP release to the next SLURP release; never back beyond the deployed one "
                f"({upgrade_path(catalog)}). Checked by the admission policy {UPGRADE_POLICY} and the operator.",
                enum=list(catalog.releases),
            ),
            "preset": string("Which services run by default; immutable.", enum=list(catalog.presets),
                             **{"x-kubernetes-validations": [{"rule": "self == oldSelf",
                                                              "message": "preset is immutable"}]}),
            "size": string("Replicas, resources and timeouts.", enum=list(catalog.sizes)),
            "draft": boolean("When true, the operator changes nothing (pause)."),
            "artifacts": _artifacts(),
            "region_name": string("Keystone region.", default="RegionOne", minLength=1),
            "public_domain_name": checked(string("DNS domain of public endpoints.", minLength=1),
                                          dns_name_rule("public_domain_name", "cloud.example.com"),
                                          maxLength=MAX_DNS_NAME),
            "internal_domain_name": checked(string("Cluster DNS domain.", default="cluster.local", minLength=1),
                                            dns_name_rule("internal_domain_name", "cluster.local"),
                                            maxLength=MAX_DNS_NAME),
            "local_volume_storage_class": string("StorageClass for node-local volumes.", default="local-storage"),
            "persistent_volume_storage_class": string("StorageClass for replicated volumes.", default="default"),
            "features": feature_schema,
            "common": obj(
                {
                    "openstack": _described(values_holder("Values merged into every OpenStack chart."),
                                            "Values for every OpenStack chart (keystone, nova, ...), merged "
                                            "over the operator's and under spec.services."),
                    "infra": _described(values_holder("Values merged into every infrastructure chart."),
                                        "Values for every infrastructure chart (mariadb, rabbitmq, memcached, "
                                        "openvswitch, libvirt), merged over the operator's and under "
                                        "spec.services."),
                },
                description="Chart values shared by a group of charts.",
            ),
            "services": _services(catalog),
            "nodes": _nodes(catalog),
        },
        required=["openstack_version", "preset", "size", "public_domain_name"],
        description="The cloud wanted: release, services, features and values. Changes are rolled out by the "
                    "operator; a change of openstack_version service by service.",
        rules=[_needs_compute(catalog, "instance-ha"), _needs_compute(catalog, "load-balancer"),
               _generic_share_backend_needs(catalog), _METRIC_NEEDS_A_REGISTRY,
               *_values_need_their_chart(catalog, feature_schema)],
    )


def _values_need_their_chart(catalog: Catalog, feature_schema: Schema) -> list[dict[str, str]]:
    """spec.services values of a chart the features leave out (catalog `only_with`: ovn without ml2/ovn) are refused:
    accepted, they would be ignored."""
    rules = []
    for chart in catalog.charts.values():
        if not chart.only_with:
            continue
        where = f"self.services.{chart.service}.{chart.name}"
        absent = f"!has(self.services) || !has(self.services.{chart.service}) || !has({where})"
        conditions = [f"{_feature_cel(path, feature_schema)} == '{value}'" for path, value in chart.only_with.items()]
        rules.append({"rule": " || ".join([absent, *conditions]),
                      "fieldPath": f".services.{chart.service}.{chart.name}",
                      "message": f"the {chart.name} chart is installed only with "
                                 f"{' and '.join(f'features.{p} {v}' for p, v in chart.only_with.items())}: its "
                                 "values would be ignored"})
    return rules


def _feature_cel(path: str, feature_schema: Schema) -> str:
    """A CEL expression of spec.features.<path> with its schema default where a level is absent."""
    keys, node = path.split("."), feature_schema
    for key in keys:
        node = node["properties"][key]
    guards = " && ".join(["has(self.features)"] + [f"has(self.features.{'.'.join(keys[:i + 1])})"
                                                   for i in range(len(keys))])
    return f"({guards} ? self.features.{path} : '{node['default']}')"


def _needs_compute(catalog: Catalog, service: str) -> dict[str, str]:
    """masakari recovers instances of compute hosts, octavia boots amphorae as instances: without compute either
    would be deployed to do nothing."""
    presets = [name for name, preset in catalog.presets.items() if "compute" in preset.services]
    return {"rule": "!has(self.features) || !has(self.features.services) "
                    f"|| !('{service}' in self.features.services) || 'compute' in self.features.services "
                    f"|| self.preset in {presets!r}",
            "fieldPath": ".features.services",
            "message": f"{service} needs compute: a preset with it ({', '.join(presets)}) or compute in "
                       "features.services"}


def _generic_share_backend_needs(catalog: Catalog) -> dict[str, str]:
    """The generic share driver's share servers are instances (compute) with cinder volumes (block-storage)."""
    def on(service: str) -> str:
        presets = [name for name, preset in catalog.presets.items() if service in preset.services]
        return (f"((has(self.features.services) && '{service}' in self.features.services) "
                f"|| self.preset in {presets!r})")
    return {"rule": f"!has(self.features) || !{share_backend_rule('generic', 'self.features')} "
                    f"|| ({on('compute')} && {on('block-storage')})",
            "fieldPath": ".features.manila.share.backends",
            "message": "a generic share backend's share servers are instances with cinder volumes: it needs compute "
                       "and block-storage (the compute preset, or both in features.services)"}


# gnocchi's image is built by the project (tools/build-openstack-images.sh gnocchi): no public registry has it.
_METRIC_NEEDS_A_REGISTRY = {
    "rule": "!has(self.features) || !has(self.features.services) || !('metric' in self.features.services) "
            "|| (has(self.artifacts) && has(self.artifacts.images_base_url))",
    "fieldPath": ".artifacts.images_base_url",
    "message": "metric runs gnocchi from an image no public registry publishes: build it "
               "(tools/build-openstack-images.sh gnocchi), push it to your registry and set artifacts.images_base_url "
               "(docs/images.md)"}


def _artifacts() -> Schema:
    return obj(
        {"images_base_url": string("Registry prefix every image is pulled from, as <prefix>/<name>:<tag> "
                                   "(a mirror of the upstream images). Unset: the upstream registries.",
                                   minLength=1),
         "charts_url": string("Helm chart repository URL, or a directory the helmbundle process can read, "
                              "holding the OpenStack-Helm chart set. Unset: the operator's configured "
                              "source (default: the public OpenStack-Helm repository). No credentials "
                              "(user:password@): use an unauthenticated mirror.", minLength=1, maxLength=2048)},
        default={},
        rules=[CHARTS_URL_RULE],
        description="Where images and charts come from (a mirror for air-gapped clouds). Unset fields: the "
                    "upstream sources.",
    )


def _services(catalog: Catalog) -> Schema:
    return obj(
        {
            service.name: obj(
                {chart.name: _described(values_holder(f"Values for the {chart.name} chart, merged last."),
                                        f"Overrides of the {chart.name} chart.")
                 for chart in service.charts},
                description=f"The {service.name} service's charts ({', '.join(c.name for c in service.charts)}).",
            )
            for service in catalog.services.values()
        },
        description="The last word: values per service and chart.",
    )


def _nodes(catalog: Catalog) -> Schema:
    return mapping(
        obj({"services": _node_services(catalog),
             "features": obj({"nova": obj({"maintenance_policy": maintenance_policy()},
                                         description="Compute features of these nodes.")},
                             description="Per node group features: the maintenance policy.")},
            description="Overrides for the nodes whose label <label> has the value <value>."),
        'Per node group overrides, keyed "<label>::<value>".',
        **{"x-kubernetes-validations": [{
            "rule": f"self.all(k, k.matches('{NODE_KEY_PATTERN}'))",
            "message": 'nodes keys must have the form "<label>::<value>"',
        }]},
    )


def _node_values(daemonset: str, shape: str) -> Schema:
    if shape == "conf":  # the chart's DaemonSet takes only configuration per node group
        return obj({"values": obj({"conf": free_form(f"Configuration of the {daemonset} pods on these nodes.")},
                                  description="Only `conf` can differ per node group for this DaemonSet.")},
                   description=f"Overrides of the {daemonset} DaemonSet on these nodes.")
    return _described(values_holder(f"Values for the {daemonset} pods on these nodes."),
                      f"Overrides of the {daemonset} DaemonSet on these nodes.")


def _node_services(catalog: Catalog) -> Schema:
    services = {}
    for service in catalog.services.values():
        charts = {
            chart.name: obj({ds: _node_values(ds, shape) for ds, shape in chart.daemonsets.items()},
                            description=f"The {chart.name} chart's DaemonSets that take per node overrides.")
            for chart in service.charts
            if chart.daemonsets
        }
        if charts:
            services[service.name] = obj(charts, description=f"The {service.name} service on these nodes.")
    return obj(services, description="Per service and chart, values for DaemonSet pods on these nodes only.")


def _described(schema: Schema, description: str) -> Schema:
    return {**schema, "description": description}
