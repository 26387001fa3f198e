"""HelmBundle specs: each release names its chart, version and archive digest, the chart repository only when the
deployment sets one, and the same rendering always gives the same bytes."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from openstack_operator.core.models.bundle import Bundle, BundleSpec, ReleaseStatus
from openstack_operator.core.releases.bundles import (OSDPL_LABEL, REAPPLY_ANNOTATION, bundle_name, bundle_spec,
                                             namespace_holder, plan_bundles, trust_problem,
                                             values_secret_data, with_requests)
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.credentials import placeholder_credentials, required_credentials
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.rendering.renderer import RenderedRelease, RenderedService, Renderer

from .conftest import load_example

MIRROR = "https://charts.mirror.example/openstack-helm"


def _render(renderer: Renderer, doc: dict[str, Any]) -> tuple[list[RenderedService], str]:
    osdpl = load_osdpl(renderer.catalog, doc)
    enabled = osdpl.spec.enabled_services(renderer.catalog)
    credentials = placeholder_credentials(renderer.catalog, required_credentials(renderer.catalog, enabled))
    return renderer.render(osdpl.spec, credentials, osdpl.namespace), osdpl.spec.charts_url


def _specs(renderer: Renderer, doc: dict[str, Any]) -> dict[str, BundleSpec]:
    services, charts_url = _render(renderer, doc)
    return {service.name: bundle_spec("cloud", service, charts_url) for service in services}


def _with_charts_url(doc: dict[str, Any], url: str) -> dict[str, Any]:
    changed = copy.deepcopy(doc)
    changed["spec"].setdefault("artifacts", {})["charts_url"] = url
    return changed


def test_each_release_pins_its_catalog_chart_and_digest(renderer: Renderer, catalog: Catalog) -> None:
    specs = _specs(renderer, load_example("minimal"))
    for spec in specs.values():
        for release in spec.releases:
            chart = catalog.charts[release.chart]
            assert (release.version, release.digest) == (catalog.chart_set.version, chart.digest)
            assert "repository" not in release.to_api()  # the helmbundle process's configured source


def test_charts_url_names_the_repository_of_every_release(renderer: Renderer) -> None:
    specs = _specs(renderer, _with_charts_url(load_example("minimal"), MIRROR))
    assert {r.to_api()["repository"] for spec in specs.values() for r in spec.releases} == {MIRROR}


def test_bundle_specs_are_byte_identical_across_reconciles(renderer: Renderer) -> None:
    doc = _with_charts_url(load_example("full"), MIRROR)
    first = json.dumps({s: spec.to_api() for s, spec in _specs(renderer, doc).items()}, sort_keys=False)
    again = json.dumps({s: spec.to_api() for s, spec in _specs(Renderer(Catalog.load()), copy.deepcopy(doc)).items()},
                       sort_keys=False)
    assert first == again


def test_a_new_chart_repository_rewrites_bundles_but_upgrades_nothing(renderer: Renderer) -> None:
    doc = load_example("minimal")
    before, after = _specs(renderer, doc), _specs(renderer, _with_charts_url(doc, MIRROR))
    existing = {name: Bundle(name=f"cloud-{name}", namespace="openstack", spec=spec) for name, spec in before.items()}
    assert sorted(plan_bundles(after, existing).write) == sorted(before)
    fingerprints = [[r.fingerprint for r in spec.releases] for spec in before.values()]
    assert fingerprints == [[r.fingerprint for r in spec.releases] for spec in after.values()]
    assert plan_bundles(before, existing).write == []  # unchanged: nothing written


def test_the_fingerprint_covers_the_chart_digest(renderer: Renderer, catalog: Catalog) -> None:
    doc = load_example("minimal")
    other = dataclasses.replace(catalog, services={
        name: dataclasses.replace(service, charts=tuple(dataclasses.replace(c, digest="sha256:" + "0" * 64)
                                                        for c in service.charts))
        for name, service in catalog.services.items()})
    ours, theirs = _render(renderer, doc)[0], _render(Renderer(other), doc)[0]
    assert [r.fingerprint for s in ours for r in s.releases] and \
        all(a.fingerprint != b.fingerprint for s, t in zip(ours, theirs) for a, b in zip(s.releases, t.releases))


def _osdpl(name: str, created: str, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "creationTimestamp": created}
    if deleting:
        metadata["deletionTimestamp"] = created
    return {"metadata": metadata}


def test_the_namespace_belongs_to_its_claim_holder_else_the_osdpl_with_bundles_else_the_oldest() -> None:
    a, b = _osdpl("cloud-a", "2026-01-02T00:00:00Z"), _osdpl("cloud-b", "2026-01-01T00:00:00Z")
    assert namespace_holder("cloud-a", [a, b], [], None) == "cloud-b"  # older, nobody deployed yet
    assert namespace_holder("cloud-b", [a, b], [], None) is None
    assert namespace_holder("cloud-b", [a, b], ["cloud-a", "cloud-a"], None) == "cloud-a"  # deployed first: keeps it
    assert namespace_holder("cloud-a", [a, b], ["cloud-a"], None) is None
    # An older osdpl on its way out without releases does not hold the namespace.
    assert namespace_holder("cloud-a", [a, _osdpl("cloud-b", "2026-01-01T00:00:00Z", deleting=True)], [], None) is None
    # The claim decides while its holder exists, whatever the age or the bundles say; a gone holder's claim not.
    assert namespace_holder("cloud-b", [a, b], [], "cloud-a") == "cloud-a"
    assert namespace_holder("cloud-a", [a, b], ["cloud-b"], "cloud-a") is None
    assert namespace_holder("cloud-a", [a], [], "cloud-gone") is None


def test_a_change_retries_only_failing_bundles_and_a_reapply_request_reaches_every_bundle() -> None:
    osdpl: dict[str, Any] = {"metadata": {"generation": 4}}
    spec = BundleSpec(service="identity")

    def stored(state: str) -> Bundle:
        return Bundle(name="cloud-identity", namespace="openstack", spec=dataclasses.replace(spec, retry="3"),
                      releases={"keystone": ReleaseStatus(state=state)})

    failing, fine = stored("failed"), stored("deployed")
    assert with_requests(spec, failing, osdpl) == dataclasses.replace(spec, retry="4")
    # unchanged: the bundle is not rewritten
    assert with_requests(spec, fine, osdpl) == dataclasses.replace(spec, retry="3")
    assert with_requests(spec, None, osdpl) == spec
    osdpl["metadata"]["annotations"] = {REAPPLY_ANNOTATION: "now"}
    assert with_requests(spec, fine, osdpl) == dataclasses.replace(spec, retry="3", reapply="now")
    assert with_requests(spec, fine, osdpl).to_api() == {**spec.to_api(), "retry": "3", "reapply": "now"}


def test_values_that_cannot_fit_in_a_secret_are_an_error_naming_the_service() -> None:
    release = RenderedRelease(name="openstack-keystone", chart="keystone", version="2026.1.0", digest="",
                              namespace="ns", timeout_seconds=600, values={"blob": "x" * (1024 * 1024)},
                              fingerprint="f")
    huge = RenderedService("identity", (), (release,))
    with pytest.raises(OperatorError, match=r"spec.services.identity: .*openstack-keystone.*osh-dev-identity-values"):
        values_secret_data("osh-dev", huge)



def _bundle(**change: Any) -> Bundle:
    """A bundle as the osdpl process writes it: osdpl `cloud` (uid u-1), its identity service, in its namespace; the
    `change`s (path__to__key=value) made to it as stored."""
    bundle: dict[str, Any] = {
        "metadata": {"name": "cloud-identity", "namespace": "openstack", "labels": {OSDPL_LABEL: "cloud"},
                     "ownerReferences": [{"apiVersion": "openstack.osop.dev/v1alpha1", "kind": "OpenStackDeployment",
                                          "name": "cloud", "uid": "u-1", "controller": True}]},
        "spec": {"service": "identity", "releases": [{"name": "openstack-keystone", "namespace": "openstack"}]}}
    for path, value in change.items():
        *parents, leaf = path.split("__")
        target = bundle
        for key in parents:
            target = target[key]
        target[leaf] = value
    return Bundle.from_api(bundle)


DELETED = "2026-12-04T00:00:00Z"


@pytest.mark.parametrize("change, owner_uid, expected", [
    ({}, "u-1", None),
    ({"metadata__ownerReferences": []}, "u-1", None),  # orphan propagation strips it before the uninstall
    ({"spec__releases": [{"name": "openstack-keystone", "namespace": "kube-system"}]}, "u-1",
     "releases outside the bundle's namespace openstack: openstack-keystone (namespace kube-system)"),
    ({"metadata__labels": {}}, "u-1", "not a bundle of an osdpl"),
    ({"metadata__name": "my-bundle"}, "u-1", "not a bundle of an osdpl"),
    ({"spec__service": "no-such-service"}, "u-1", "not a bundle of an osdpl"),
    ({"spec__releases": [{"name": "openstack-mariadb", "namespace": "openstack"}]}, "u-1",
     "releases that are not of service identity: openstack-mariadb"),
    ({}, None, "osdpl cloud does not exist in namespace openstack"),
    ({"metadata__ownerReferences": [{"apiVersion": "openstack.osop.dev/v1alpha1", "kind": "OpenStackDeployment",
                                     "name": "cloud", "uid": "u-2", "controller": True}]}, "u-1",
     "names another object than osdpl cloud"),
    ({"metadata__ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "cloud", "uid": "u-1",
                                     "controller": True}]}, "u-1", "names another object"),
    ({"metadata__ownerReferences": [{"apiVersion": "example.com/v1", "kind": "OpenStackDeployment",
                                     "name": "cloud", "uid": "u-1", "controller": True}]}, "u-1",
     "names another object"),
    ({"metadata__deletionTimestamp": DELETED}, None, None),  # deleted after its osdpl: its releases still go
    ({"metadata__deletionTimestamp": DELETED, "spec__releases": [{"name": "x", "namespace": "kube-system"}]}, None,
     "outside the bundle's namespace"),
])
def test_only_bundles_as_the_namespace_osdpl_writes_them_are_trusted(
        catalog: Catalog, change: dict[str, Any], owner_uid: str | None, expected: str | None) -> None:
    problem = trust_problem(_bundle(**change), owner_uid, catalog)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


def test_every_bundle_the_osdpl_process_writes_is_trusted(renderer: Renderer, catalog: Catalog) -> None:
    doc = load_example("full")
    services, charts_url = _render(renderer, doc)
    name, namespace = doc["metadata"]["name"], doc["metadata"]["namespace"]
    for service in services:
        bundle = Bundle(name=bundle_name(name, service.name), namespace=namespace, labels={OSDPL_LABEL: name},
                        spec=bundle_spec(name, service, charts_url))
        assert trust_problem(bundle, "u-1", catalog) is None, service.name
