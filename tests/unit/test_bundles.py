"""HelmBundle specs: each release names its chart, version and archive digest, the chart repository only when the
deployment sets one, and the same rendering always gives the same bytes."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from openstack_operator.core.models.bundle import Bundle, BundleOwner, BundleSpec, ReleaseStatus
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


def test_a_removed_reapply_annotation_asks_for_nothing_and_leaves_the_bundle_as_it_is() -> None:
    """The bundle keeps the last request: a merge patch of the spec cannot remove `reapply`, so a spec without it
    would differ from the stored bundle forever (a no-op PATCH on every reconcile), and dropping it would apply every
    release again."""
    osdpl: dict[str, Any] = {"metadata": {"generation": 4, "annotations": {REAPPLY_ANNOTATION: "now"}}}
    spec = BundleSpec(service="identity")
    requested = with_requests(spec, None, osdpl)
    stored = Bundle(name="cloud-identity", namespace="openstack", spec=requested,
                    releases={"openstack-keystone": ReleaseStatus(state="deployed", applied_reapply="now")})
    del osdpl["metadata"]["annotations"][REAPPLY_ANNOTATION]
    assert with_requests(spec, stored, osdpl) == stored.spec
    assert plan_bundles({"identity": with_requests(spec, stored, osdpl)}, {"identity": stored}).write == []
    osdpl["metadata"]["annotations"][REAPPLY_ANNOTATION] = "again"  # a new request still reaches the bundle
    assert with_requests(spec, stored, osdpl).reapply == "again"


def test_values_that_cannot_fit_in_a_secret_are_an_error_naming_the_service() -> None:
    release = RenderedRelease(name="openstack-keystone", chart="keystone", version="2026.1.0", digest="",
                              namespace="ns", timeout_seconds=600, values={"blob": "x" * (1024 * 1024)},
                              fingerprint="f")
    huge = RenderedService("identity", (), (release,))
    with pytest.raises(OperatorError, match=r"spec.services.identity: .*openstack-keystone.*osh-dev-identity-values"):
        values_secret_data("osh-dev", huge)



KEYSTONE_DIGEST = "sha256:3816a7c8415b1cb79589322b4098418b91f538dfd9b2e29274159cb50aeb50db"  # the catalog's
RELEASE = {"name": "openstack-keystone", "chart": "keystone", "version": "2026.1.0", "digest": KEYSTONE_DIGEST,
           "namespace": "openstack", "values_from": {"secret_name": "cloud-identity-values", "key": "openstack-keystone"}}


def _bundle(**change: Any) -> Bundle:
    """A bundle as the osdpl process writes it: osdpl `cloud` (uid u-1), its identity service, in its namespace; the
    `change`s (path__to__key=value) made to it as stored."""
    bundle: dict[str, Any] = {
        "metadata": {"name": "cloud-identity", "namespace": "openstack", "labels": {OSDPL_LABEL: "cloud"},
                     "ownerReferences": [{"apiVersion": "openstack.osop.dev/v1alpha1", "kind": "OpenStackDeployment",
                                          "name": "cloud", "uid": "u-1", "controller": True}]},
        "spec": {"service": "identity", "releases": [copy.deepcopy(RELEASE)]}}
    for path, value in change.items():
        *parents, leaf = path.split("__")
        target: Any = bundle
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[leaf] = value
    return Bundle.from_api(bundle)


def _owner(uid: str | None, charts_url: str = "", deleting: bool = False) -> BundleOwner | None:
    return BundleOwner(name="cloud", uid=uid, charts_url=charts_url, deleting=deleting) if uid else None


DELETED = "2026-12-04T00:00:00Z"
KEPT = "its releases are left as they are"


@pytest.mark.parametrize("change, owner_uid, expected", [
    ({}, "u-1", None),
    ({"metadata__ownerReferences": []}, "u-1", None),  # orphan propagation strips it before the uninstall
    ({"spec__releases": [{**RELEASE, "namespace": "kube-system"}]}, "u-1",
     "releases outside the bundle's namespace openstack: openstack-keystone (namespace kube-system)"),
    ({"metadata__labels": {}}, "u-1", "not a bundle of an osdpl"),
    ({"metadata__name": "my-bundle"}, "u-1", "not a bundle of an osdpl"),
    ({"spec__service": "no-such-service"}, "u-1", "not a bundle of an osdpl"),
    ({"spec__releases": [{**RELEASE, "name": "openstack-mariadb"}]}, "u-1",
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
    # A leftover of a gone osdpl, or of an earlier osdpl of the same name: its releases are the current one's.
    ({"metadata__deletionTimestamp": DELETED}, None, f"osdpl cloud does not exist in namespace openstack: a bundle "
                                                     f"of a gone osdpl never uninstalls; {KEPT}"),
    ({"spec__uninstall": True}, None, KEPT),
    ({"metadata__deletionTimestamp": DELETED, "metadata__ownerReferences__0__uid": "u-0"}, "u-1",
     f"osdpl cloud uid u-0, not the uid u-1 of osdpl cloud now (a bundle of an earlier osdpl); {KEPT}"),
    ({"spec__uninstall": True, "metadata__ownerReferences__0__uid": "u-0"}, "u-1", KEPT),
    ({"metadata__deletionTimestamp": DELETED, "spec__releases": [{**RELEASE, "namespace": "kube-system"}]}, None,
     "outside the bundle's namespace"),
    # Forged with the right name and label: the catalog's chart, version and digest, the osdpl's values Secret.
    ({"spec__releases__0__chart": "evil"}, "u-1", "release openstack-keystone: chart evil is not the catalog's "
                                                  "keystone"),
    ({"spec__releases__0__version": "0.1.0"}, "u-1", "version 0.1.0 is not the catalog's 2026.1.0"),
    ({"spec__releases__0__digest": ""}, "u-1", f"digest (unset) is not the catalog's {KEYSTONE_DIGEST}"),
    ({"spec__releases__0__digest": "sha256:" + "0" * 64}, "u-1", "digest sha256:000"),
    ({"spec__releases__0__repository": "https://charts.evil.example"}, "u-1",
     "repository is not spec.artifacts.charts_url of osdpl cloud (unset: no repository)"),
    ({"spec__releases__0__values_from": {"secret_name": "mine", "key": "openstack-keystone"}}, "u-1",
     "values_from Secret mine key openstack-keystone is not Secret cloud-identity-values key openstack-keystone"),
    ({"spec__releases__0__values_from": {"secret_name": "cloud-identity-values", "key": "other"}}, "u-1",
     "values_from Secret cloud-identity-values key other is not"),
    # The pins are of what is installed: an uninstall of the osdpl's own releases reads no chart (a catalog of an
    # operator upgrade may pin newer charts than a bundle being deleted names).
    ({"spec__uninstall": True, "spec__releases__0__version": "0.1.0"}, "u-1", None),
])
def test_only_bundles_as_the_namespace_osdpl_writes_them_are_trusted(
        catalog: Catalog, change: dict[str, Any], owner_uid: str | None, expected: str | None) -> None:
    problem = trust_problem(_bundle(**change), _owner(owner_uid), catalog)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


def test_a_bundle_names_the_chart_repository_its_osdpl_sets_and_no_url_reaches_the_message(catalog: Catalog) -> None:
    url = "https://user:s3cret@charts.mirror.example/osh"
    mirrored = _bundle(spec__releases__0__repository=url)
    assert trust_problem(mirrored, _owner("u-1", charts_url=url), catalog) is None
    for bundle, owner in ((_bundle(), _owner("u-1", charts_url=url)),
                          (mirrored, _owner("u-1", charts_url="https://user:s3cret@charts.other.example/osh")),
                          (mirrored, _owner("u-1"))):
        problem = trust_problem(bundle, owner, catalog)
        assert problem is not None and "repository is not spec.artifacts.charts_url" in problem
        assert "s3cret" not in problem and "mirror.example" not in problem


def test_a_bundle_of_a_gone_osdpl_uninstalls_only_in_a_namespace_being_deleted(catalog: Catalog) -> None:
    """Nothing can be created in a namespace being deleted: no other osdpl's releases can be there."""
    leftover = _bundle(metadata__deletionTimestamp=DELETED)
    assert trust_problem(leftover, None, catalog, namespace_terminating=True) is None
    assert trust_problem(leftover, None, catalog) is not None
    # An earlier osdpl's bundle in a namespace being deleted: the current osdpl's own bundles uninstall its releases.
    earlier = _bundle(metadata__deletionTimestamp=DELETED, metadata__ownerReferences__0__uid="u-0")
    assert trust_problem(earlier, _owner("u-1", deleting=True), catalog, namespace_terminating=True) is not None


