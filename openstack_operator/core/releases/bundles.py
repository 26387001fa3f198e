"""From rendered services to HelmBundle objects, and what to change among the existing ones.

One bundle per enabled service, named `<osdpl>-<service>`. Values are not in the bundle (they hold credentials):
each release's values are a key of the Secret `<osdpl>-<service>-values`. Each release names its chart, version
and the digest of the chart archive, and the chart repository when the deployment sets spec.artifacts.charts_url.
A bundle is rewritten only when its spec would change, which happens exactly when a release's fingerprint, the
service's dependencies or the deployment's chart repository change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

import yaml

from openstack_operator.core.apigroup import GROUP
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.catalog import Catalog, Chart
from openstack_operator.core.models.bundle import Bundle, BundleOwner, BundleRelease, BundleSpec, ValuesRef
from openstack_operator.core.rendering.renderer import RenderedRelease, RenderedService, release_name

OSDPL_LABEL = "openstack.osop.dev/osdpl"
SERVICE_LABEL = "openstack.osop.dev/service"
# Set or change it on an osdpl (any value) to apply every release again now: failed ones are retried at once
# instead of at their next attempt time, deployed ones are upgraded with the same values (which recreates objects
# deleted by hand). An annotation, not a spec field: the manifest in Git stays as it is.
REAPPLY_ANNOTATION = "openstack.osop.dev/reapply"
# Set or change it on an osdpl (any value) to run tempest again: the value is the tempest release's release_uuid,
# so the release is upgraded and its run-tests hook runs anew. Without tempest in features.services it does nothing.
TEMPEST_RUN_ANNOTATION = "openstack.osop.dev/run-tempest"
# What the API server accepts in one Secret's data, less room for the metadata.
MAX_VALUES_BYTES = 1024 * 1024 - 8 * 1024


def bundle_name(osdpl: str, service: str) -> str:
    return f"{osdpl}-{service}"


def values_secret_name(osdpl: str, service: str) -> str:
    return f"{osdpl}-{service}-values"


def bundle_spec(osdpl: str, service: RenderedService, charts_url: str) -> BundleSpec:
    """`charts_url`: spec.artifacts.charts_url; empty leaves each release's `repository` unset, so the helmbundle
    process uses the chart source it is configured with. The result depends on its arguments only: the same
    rendering gives the same spec, and an unchanged bundle is never rewritten."""
    return BundleSpec(service=service.name, depends_on=tuple(service.depends_on), uninstall=False,
                      releases=tuple(_release_spec(osdpl, service.name, release, charts_url)
                                     for release in service.releases))


def _release_spec(osdpl: str, service: str, release: RenderedRelease, charts_url: str) -> BundleRelease:
    # With a digest, the helmbundle process installs only an archive that has it.
    return BundleRelease(name=release.name, chart=release.chart, version=release.version,
                         namespace=release.namespace,
                         values_from=ValuesRef(values_secret_name(osdpl, service), release.name),
                         fingerprint=release.fingerprint, timeout_seconds=release.timeout_seconds,
                         digest=release.digest, repository=charts_url)


def values_secret_data(osdpl: str, service: RenderedService) -> dict[str, str]:
    """Secret stringData: release name -> values as YAML (keys sorted: identical input, identical bytes). Values
    that would not fit in one Secret are an error naming the service, before anything is written."""
    data = {release.name: yaml.safe_dump(dict(release.values), sort_keys=True) for release in service.releases}
    size = sum(len(key) + len(text.encode()) for key, text in data.items())
    if size > MAX_VALUES_BYTES:
        largest = max(data, key=lambda name: len(data[name]))
        raise OperatorError(f"spec.services.{service.name}: the rendered values take {size // 1024} KiB (release "
                            f"{largest} {len(data[largest].encode()) // 1024} KiB), more than the "
                            f"{MAX_VALUES_BYTES // 1024} KiB Secret {values_secret_name(osdpl, service.name)} can "
                            "hold: make the overrides smaller")
    return data


def tempest_run(osdpl: Mapping[str, Any]) -> str:
    """The osdpl's tempest run request (TEMPEST_RUN_ANNOTATION), empty without one."""
    return str((osdpl["metadata"].get("annotations") or {}).get(TEMPEST_RUN_ANNOTATION) or "")


def with_requests(spec: BundleSpec, existing: Bundle | None, osdpl: Mapping[str, Any]) -> BundleSpec:
    """`spec` with what the user asked for since the bundle was written (core.releases.helmwork):
    - `retry`: the osdpl's generation, on a bundle with a failing release only, so any change of the osdpl retries
      failures at once while a bundle that is fine is not rewritten for a change that is not its own;
    - `reapply`: the osdpl's REAPPLY_ANNOTATION, on every bundle. A removed annotation asks for nothing: the bundle
      keeps the last request (removing it from the bundle would apply every release again, and the merge patch
      that writes a bundle's spec cannot remove a key: it would be written again on every reconcile)."""
    failing = existing is not None and any(status.state == "failed" for status in existing.releases.values())
    retry = str(osdpl["metadata"].get("generation")) if failing else existing.spec.retry if existing else ""
    reapply = str((osdpl["metadata"].get("annotations") or {}).get(REAPPLY_ANNOTATION) or "")
    kept = existing.spec.reapply if existing else ""
    return replace(spec, retry=retry or spec.retry, reapply=reapply or kept or spec.reapply)


