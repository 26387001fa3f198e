from __future__ import annotations

from pathlib import Path
import shutil

import pytest
import yaml

from openstack_operator.core.catalog import DEFAULT_TEMPLATES_DIR, Catalog
from openstack_operator.core.errors import CatalogError


def test_dependency_order_puts_dependencies_first(catalog: Catalog) -> None:
    order = catalog.dependency_order(set(catalog.services))
    for name in order:
        for dep in catalog.services[name].depends_on:
            assert order.index(dep) < order.index(name)


def test_dependency_order_ignores_disabled_dependencies(catalog: Catalog) -> None:
    assert catalog.dependency_order({"identity", "image"}) == ["identity", "image"]


def test_every_release_has_every_image_the_templates_use(catalog: Catalog) -> None:
    names = {frozenset(release.images) for release in catalog.releases.values()}
    assert len(names) == 1, "releases disagree on the set of images"


def test_broken_catalog_fails_loudly(tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_TEMPLATES_DIR, tmp_path / "t")
    path = tmp_path / "t" / "catalog.yaml"
    data = yaml.safe_load(path.read_text())
    data["services"]["image"]["depends_on"] = ["identity", "telemetry"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CatalogError, match="service image: unknown dependency telemetry"):
        Catalog.load(tmp_path / "t")


def test_dependency_cycle_is_an_error(tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_TEMPLATES_DIR, tmp_path / "t")
    path = tmp_path / "t" / "catalog.yaml"
    data = yaml.safe_load(path.read_text())
    data["services"]["database"]["depends_on"] = ["image"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CatalogError, match="dependency cycle"):
        Catalog.load(tmp_path / "t").dependency_order({"database", "identity", "image"})


def test_a_condition_on_a_daemonset_the_chart_does_not_list_fails_loudly(tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_TEMPLATES_DIR, tmp_path / "t")
    path = tmp_path / "t" / "catalog.yaml"
    data = yaml.safe_load(path.read_text())
    data["services"]["networking"]["charts"]["neutron"]["daemonsets_only_with"]["neutron_ovn-agent"] = {
        "neutron.backend": "ml2/ovn"}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CatalogError, match="chart neutron: daemonsets_only_with: unknown daemonset neutron_ovn-agent"):
        Catalog.load(tmp_path / "t")


def test_a_chart_with_a_condition_is_installed_only_when_the_features_hold(catalog: Catalog) -> None:
    networking = catalog.services["networking"]
    names = [c.name for c in networking.charts_for({"neutron": {"backend": "ml2/ovn"}})]
    assert names == ["openvswitch", "ovn", "neutron"]
    assert [c.name for c in networking.charts_for({"neutron": {"backend": "ml2"}})] == ["openvswitch", "neutron"]
