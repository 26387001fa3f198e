"""Conformance tier: the operator's rendered values against the real OpenStack-Helm charts.

Renders each manifest of MANIFESTS with the operator, then every release with its real chart (`helm template`),
once per session and in parallel. Run: `$(tools/venv.sh)/bin/python -m pytest tests/conformance -q`. Needs the
chart set at ../shared/openstack-helm/charts (skipped without it) and helm ($OSOP_HELM, else the pinned build).
"""

from __future__ import annotations

import base64
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.binaries import helm_binary
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.ceph import CephExchange, parse_ceph_keys
from openstack_operator.core.secrets.credentials import AMPHORA_PKI, Credential, generated, required_credentials
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.schema.manifest import Osdpl, load_osdpl
from openstack_operator.core.rendering.load_balancer import ControlPlane
from openstack_operator.core.rendering.renderer import RenderedRelease, Renderer

from ..osdpl_cases import EXAMPLES
from . import lib

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO.parent / "shared" / "openstack-helm" / "charts"
HERE = Path(__file__).parent
MANIFESTS = {"minimal": EXAMPLES / "minimal.yaml", "full": EXAMPLES / "full.yaml",
             "all-features": HERE / "all-features.yaml", "ceph": HERE / "ceph.yaml", "ovn": HERE / "ovn.yaml"}
WORKERS = min(4, max(2, os.cpu_count() or 2))


@dataclass
class Rendered:
    """One release as the chart renders it; `problem` instead when it cannot be rendered."""

    release: RenderedRelease
    chart_tgz: Path
    manifests: list[lib.Manifest] = field(default_factory=list)
    workload_keys: dict[str, str] = field(default_factory=dict)  # from the replicas probe
    problem: str | None = None

    def __repr__(self) -> str:  # short in test reports; values and Secrets hold the test passwords
        return f"Rendered({self.release.name})"


@dataclass
class Deployment:
    osdpl: Osdpl
    doc: dict[str, Any]
    credentials: dict[str, Credential]
    releases: dict[str, Rendered]  # by release name
    ceph: CephExchange  # given to the renderer; read only with features.ceph

    def __repr__(self) -> str:
        return f"Deployment({self.osdpl.name})"

    def ok(self) -> list[Rendered]:
        return [r for r in self.releases.values() if r.problem is None]

    def all_manifests(self) -> list[lib.Manifest]:
        return [m for r in self.ok() for m in r.manifests]


@pytest.fixture(scope="session")
def charts() -> Path:
    if not CHARTS.is_dir():
        pytest.skip(f"the OpenStack-Helm charts are not at {CHARTS} (a cached fetch is to come)")
    return CHARTS


@pytest.fixture(scope="session")
def helm() -> Path:
    return Path(os.environ["OSOP_HELM"]) if os.environ.get("OSOP_HELM") else helm_binary()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load()


def conformance_credentials(catalog: Catalog, names: list[str]) -> dict[str, Credential]:
    """Distinct passwords, so each one can be found in the manifests (never placeholders shared between names);
    a certificate record as the secrets process generates it."""
    return {name: generated(catalog, name) if catalog.credentials[name].kind == AMPHORA_PKI else
            Credential(catalog.credentials[name].username, f"pw-{name}-{secrets.token_hex(6)}") for name in names}


def conformance_exchange() -> CephExchange:
    """A Ceph exchange as Pelagia publishes it, with distinct keys, so each one can be found in the manifests."""
    def key() -> str:
        return base64.b64encode(secrets.token_bytes(16)).decode()

    return parse_ceph_keys({
        "client.admin": key(),
        "mon_endpoints": "10.10.0.1:6789,10.10.0.2:6789,10.10.0.3:6789",
        "glance": f"client.glance;{key()}\n;images-hdd:images:hdd",
        "cinder": f"client.cinder;{key()}\n;volumes-hdd:volumes:hdd;images-hdd:images:hdd;backup-hdd:backup:hdd",
        "nova": f"client.nova;{key()}\n;vms-hdd:vms:hdd;volumes-hdd:volumes:hdd;images-hdd:images:hdd",
        "manila": f"client.manila;{key()}\n",
        "rgw_internal": "https://rook-ceph-rgw-openstack-store.rook-ceph.svc:8443",
        "rgw_external": "https://openstack-store.ceph.example.org",
    }, "openstack-ceph-shared/openstack-ceph-keys")