def namespace_holder(name: str, osdpls: Iterable[Mapping[str, Any]], bundle_owners: Iterable[str],
                     claimed_by: str | None) -> str | None:
    """The osdpl that holds the namespace when it is not `name` (None when `name` may deploy). One deployment per
    namespace: the charts' object names (Services, ConfigMaps, Jobs) are fixed, so two deployments in one namespace
    would overwrite each other. `claimed_by`: the holder the namespace's claim (a Lease) names, if any; it holds the
    namespace while it exists (being deleted included). Without a live claim, the one that should claim it is the
    osdpl that has bundles there (deployed before claims existed), else the oldest (by creation time, then name)
    that is not being deleted. Two osdpls created in the same second may both think they should: the claim is
    written with a create (or a conditional update) that only one of them wins."""
    present = {o["metadata"]["name"] for o in osdpls}
    if claimed_by and claimed_by in present:
        return None if claimed_by == name else claimed_by
    owners = sorted(set(bundle_owners) & present)
    if owners:
        return None if name in owners else owners[0]
    live = sorted((o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]) for o in osdpls
                  if not o["metadata"].get("deletionTimestamp") or o["metadata"]["name"] == name)
    if not live or live[0][1] == name:
        return None
    return str(live[0][1])


def served_osdpl(osdpls: Iterable[Mapping[str, Any]], claimed_by: str | None) -> Mapping[str, Any] | None:
    """The osdpl of a namespace that the node and health processes act for: its holder, never whichever one a
    listing or an index happens to show first. The claim's holder while it exists (being deleted included: its
    releases are uninstalled, so it is let go of). Before the osdpl process claimed the namespace (or after its
    holder went), the osdpl namespace_holder would let deploy there, bundles aside (these processes do not read
    them): the oldest not being deleted. None when there is none (nothing to act for: let the namespace go)."""
    osdpls = list(osdpls)
    claimed = next((o for o in osdpls if claimed_by and o["metadata"]["name"] == claimed_by), None)
    if claimed is not None:
        return claimed
    live = sorted((o for o in osdpls if not o["metadata"].get("deletionTimestamp")),
                  key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]))
    return next((o for o in live if namespace_holder(o["metadata"]["name"], live, [], None) is None), None)


@dataclass(frozen=True)
class BundlePlan:
    write: list[str]      # services whose bundle is missing or differs
    retire: list[str]     # bundles of services no longer enabled: ask for uninstall
    delete: list[str]     # retired bundles whose releases are all uninstalled: remove


def plan_bundles(desired: Mapping[str, BundleSpec], existing: Mapping[str, Bundle]) -> BundlePlan:
    """`desired`: service -> bundle spec; `existing`: service -> bundle (spec and status) as stored."""
    write = [name for name, spec in desired.items() if name not in existing or existing[name].spec != spec]
    retire, delete = [], []
    for name, bundle in existing.items():
        if name in desired:
            continue
        if not bundle.spec.uninstall:
            retire.append(name)
        elif all_uninstalled(bundle):
            delete.append(name)
    return BundlePlan(write=write, retire=sorted(retire), delete=sorted(delete))


def all_uninstalled(bundle: Bundle) -> bool:
    return all(bundle.release_status(r.name).state == "uninstalled" for r in bundle.spec.releases)