def test_only_the_namespace_holders_bundles_are_trusted(catalog: Catalog) -> None:
    """A blocked osdpl is never written bundles: one naming it, even with its uid, would act on the holder's
    releases (release names are the same for every osdpl of a namespace)."""
    blocked = BundleOwner(name="cloud", uid="u-1", claimed_by="first")
    for bundle in (_bundle(), _bundle(spec__uninstall=True), _bundle(metadata__deletionTimestamp=DELETED)):
        problem = trust_problem(bundle, blocked, catalog)
        assert problem is not None and "namespace openstack is held by osdpl first, not osdpl cloud" in problem
    assert trust_problem(_bundle(), BundleOwner(name="cloud", uid="u-1", claimed_by="cloud"), catalog) is None


def test_a_forged_field_in_a_refusal_is_bounded(catalog: Catalog) -> None:
    problem = trust_problem(_bundle(spec__releases__0__chart="x" * 5000), _owner("u-1"), catalog)
    assert problem is not None and len(problem) < 400


@pytest.mark.parametrize("example", ["full", "minimal"])
def test_every_bundle_the_osdpl_process_writes_is_trusted(renderer: Renderer, catalog: Catalog, example: str) -> None:
    doc = load_example(example)
    services, charts_url = _render(renderer, doc)
    name, namespace = doc["metadata"]["name"], doc["metadata"]["namespace"]
    owner = BundleOwner.from_api({**doc, "metadata": {**doc["metadata"], "uid": "u-1"}})
    assert owner.charts_url == charts_url
    for service in services:
        bundle = Bundle(name=bundle_name(name, service.name), namespace=namespace, labels={OSDPL_LABEL: name},
                        spec=bundle_spec(name, service, charts_url))
        assert trust_problem(bundle, owner, catalog) is None, service.name
