"""Negative tests: the checks report a known fault. Each starts from a release as the operator renders it (or
from chart facts alone) and injects one fault; where cheap, a control shows the correct form passes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.credentials import Credential

from . import lib
from .conftest import Deployments, Rendered


def _release(deployments: Deployments, chart: str) -> Rendered:
    """The chart's release in the full example."""
    found = [r for r in deployments.get_ok("full").releases.values() if r.release.chart == chart]
    if not found or found[0].problem:
        pytest.fail(f"full example: no renderable {chart} release ({found[0].problem if found else 'absent'})")
    return found[0]


def _values(rendered: Rendered) -> dict[str, Any]:
    return copy.deepcopy(dict(rendered.release.values))


def _template(helm: Path, rendered: Rendered, values: dict[str, Any]) -> list[lib.Manifest]:
    r = rendered.release
    return lib.helm_template(helm, r.name, rendered.chart_tgz, r.namespace, values)


@pytest.mark.parametrize(("chart", "wrong", "reported", "right"), [
    # the brief's examples: keys the chart reads elsewhere, or no longer at all
    ("neutron", {"auto_bridge_add": {"br-ex": "ens5"}}, "auto_bridge_add",
     {"conf": {"auto_bridge_add": {"br-ex": "ens5"}}}),
    ("cinder", {"endpoints": {"volume": {"hosts": {"default": "cinder-api"}}}}, "endpoints.volume",
     {"endpoints": {"volumev3": {"hosts": {"public": "cinder"}}}}),
    ("nova", {"endpoints": {"oslo_db_api": {"auth": {"nova": {"password": "x"}}}}}, "endpoints.oslo_db_api",
     {"endpoints": {"oslo_db_cell0": {"auth": {"nova": {"password": "x"}}}}}),
    # per-node overrides in the other helm-toolkit shape than the chart's DaemonSet template calls
    ("nova", {"overrides": {"nova_compute": {"labels": {"a::b": {"values": {}}}}}}, "overrides",
     {"conf": {"overrides": {"nova_compute": {"labels": [{"label": {"key": "a", "values": ["b"]}, "conf": {}}]}}}}),
    ("libvirt", {"conf": {"overrides": {"libvirt_libvirt": {"labels": []}}}}, "conf.overrides",
     {"overrides": {"libvirt_libvirt": {"labels": {"a::b": {"values": {"conf": {"libvirt": {"x": "1"}}}}}}}}),
    # closed maps: an image key no container names, a replicas key no workload reads
    ("keystone", {"images": {"tags": {"keystone_apii": "x"}}}, "images.tags.keystone_apii",
     {"images": {"tags": {"keystone_api": "x"}}}),
    ("keystone", {"pod": {"replicas": {"server": 2}}}, "pod.replicas.server", {"pod": {"replicas": {"api": 2}}}),
    # pod annotations for a component no template asks helm-toolkit for (libvirt asks for none)
    ("nova", {"annotations": {"pod": {"nova_computer": {"a": "b"}}}}, "annotations",
     {"annotations": {"pod": {"nova_compute": {"a": "b"}}}}),
    ("libvirt", {"annotations": {"pod": {"libvirt": {"a": "b"}}}}, "annotations", {"release_uuid": "x"}),
])
def test_unread_keys_reports_a_misplaced_key(charts: Path, catalog: Catalog, chart: str, wrong: dict[str, Any],
                                             reported: str, right: dict[str, Any]) -> None:
    facts = lib.chart_facts(charts / f"{chart}-{catalog.chart_set.version}.tgz")
    assert [p for p in lib.unread_keys(wrong, facts) if p.split(":")[0] == reported] != []
    assert lib.unread_keys(right, facts) == []


def test_unread_keys_reports_root_auto_bridge_add_in_rendered_neutron(deployments: Deployments) -> None:
    neutron = _release(deployments, "neutron")
    values = _values(neutron)
    values["auto_bridge_add"] = {"br-ex": "ens5"}
    assert "auto_bridge_add: not read by the chart" in lib.unread_keys(values, lib.chart_facts(neutron.chart_tgz))