def trust_problem(bundle: Bundle, owner: BundleOwner | None, catalog: Catalog,
                  namespace_terminating: bool = False) -> str | None:
    """Why the helmbundle process must not act on `bundle`, or None. The boundary is the bundle's namespace: the
    process acts only on bundles as the osdpl of that namespace writes them (its label, the name
    `<osdpl>-<service>`, the service's own releases, the catalog's chart, version and digest of each, the osdpl's
    own chart repository and values Secret) and installs or uninstalls releases only in that namespace, so whoever
    may write HelmBundles in one namespace cannot reach another, nor install another chart or other values than
    the osdpl asks for. `owner`: the osdpl the bundle's label names, as it exists in the bundle's namespace now
    (None: there is none).

    Release names are the same for every osdpl of a namespace, so an uninstall is allowed only to a bundle of the
    osdpl there now: a bundle whose controller reference names another uid (an earlier osdpl of that name), or
    whose osdpl is gone, never uninstalls (the one exception: a namespace being deleted, where no other osdpl can
    appear). A controller reference is not required: deleting the osdpl with orphan propagation strips it from its
    bundles before they are uninstalled. The chart pins apply to what is installed: an uninstall reads no chart."""
    namespace = bundle.namespace
    releases = bundle.spec.releases
    elsewhere = [f"{r.name} (namespace {r.namespace})" for r in releases if r.namespace != namespace]
    if elsewhere:
        return (f"releases outside the bundle's namespace {namespace}: {', '.join(elsewhere)}; a bundle installs "
                f"only into its own namespace")
    osdpl = bundle.labels.get(OSDPL_LABEL, "")
    service = catalog.services.get(bundle.spec.service)
    if not osdpl or service is None or bundle.name != bundle_name(osdpl, service.name):
        return (f"not a bundle of an osdpl: the helmbundle process acts only on bundles named <osdpl>-<service> with "
                f"label {OSDPL_LABEL}, as the osdpl of namespace {namespace} writes them")
    charts = {release_name(chart.name): chart for chart in service.charts}
    foreign = sorted(r.name for r in releases if r.name not in charts)
    if foreign:
        return f"releases that are not of service {service.name}: {', '.join(foreign)}"
    removing = bundle.deleting or bundle.spec.uninstall
    problem = _owner_problem(bundle, osdpl, owner, removing, namespace_terminating)
    if problem is not None or removing or owner is None:
        return problem
    return _pin_problem(bundle, owner, charts)


KEPT = "; its releases are left as they are (they may be another osdpl's: release names are the same for every one)"


def _owner_problem(bundle: Bundle, osdpl: str, owner: BundleOwner | None, removing: bool,
                   namespace_terminating: bool) -> str | None:
    """Whether the bundle is of the osdpl `osdpl` now in its namespace (see trust_problem)."""
    namespace = bundle.namespace
    if owner is None:
        if not removing:
            return f"osdpl {osdpl} does not exist in namespace {namespace}"
        # Nothing can be created in a namespace being deleted: its releases are nobody else's.
        return None if namespace_terminating else \
            f"osdpl {osdpl} does not exist in namespace {namespace}: a bundle of a gone osdpl never uninstalls{KEPT}"
    if owner.claimed_by and owner.claimed_by != osdpl:
        # A blocked osdpl is never written bundles: one naming it (even with its uid) is forged, and would act on
        # the holder's releases.
        return (f"namespace {namespace} is held by osdpl {_short(owner.claimed_by)}, not osdpl {osdpl}: only the "
                f"holder's bundles are acted on{KEPT if removing else ''}")
    ref = next((ref for ref in bundle.owner_references if ref.controller), None)
    if ref is None:
        return None
    if ref.kind != "OpenStackDeployment" or ref.api_version.split("/")[0] != GROUP:
        return (f"its controller reference names another object than osdpl {osdpl} of namespace {namespace}"
                f"{KEPT if removing else ''}")
    if ref.uid != owner.uid:
        return (f"its controller reference names another object than osdpl {osdpl} of namespace {namespace}: "
                f"osdpl {_short(ref.name)} uid {_short(ref.uid)}, not the uid {owner.uid} of osdpl {osdpl} now "
                f"(a bundle of an earlier osdpl){KEPT if removing else ''}")
    return None


def _pin_problem(bundle: Bundle, owner: BundleOwner, charts: Mapping[str, Chart]) -> str | None:
    """What differs from the catalog's chart, version and digest of each release, from the osdpl's chart repository
    (spec.artifacts.charts_url, not named: a URL may hold credentials) and from the values Secret the osdpl
    writes; None if nothing does."""
    secret = values_secret_name(owner.name, bundle.spec.service)
    differences: list[str] = []
    for release in bundle.spec.releases:
        chart = charts[release.name]
        for field, got, wanted in (("chart", release.chart, chart.name), ("version", release.version, chart.version),
                                   ("digest", release.digest, chart.digest)):
            if got != wanted:
                differences.append(f"release {release.name}: {field} {_short(got) or '(unset)'} is not the "
                                   f"catalog's {wanted}")
        if release.repository != owner.charts_url:
            differences.append(f"release {release.name}: repository is not spec.artifacts.charts_url of osdpl "
                               f"{owner.name}" + ("" if owner.charts_url else " (unset: no repository)"))
        ref = release.values_from
        if (ref.secret_name, ref.key) != (secret, release.name):
            differences.append(f"release {release.name}: values_from Secret {_short(ref.secret_name)} key "
                               f"{_short(ref.key)} is not Secret {secret} key {release.name}, which osdpl "
                               f"{owner.name} writes")
    if not differences:
        return None
    return f"not as osdpl {owner.name} writes it: {'; '.join(differences)}"


def _short(text: str, limit: int = 80) -> str:
    """A field of a bundle in a message: whoever wrote the bundle chose it, so its length is bounded."""
    return text if len(text) <= limit else text[:limit] + "..."
