"""Every layer beats the one before it, on a probe chart whose template and data set known keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.credentials import Credential
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.rendering.renderer import Renderer

# (layer name, keys it sets). Each key is set by two consecutive layers, so the expected winner of every key
# is the later layer of its pair; `all` is set by every layer but the node one.
LAYERS = ["template", "preset", "size", "features", "common", "services"]


def _keys(layer: str) -> dict[str, str]:
    index = LAYERS.index(layer)
    keys = {"all": layer}
    if index > 0:
        keys[f"pair{index}"] = layer  # shared with the layer before
    if index < len(LAYERS) - 1:
        keys[f"pair{index + 1}"] = layer  # shared with the layer after
    return keys


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))


@pytest.fixture
def probe_catalog(tmp_path: Path) -> Catalog:
    _write(tmp_path / "catalog.yaml", {
        "chart_set": {"version": "1.0.0", "repository": "https://charts.example.com"},
        "services": {"svc": {"charts": {"probe": {"group": "openstack", "digest": "sha256:" + "0" * 64,
                                                  "daemonsets": {"probe_agent": "root", "probe_conf": "conf"}, "credentials": ["probe_db"]}}}},
        "credentials": {"probe_db": {"kind": "database", "username": "probe"}},
        "releases": ["r1"], "presets": ["p"], "sizes": ["s"], "upgrade_order": ["svc"],
    })
    _write(tmp_path / "releases/r1.yaml", {"series": "1", "images": {"probe": {"probe": "quay.io/airshipit/probe:1"}}})
    _write(tmp_path / "presets/p.yaml", {"services": ["svc"], "values": {"probe": {"layer": _keys("preset")}}})
    _write(tmp_path / "sizes/s.yaml", {"helm_timeout_seconds": 60, "values": {"probe": {"layer": _keys("size")}}})
    template = (
        "base:\n  password: {{ cred('probe_db').password | tojson }}\n"
        f"  layer: {_keys('template')}\n"
        f"features:\n  layer: {_keys('features')}\n"
    )
    _write(tmp_path / "services/probe.yaml.j2", template)
    return Catalog.load(tmp_path)


def _render(catalog: Catalog, spec_extra: dict[str, Any]) -> dict[str, Any]:
    doc = {
        "apiVersion": "openstack.osop.dev/v1alpha1", "kind": "OpenStackDeployment",
        "metadata": {"name": "probe", "namespace": "ns"},
        "spec": {"openstack_version": "r1", "preset": "p", "size": "s", "public_domain_name": "example.com",
                 **spec_extra},
    }
    osdpl = load_osdpl(catalog, doc)
    services = Renderer(catalog).render(osdpl.spec, {"probe_db": Credential("probe", "s3cret")}, osdpl.namespace)
    return dict(services[0].releases[0].values)


def test_every_layer_beats_the_one_before(probe_catalog: Catalog) -> None:
    values = _render(probe_catalog, {
        "common": {"openstack": {"values": {"layer": _keys("common")}}},
        "services": {"svc": {"probe": {"values": {"layer": _keys("services")}}}},
    })
    expected = {"all": "services", **{f"pair{i}": LAYERS[i] for i in range(1, len(LAYERS))}}
    assert values["layer"] == expected
    assert values["images"] == {"tags": {"probe": "quay.io/airshipit/probe:1"}}  # layer 0: the release's images
    assert values["password"] == "s3cret"


def test_common_block_of_the_other_group_does_not_apply(probe_catalog: Catalog) -> None:
    values = _render(probe_catalog, {"common": {"infra": {"values": {"layer": {"all": "infra"}}}}})
    assert values["layer"]["all"] == "features"


def test_nodes_layer_beats_services(probe_catalog: Catalog) -> None:
    services_overrides = {"overrides": {"probe_agent": {"labels": {"zone::a": {"values": {"from": "services",
                                                                                          "kept": True}}}}}}
    values = _render(probe_catalog, {
        "services": {"svc": {"probe": {"values": services_overrides}}},
        "nodes": {
            "zone::b": {"services": {"svc": {"probe": {"probe_agent": {"values": {"from": "nodes-b"}}}}}},
            "zone::a": {"services": {"svc": {"probe": {"probe_agent": {"values": {"from": "nodes-a"}}}}}},
        },
    })
    assert values["overrides"] == {"probe_agent": {"labels": {
        "zone::a": {"values": {"from": "nodes-a", "kept": True}},
        "zone::b": {"values": {"from": "nodes-b"}},
    }}}


def test_nodes_of_a_conf_shaped_daemonset_become_conf_overrides(probe_catalog: Catalog) -> None:
    values = _render(probe_catalog, {"nodes": {
        "zone::b": {"services": {"svc": {"probe": {"probe_conf": {"values": {"conf": {"opt": "b"}}}}}}},
        "zone::a": {"services": {"svc": {"probe": {"probe_conf": {"values": {"conf": {"opt": "a"}}}}}}},
    }})
    assert "overrides" not in values
    assert values["conf"]["overrides"] == {"probe_conf": {"labels": [
        {"label": {"key": "zone", "values": ["a"]}, "conf": {"opt": "a"}},
        {"label": {"key": "zone", "values": ["b"]}, "conf": {"opt": "b"}},
    ]}}


def test_an_image_of_the_release_can_be_replaced_per_chart(probe_catalog: Catalog) -> None:
    values = _render(probe_catalog, {"services": {"svc": {"probe": {"values": {"images": {"tags": {
        "probe": "hotfix.example.com/probe:1.1"}}}}}}})
    assert values["images"] == {"tags": {"probe": "hotfix.example.com/probe:1.1"}}
