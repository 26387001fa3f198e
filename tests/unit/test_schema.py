"""Schema and CEL rules, offline: the same rules the API server enforces (tests/integration checks those)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.crd import osdpl_schema
from openstack_operator.core.manifest import osdpl_problems
from openstack_operator.core.schema import apply_defaults

from ..osdpl_cases import INVALID, UPDATES, Edit, load_example, update_pair


@pytest.mark.parametrize(("edit", "message"), [pytest.param(e, m, id=i) for i, e, m in INVALID])
def test_invalid_manifests_are_rejected_with_the_field_path(catalog: Catalog, edit: Edit, message: str) -> None:
    doc = load_example("minimal")
    edit(doc)
    assert [str(p) for p in osdpl_problems(catalog, doc)] == [message]


@pytest.mark.parametrize("example", ["minimal", "full"])
def test_examples_are_valid(catalog: Catalog, example: str) -> None:
    assert osdpl_problems(catalog, load_example(example)) == []


@pytest.mark.parametrize(("old_changes", "new_changes", "messages"),
                         [pytest.param(o, n, m, id=i) for i, o, n, m in UPDATES])
def test_transition_rules(catalog: Catalog, old_changes: dict[str, Any], new_changes: dict[str, Any],
                          messages: list[str]) -> None:
    old, new = update_pair(old_changes, new_changes)
    assert [str(p) for p in osdpl_problems(catalog, new, old)] == messages


def test_defaults_fill_every_feature_block(catalog: Catalog) -> None:
    spec = apply_defaults(osdpl_schema(catalog)["properties"]["spec"], load_example("minimal")["spec"])
    assert spec["draft"] is False
    assert spec["region_name"] == "RegionOne"
    assert spec["features"]["nova"]["allocation_ratios"] == {"cpu": 8.0, "ram": 1.0, "disk": 1.6}
    assert spec["features"]["ssl"]["public_endpoints"] == {"enabled": False}
    assert spec["features"]["database"]["backup"]["enabled"] is False


def test_defaults_do_not_override_given_values(catalog: Catalog) -> None:
    doc = load_example("full")
    spec = apply_defaults(osdpl_schema(catalog)["properties"]["spec"], copy.deepcopy(doc["spec"]))
    assert spec["features"]["nova"]["allocation_ratios"]["cpu"] == 4.0
    assert spec["artifacts"]["images_base_url"] == "registry.example.com/openstack"
