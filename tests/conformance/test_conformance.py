"""Each value the operator renders takes effect in the real charts, for each example manifest."""

from __future__ import annotations

from typing import Any

import pytest
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.rendering.renderer import notification_bus
from openstack_operator.core.secrets.ceph import (CHART_WIRING, GATEWAY_CREDENTIAL, GATEWAY_REGISTRAR,
                                                  chart_wiring_readers, gateway_secret, namespace_objects)

from . import lib
from .conftest import Deployment, Deployments


def conforms(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_every_release_renders_with_its_chart(deployment: Deployment) -> None:
    conforms([f"{name}: {r.problem}" for name, r in sorted(deployment.releases.items()) if r.problem])


def test_images_come_from_the_configured_registry(deployment: Deployment) -> None:
    base_url = deployment.osdpl.spec.images_base_url
    if not base_url:
        pytest.skip("no artifacts.images_base_url: images come from their upstream registries")
    conforms([f"{r.release.name}: {p}" for r in deployment.ok() for p in lib.foreign_images(r.manifests, base_url)])


def test_every_image_is_one_we_set(deployment: Deployment) -> None:
    conforms([f"{r.release.name}: {p}" for r in deployment.ok()
              for p in lib.unpinned_images(r.manifests, r.release.values)])


def test_replicas_take_effect(deployment: Deployment) -> None:
    conforms([f"{r.release.name}: {p}" for r in deployment.ok()
              for p in lib.replica_mismatches(r.manifests, r.release.values, r.workload_keys)])


def test_public_endpoints_have_routes(deployment: Deployment) -> None:
    # ceph-rgw registers the storage side's object gateway: its public endpoint is served there (docs/endpoints.md).
    expected = [route for r in deployment.ok() if r.release.chart != GATEWAY_REGISTRAR
                for route in lib.expected_routes(r.release.values, lib.chart_facts(r.chart_tgz).defaults)]
    conforms(lib.missing_routes(deployment.all_manifests(), expected))


def test_node_groups_get_their_own_daemonsets(deployment: Deployment) -> None:
    """spec.nodes["<label>::<value>"].services.<service>.<chart>.<override key>.values: the chart renders a
    DaemonSet pinned to that group whose configuration holds the group's conf settings."""
    by_chart = {r.release.chart: r for r in deployment.ok()}
    problems = []
    for group, body in sorted((deployment.doc["spec"].get("nodes") or {}).items()):
        label, value = group.split("::", 1)
        for charts in (body.get("services") or {}).values():
            for chart, daemonsets in charts.items():
                rendered = by_chart.get(chart)
                if rendered is None:
                    problems.append(f"{group}: chart {chart} is not rendered")
                    continue
                for key, override in sorted(daemonsets.items()):
                    settings = lib.ini_settings((override.get("values") or {}).get("conf") or {})
                    problems += [f"{rendered.release.name}: {p}" for p in
                                 lib.node_override_problems(rendered.manifests, key, label, value, settings)]
    conforms(problems)


def test_credentials_reach_their_releases(deployment: Deployment, catalog: Catalog) -> None:
    # The object gateway's user is declared by keystone for every deployment but read only with the gateway.
    unread = set() if gateway_secret(deployment.osdpl.spec.features) else {GATEWAY_CREDENTIAL}
    enabled = deployment.osdpl.spec.enabled_services(catalog)
    if "dns" not in enabled:  # neutron's user for designate (catalog.yaml)
        unread.add("neutron_designate_keystone")
    if "baremetal" not in enabled:  # nova's user for ironic (catalog.yaml)
        unread.add("nova_ironic_keystone")
    consumers = {r.release.name: [c for c in chart.credentials if c not in unread] for r in deployment.ok()
                 for service in catalog.services.values() for chart in service.charts
                 if chart.name == r.release.chart}
    kinds = {name: spec.kind for name, spec in catalog.credentials.items()}
    conforms(lib.credential_problems({r.release.name: r.manifests for r in deployment.ok()},
                                     deployment.credentials, consumers, kinds))


def test_no_pod_waits_for_a_job_its_release_does_not_render(deployment: Deployment) -> None:
    """A Job a template turns off (glance's and cinder's storage-init with features.ceph) leaves no pod waiting
    for it: helm-toolkit drops a dependency on a Job whose manifests.job_* flag is off."""
    conforms([f"{r.release.name}: {p}" for r in deployment.ok() for p in lib.missing_dependency_jobs(r.manifests)])


def test_no_pod_waits_for_a_pod_no_release_makes(deployment: Deployment) -> None:
    """A dependency on a pod (the compute pods on their node's Open vSwitch agent or ovn-controller) names one that
    some release of the deployment runs."""
    conforms(lib.missing_dependency_pods(deployment.all_manifests()))


def test_every_object_a_pod_mounts_is_created_by_someone(deployment: Deployment, catalog: Catalog) -> None:
    """A pod whose ConfigMap or Secret nobody creates never starts on a real node (kwok would call it Ready). Each
    one a release's pods need comes from a release of the deployment, the operator (the charts' kept Secrets, the
    Ceph copy), a Job of the release that is told to write it (the storage-init Jobs' keyrings), or is the charts'
    own Ceph wiring, which the operator waits for before it writes anything (core.secrets.ceph.CHART_WIRING)."""
    spec = deployment.osdpl.spec
    enabled = spec.enabled_services(catalog)
    created = {(str(m.get("kind")), lib.name_of(m)) for m in deployment.all_manifests()}
    created |= {("Secret", secret) for service in enabled for chart in catalog.services[service].charts
                for secret in chart.kept_secrets}
    if spec.features["ceph"]["enabled"]:
        created |= {(o.kind, o.name) for o in namespace_objects(deployment.ceph)}
    wired = chart_wiring_readers(spec.features, enabled)
    problems = []
    for r in deployment.ok():
        made_by_jobs = {("Secret", secret) for secret in lib.job_written_secrets(r.manifests)}
        allowed = created | made_by_jobs | (set(CHART_WIRING) if r.release.chart in wired else set())
        problems += [f"{r.release.name}: pods need {kind}/{name}, which nothing creates"
                     for kind, name in sorted(lib.external_objects(r.manifests)) if (kind, name) not in allowed]
    conforms(problems)


def test_every_mount_names_a_volume_of_its_pod(deployment: Deployment) -> None:
    """The API server refuses such a workload and the release fails (designate's service-cleaner CronJob did)."""
    conforms([f"{r.release.name}: {p}" for r in deployment.ok() for p in lib.unnamed_volume_mounts(r.manifests)])


def test_every_value_is_read_by_the_chart(deployment: Deployment) -> None:
    conforms([f"{r.release.name}: {p}" for r in deployment.ok()
              for p in lib.unread_keys(r.release.values, lib.chart_facts(r.chart_tgz))])


def test_no_service_publishes_notifications_nothing_consumes(deployment: Deployment, catalog: Catalog) -> None:
    """The charts default to the messagingv2 driver on their own vhost: a queue per topic that fills RabbitMQ, read
    by nothing. Every driver is noop, or publishes on the notification bus where metering runs (ceilometer reads it;
    ceilometer itself hands events to aodh there)."""
    spec = deployment.osdpl.spec
    bus = notification_bus(deployment.osdpl.namespace, spec.internal_domain_name, deployment.credentials) \
        if "metering" in spec.enabled_services(catalog) else None
    conforms([f"{r.release.name}: {p}" for r in deployment.ok() for p in lib.notification_publishers(r.manifests,
                                                                                                      bus)])


def test_all_features_manifest_covers_the_catalog(deployments: Deployments, catalog: Catalog) -> None:
    """all-features.yaml enables every service but those that need the storage side (ceph.yaml enables them) and
    has a node group for every per-node DaemonSet, those of OVN in ovn.yaml: a service, chart or DaemonSet added to
    the catalog must be added there too."""
    manifests = [deployments.get_ok(name) for name in ("all-features", "ceph", "ovn")]
    enabled = {service for deployment in manifests for service in deployment.osdpl.spec.enabled_services(catalog)}
    rendered = {r.release.chart for deployment in manifests for r in deployment.ok()}
    covered: set[tuple[str, str]] = set()
    for deployment in manifests:
        for body in (deployment.doc["spec"].get("nodes") or {}).values():
            charts: dict[str, Any]
            for charts in (body.get("services") or {}).values():
                covered |= {(chart, key) for chart, keys in charts.items() for key in keys}
    wanted = {(chart.name, key) for service in catalog.services.values() for chart in service.charts
              for key in chart.daemonsets}
    conforms([f"service {s} not enabled" for s in catalog.services if s not in enabled]
             + [f"chart {c} not rendered" for c in catalog.charts if c not in rendered]
             + [f"no node group sets {chart}.{key}" for chart, key in sorted(wanted - covered)])