def render_release(helm: Path, rendered: Rendered) -> None:
    """`helm template` of the release's values, and of the replicas probe (see lib.replica_probe_values)."""
    release = rendered.release
    try:
        rendered.manifests = lib.helm_template(helm, release.name, rendered.chart_tgz, release.namespace,
                                               release.values)
        probe, sentinels = lib.replica_probe_values(release.values, lib.chart_facts(rendered.chart_tgz).defaults)
        rendered.workload_keys = lib.replica_keys(
            lib.helm_template(helm, release.name, rendered.chart_tgz, release.namespace, probe), sentinels)
    except lib.HelmError as exc:
        rendered.problem = str(exc)


# What octavia's bootstrap reports on a cloud (core.releases.summaries), for all-features.yaml: its worker and health
# manager meet the real chart too. The examples render before any report.
BOOTSTRAP_REPORT = ControlPlane(
    report={"result": "Ready", "job": "octavia-bootstrap",
            "network_id": "5b0c6a4e-3f1d-4f4e-9a57-0d1b5f3e2a10",
            "amphora_secgroup_id": "0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b",
            "flavor_id": "2f4e6d8c-0b1a-4c3d-9e8f-7a6b5c4d3e2f",
            "health_managers": [{"host": "net-1", "address": "10.255.0.11"},
                                {"host": "net-2", "address": "10.255.0.12"}]},
    hosts=("net-1", "net-2"))


def render_deployment(catalog: Catalog, doc: dict[str, Any], charts: Path,
                      load_balancer: ControlPlane | None = None) -> Deployment:
    """The operator's rendering of `doc` (no helm yet): releases whose chart archive is missing carry a problem."""
    osdpl = load_osdpl(catalog, doc)
    enabled = osdpl.spec.enabled_services(catalog)
    credentials = conformance_credentials(catalog, required_credentials(catalog, enabled))
    ceph = conformance_exchange()
    releases = {}
    for service in Renderer(catalog).render(osdpl.spec, credentials, osdpl.namespace, ceph=ceph,
                                            load_balancer=load_balancer):
        for release in service.releases:
            tgz = charts / f"{release.chart}-{release.version}.tgz"
            releases[release.name] = Rendered(release, tgz, problem=None if tgz.is_file() else
                                              f"no chart archive {tgz.name} in {charts}")
    return Deployment(osdpl, doc, credentials, releases, ceph)


class Deployments(dict[str, "Deployment | str"]):
    """Manifest name -> its Deployment, or why the operator could not render it (that manifest's tests fail,
    the others run)."""

    def get_ok(self, name: str) -> Deployment:
        found = self[name]
        if isinstance(found, str):
            pytest.fail(f"{name}: the operator cannot render it: {found}")
        return found


@pytest.fixture(scope="session")
def deployments(charts: Path, helm: Path, catalog: Catalog) -> Deployments:
    """Every manifest of MANIFESTS, rendered and templated: all releases of all manifests share one pool."""
    result = Deployments()
    for name, path in MANIFESTS.items():
        try:
            result[name] = render_deployment(catalog, yaml.safe_load(path.read_text()), charts,
                                             BOOTSTRAP_REPORT if name == "all-features" else None)
        except OperatorError as exc:
            result[name] = str(exc)
    jobs = [r for d in result.values() if isinstance(d, Deployment) for r in d.releases.values()
            if r.problem is None]
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda r: render_release(helm, r), jobs))
    return result


@pytest.fixture(params=list(MANIFESTS))
def deployment(request: pytest.FixtureRequest, deployments: Deployments) -> Deployment:
    return deployments.get_ok(request.param)
