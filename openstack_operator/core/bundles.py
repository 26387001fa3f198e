"""From rendered services to HelmBundle objects, and what to change among the existing ones.

One bundle per enabled service, named `<osdpl>-<service>`. Values are not in the bundle (they hold credentials):
each release's values are a key of the Secret `<osdpl>-<service>-values`. Each release names its chart, version
and the digest of the chart archive, and the chart repository when the deployment sets spec.artifacts.charts_url.
A bundle is rewritten only when its spec would change, which happens exactly when a release's fingerprint, the
service's dependencies or the deployment's chart repository change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import yaml

from openstack_operator.core.render import RenderedRelease, RenderedService

OSDPL_LABEL = "openstack.osop.dev/osdpl"
SERVICE_LABEL = "openstack.osop.dev/service"


def bundle_name(osdpl: str, service: str) -> str:
    return f"{osdpl}-{service}"


def values_secret_name(osdpl: str, service: str) -> str:
    return f"{osdpl}-{service}-values"


def bundle_spec(osdpl: str, service: RenderedService, charts_url: str) -> dict[str, Any]:
    """`charts_url`: spec.artifacts.charts_url; empty leaves each release's `repository` unset, so the helmbundle
    process uses the chart source it is configured with. The result depends on its arguments only: the same
    rendering gives the same spec, and an unchanged bundle is never rewritten."""
    return {
        "service": service.name,
        "depends_on": list(service.depends_on),
        "uninstall": False,
        "releases": [_release_spec(osdpl, service.name, release, charts_url) for release in service.releases],
    }


def _release_spec(osdpl: str, service: str, release: RenderedRelease, charts_url: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": release.name,
        "chart": release.chart,
        "version": release.version,
        "namespace": release.namespace,
        "values_from": {"secret_name": values_secret_name(osdpl, service), "key": release.name},
        "fingerprint": release.fingerprint,
        "timeout_seconds": release.timeout_seconds,
    }
    if release.digest:  # the helmbundle process installs only an archive with this digest
        spec["digest"] = release.digest
    if charts_url:
        spec["repository"] = charts_url
    return spec


def values_secret_data(service: RenderedService) -> dict[str, str]:
    """Secret stringData: release name -> values as YAML (keys sorted: identical input, identical bytes)."""
    return {release.name: yaml.safe_dump(dict(release.values), sort_keys=True) for release in service.releases}


@dataclass(frozen=True)
class BundlePlan:
    write: list[str]      # services whose bundle is missing or differs
    retire: list[str]     # bundles of services no longer enabled: ask for uninstall
    delete: list[str]     # retired bundles whose releases are all uninstalled: remove


def plan_bundles(desired: Mapping[str, Mapping[str, Any]], existing: Mapping[str, Mapping[str, Any]]) -> BundlePlan:
    """`desired`: service -> bundle spec; `existing`: service -> bundle object (spec and status) as stored."""
    write = [name for name, spec in desired.items() if existing.get(name, {}).get("spec") != spec]
    retire, delete = [], []
    for name, bundle in existing.items():
        if name in desired:
            continue
        if not bundle.get("spec", {}).get("uninstall"):
            retire.append(name)
        elif all_uninstalled(bundle):
            delete.append(name)
    return BundlePlan(write=write, retire=sorted(retire), delete=sorted(delete))


def all_uninstalled(bundle: Mapping[str, Any]) -> bool:
    states = (bundle.get("status") or {}).get("releases") or {}
    return all(states.get(r["name"], {}).get("state") == "uninstalled" for r in bundle["spec"]["releases"])
