"""Every image a deployment of each shipped release runs is that release's own or pinned by the catalog: no `latest`
(except the repositories catalog.yaml lists as published with a floating tag only), no tag of another OpenStack
series or release name (a `2026.1` or `stein` image in an epoxy deployment), every image key of every chart set.
Checked on what the renderer writes and on what `openstack-operator images` lists, for every release.
"""

from __future__ import annotations

import functools
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from openstack_operator.cli import main
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.rendering.renderer import Renderer
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.secrets.credentials import placeholder_credentials, required_credentials
from openstack_operator.core.secrets.ceph import placeholder_exchange

from ..osdpl_cases import with_every_service
from .conftest import REPO, load_example

CHARTS = REPO.parent / "shared" / "openstack-helm" / "charts"
# Every OpenStack release name: a tag naming one (stein-18.04-sriov) belongs to that release.
CODENAMES = ("austin bexar cactus diablo essex folsom grizzly havana icehouse juno kilo liberty mitaka newton ocata "
             "pike queens rocky stein train ussuri victoria wallaby xena yoga zed antelope bobcat caracal dalmatian "
             "epoxy flamingo gazpacho").split()
SERIES = re.compile(r"(?<![0-9])(20[0-9]{2}\.[0-9])(?![0-9])")


def _catalog_yaml(catalog: Catalog) -> dict[str, Any]:
    return _read_yaml(catalog.templates_dir / "catalog.yaml")


@functools.lru_cache(maxsize=None)
def _read_yaml(path: Path) -> dict[str, Any]:
    """Read once per run: the checks below ask for it once per image."""
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def image_problems(catalog: Catalog, release: str, reference: str) -> list[str]:
    """What is wrong with one image of a deployment at `release`: empty when it is the release's own or pinned."""
    series = catalog.releases[release].series
    unpinned = set(_catalog_yaml(catalog).get("image_unpinned") or ())
    repository, _, tag = reference.rpartition(":")
    problems = []
    if not repository or "/" in tag:
        problems.append("no tag")
    elif "latest" in tag and repository not in unpinned:
        problems.append("a `latest` tag")
    problems += [f"series {other}" for other in SERIES.findall(tag) if other != series]
    problems += [f"release name {name}" for name in CODENAMES if name != release and name in tag.lower()]
    return problems


def pin_problems(catalog: Catalog, release: str, chart: str, key: str, reference: str) -> list[str]:
    """An image the catalog pins (its <chart>.<key>, else its repository) must be the pin (docker:17.07.0 is a
    tag, but not the catalog's)."""
    pins = _catalog_yaml(catalog).get("image_pins") or {}
    pin = pins.get(f"{chart}.{key}", pins.get(reference.rpartition(":")[0]))
    if isinstance(pin, dict):
        pin = pin.get(release)
    expected = pin.format(series=catalog.releases[release].series) if pin else reference
    return [] if reference == expected else [f"not the catalog's pin {expected}"]


# Every service means a mirror: metric's image is the project's own (docs/images.md).
MIRROR = "registry.example.com/mirror"


def _mirrored(reference: str) -> str:
    return f"{MIRROR}/{reference.rsplit('/', 1)[-1]}"


def _full_deployment(release: str, catalog: Catalog) -> dict[str, Any]:
    doc = with_every_service(catalog, load_example("full"))
    doc["spec"]["openstack_version"] = release
    doc["spec"]["artifacts"] = {"images_base_url": MIRROR}
    doc["spec"]["features"]["neutron"]["backend"] = "ml2/ovn"  # the ovn chart too
    return doc


def test_the_checker_catches_what_the_issue_saw(catalog: Catalog) -> None:
    """The rule itself: the images an epoxy deployment ran before the catalog pinned them are all refused."""
    seen = ["quay.io/airshipit/neutron:2026.1-ubuntu_noble", "quay.io/airshipit/openstack-client:2026.1-ubuntu_noble",
            "quay.io/airshipit/neutron:stein-18.04-sriov", "docker.io/bitnami/kubectl:latest",
            "quay.io/airshipit/kubernetes-entrypoint:latest-ubuntu_noble", "quay.io/airshipit/mariadb"]
    assert all(image_problems(catalog, "epoxy", ref) for ref in seen)
    assert not image_problems(catalog, "epoxy", "quay.io/airshipit/neutron:2025.1-ubuntu_noble")
    assert image_problems(catalog, "gazpacho", "quay.io/airshipit/neutron:2025.1-ubuntu_noble") == ["series 2025.1"]
    assert pin_problems(catalog, "epoxy", "nova", "image_repo_sync", "docker.io/docker:17.07.0")