def test_foreign_images_reports_an_image_from_another_registry(deployments: Deployments,
                                                               helm: Path) -> None:
    keystone = _release(deployments, "keystone")
    values = _values(keystone)
    values["images"]["tags"]["keystone_api"] = "docker.io/x/keystone:1"
    base_url = deployments.get_ok("full").osdpl.spec.images_base_url
    problems = lib.foreign_images(_template(helm, keystone, values), base_url)
    assert any(p.startswith("Deployment/keystone-api container ") and "image from docker.io," in p
               for p in problems), problems
    assert all("docker.io/x" not in p for p in problems)  # the registry host only, not the reference


def test_unpinned_images_reports_a_chart_default(deployments: Deployments, helm: Path) -> None:
    keystone = _release(deployments, "keystone")
    values = _values(keystone)
    del values["images"]["tags"]["keystone_api"]  # the chart's own default image takes its place
    problems = lib.unpinned_images(_template(helm, keystone, values), values)
    assert any(p.startswith("Deployment/keystone-api container ") for p in problems), problems


def test_credential_problems_reports_a_shared_user_name(deployments: Deployments,
                                                        catalog: Catalog) -> None:
    deployment = deployments.get_ok("full")
    credentials = dict(deployment.credentials)
    keystone_db = credentials["keystone_db"]
    credentials["glance_db"] = Credential(keystone_db.username, credentials["glance_db"].password)
    kinds = {name: spec.kind for name, spec in catalog.credentials.items()}
    problems = lib.credential_problems({}, credentials, {}, kinds)
    assert problems == [f"credentials glance_db, keystone_db: one database user name {keystone_db.username!r}"]
    # the same name in different systems is fine: glance is a database user and a keystone user
    assert credentials["glance_keystone"].username == "glance"
    assert lib.credential_problems({}, deployment.credentials, {}, kinds) == []


def test_credential_problems_reports_a_password_that_reaches_no_release(deployments: Deployments,
                                                                        catalog: Catalog) -> None:
    deployment = deployments.get_ok("full")
    manifests = {r.release.name: r.manifests for r in deployment.ok()}
    credentials = dict(deployment.credentials)
    credentials["glance_db"] = Credential("glance", "pw-never-rendered")
    problems = lib.credential_problems(manifests, credentials, {"openstack-glance": ["glance_db"]}, {})
    assert problems == ["openstack-glance: credential glance_db declared but its password is in no Secret or "
                        "ConfigMap"]
    assert all("pw-never-rendered" not in p for p in problems)


def _route(host: str, service: str, port: int) -> dict[str, Any]:
    """An HTTPRoute as in OpenStack-Helm's values_overrides/<chart>/gateway.yaml."""
    return {"apiVersion": lib.HTTPROUTE_API, "kind": "HTTPRoute", "metadata": {"name": "test-route"},
            "spec": {"parentRefs": [{"name": "gw", "namespace": "gateways"}], "hostnames": [host],
                     "rules": [{"backendRefs": [{"name": service, "port": port}]}]}}


def test_missing_routes_reports_a_removed_route(deployments: Deployments, helm: Path) -> None:
    keystone = _release(deployments, "keystone")
    values = _values(keystone)
    expected = lib.expected_routes(values, lib.chart_facts(keystone.chart_tgz).defaults)
    host = "keystone." + deployments.get_ok("full").osdpl.spec.public_domain_name
    assert lib.Route(host, "keystone-api") in expected
    # control: the upstream example's route (keystone-api:5000) conforms
    values["extraObjects"] = {"route": _route(host, "keystone-api", 5000)}
    assert [p for p in lib.missing_routes(_template(helm, keystone, values), expected) if p.startswith(host)] == []
    values["extraObjects"] = {}
    assert f"{host}: no HTTPRoute ({lib.HTTPROUTE_API}) for this hostname" in \
        lib.missing_routes(_template(helm, keystone, values), expected)
    values["extraObjects"] = {"route": _route(host, "keystone-api", 80)}  # the public port, not the Service's
    assert f"{host}: backendRef port 80 is not a port of Service keystone-api (5000)" in \
        lib.missing_routes(_template(helm, keystone, values), expected)