@pytest.mark.parametrize("release", ["epoxy", "flamingo", "gazpacho"])
def test_every_image_of_a_release_is_its_own_or_pinned(catalog: Catalog, release: str) -> None:
    assert release in catalog.releases
    problems = [f"{chart}.{key}: {ref}: {', '.join(p)}"
                for chart, images in catalog.releases[release].images.items()
                for key, ref in sorted(images.items())
                if (p := image_problems(catalog, release, ref) + pin_problems(catalog, release, chart, key, ref))]
    assert not problems, "\n".join(problems)


def test_every_shipped_release_is_checked(catalog: Catalog) -> None:
    assert list(catalog.releases) == ["epoxy", "flamingo", "gazpacho"], "add the new release to the tests above"


@pytest.mark.parametrize("release", ["epoxy", "flamingo", "gazpacho"])
def test_a_deployment_renders_every_image_key_of_its_release(catalog: Catalog, renderer: Renderer,
                                                             release: str) -> None:
    """What the renderer writes for a deployment of every service: each chart's images.tags is exactly the
    release's, no key left to the chart's default and no layer (preset, size, values) putting another image back."""
    osdpl = load_osdpl(catalog, _full_deployment(release, catalog))
    enabled = osdpl.spec.enabled_services(catalog)
    credentials = placeholder_credentials(catalog, required_credentials(catalog, enabled))
    rendered = {r.chart: dict(r.values) for s in renderer.render(osdpl.spec, credentials, osdpl.namespace,
                                                                             ceph=placeholder_exchange())
                for r in s.releases}
    assert set(rendered) == set(catalog.charts)
    for chart, values in rendered.items():
        assert values["images"]["tags"] == {key: _mirrored(ref) for key, ref in
                                            catalog.releases[release].images[chart].items()}, chart


@pytest.mark.skipif(not CHARTS.is_dir(), reason="no OpenStack-Helm chart set at ../shared/openstack-helm")
@pytest.mark.parametrize("release", ["epoxy", "flamingo", "gazpacho"])
def test_every_image_key_of_every_chart_is_overridden(catalog: Catalog, release: str) -> None:
    """The chart's listed keys, and those it reads unlisted (catalog image_keys_unlisted) with its alias's image."""
    unlisted = _catalog_yaml(catalog).get("image_keys_unlisted") or {}
    for chart in catalog.charts.values():
        with tarfile.open(CHARTS / f"{chart.name}-{chart.version}.tgz") as tar:
            member = tar.extractfile(f"{chart.name}/values.yaml")
            assert member is not None
            keys = set(yaml.safe_load(member)["images"]["tags"])
        extra = {key.split(".", 1)[1]: alias for key, alias in unlisted.items() if key.startswith(f"{chart.name}.")}
        images = catalog.releases[release].images[chart.name]
        assert set(images) == keys | set(extra), chart.name
        assert all(images[key] == images[alias] for key, alias in extra.items()), chart.name


@pytest.mark.parametrize("release", ["epoxy", "flamingo", "gazpacho"])
def test_the_images_command_lists_only_the_release_own_or_pinned(catalog: Catalog, release: str, tmp_path: Any,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "osdpl.yaml"
    manifest.write_text(yaml.safe_dump(_full_deployment(release, catalog)))
    assert main(["images", "-f", str(manifest)]) == 0
    listed = dict(line.split(" ") for line in capsys.readouterr().out.splitlines())
    every = {ref for images in catalog.releases[release].images.values() for ref in images.values()}
    assert set(listed) == every
    assert all(mirror == _mirrored(ref) for ref, mirror in listed.items())
    assert not {ref: p for ref in listed if (p := image_problems(catalog, release, ref))}


def test_pins_and_unpinned_repositories_are_all_in_use(catalog: Catalog) -> None:
    """A pin or an exception nothing uses any more is stale: the catalog says only what is true."""
    data = _catalog_yaml(catalog)
    repositories = set()
    for release in catalog.releases.values():
        used = {ref for images in release.images.values() for ref in images.values()}
        repositories |= {ref.rpartition(":")[0] for ref in used}
        for key, pin in (data.get("image_pins") or {}).items():
            ref = pin[release.name] if isinstance(pin, dict) else pin
            assert ref.format(series=release.series) in used, f"{release.name}: pin {key}"
    for repository in data.get("image_unpinned") or ():
        assert repository in repositories, repository