def test_node_override_problems_reports_a_setting_that_did_not_land(deployments: Deployments,
                                                                    helm: Path) -> None:
    nova = _release(deployments, "nova")
    values = _values(nova)
    values.setdefault("conf", {})["overrides"] = {"nova_compute": {"labels": [
        {"label": {"key": "cpu", "values": ["pinned"]}, "conf": {"nova": {"DEFAULT": {"cpu_allocation_ratio": 1.0}}}}]}}
    manifests = _template(helm, nova, values)
    assert lib.node_override_problems(manifests, "nova_compute", "cpu", "pinned",
                                      {("DEFAULT", "cpu_allocation_ratio"): 1.0}) == []
    assert lib.node_override_problems(manifests, "nova_compute", "cpu", "pinned",
                                      {("DEFAULT", "cpu_allocation_ratio"): 3.0}) != []
    assert lib.node_override_problems(manifests, "nova_compute", "cpu", "other", {}) != []
    values["overrides"] = values["conf"].pop("overrides")  # nova reads conf.overrides only
    assert lib.node_override_problems(_template(helm, nova, values), "nova_compute", "cpu", "pinned", {}) != []


def test_replica_mismatches_reports_replicas_that_did_not_land(deployments: Deployments) -> None:
    nova = _release(deployments, "nova")
    assert "Deployment/nova-api-osapi" in nova.workload_keys  # the probe maps osapi to its workload
    values = _values(nova)
    values["pod"]["replicas"][nova.workload_keys["Deployment/nova-api-osapi"]] = 99
    assert lib.replica_mismatches(nova.manifests, values, nova.workload_keys) != []


def test_catalog_override_keys_are_the_charts(catalog: Catalog, charts: Path) -> None:
    """catalog.yaml's per-node DaemonSet keys and shapes are those the charts' DaemonSet templates pass to
    helm-toolkit (a wrong key is silently ignored by the chart)."""
    problems = []
    for service in catalog.services.values():
        for chart in service.charts:
            actual = lib.chart_facts(charts / f"{chart.name}-{chart.version}.tgz").overrides
            problems += [f"{chart.name}: {key}: chart has {actual.get(key, 'no such override key')}, catalog says "
                         f"{shape}" for key, shape in chart.daemonsets.items() if actual.get(key) != shape]
    assert problems == []


def test_external_objects_reports_the_admin_key_of_the_charts_own_ceph_wiring(deployments: Deployments) -> None:
    """Without features.ceph, an rbd glance needs the admin key Secret someone else (ceph-adapter-rook) creates."""
    needed = lib.external_objects(_release(deployments, "glance").manifests)
    assert needed[("Secret", "pvc-ceph-client-key")] == {"key"}
    assert ("Secret", "glance-etc") not in needed  # the release's own


def test_missing_dependency_jobs_reports_a_job_that_is_not_rendered(deployments: Deployments) -> None:
    manifests = [m for m in _release(deployments, "glance").manifests
                 if (m.get("kind"), m.get("metadata", {}).get("name")) != ("Job", "glance-db-sync")]
    problems = lib.missing_dependency_jobs(manifests)
    assert "Deployment/glance-api waits for Job/glance-db-sync, which the release does not render" in problems


def test_notification_publishers_reports_the_charts_default_driver(deployments: Deployments, helm: Path) -> None:
    nova = _release(deployments, "nova")
    values = _values(nova)
    del values["conf"]["nova"]["oslo_messaging_notifications"]  # the chart's default, messagingv2, takes its place
    problems = lib.notification_publishers(_template(helm, nova, values))
    assert ("Secret/nova-etc nova.conf: [oslo_messaging_notifications] driver = messagingv2 (its own vhost)"
            in problems), problems
    assert not lib.notification_publishers(nova.manifests)
