from __future__ import annotations

from typing import Any

import pytest

from openstack_operator.core.errors import MergeConflict
from openstack_operator.core.rendering.merge import Layer, merge_layers


@pytest.mark.parametrize(
    ("base", "override", "expected"),
    [
        pytest.param({"a": {"b": 1, "c": 2}}, {"a": {"c": 3, "d": 4}}, {"a": {"b": 1, "c": 3, "d": 4}},
                     id="mappings-merge-deeply"),
        pytest.param({"a": [1, 2]}, {"a": [3]}, {"a": [3]}, id="lists-replace"),
        pytest.param({"a": "x"}, {"a": 5}, {"a": 5}, id="scalar-replaces-scalar-of-other-type"),
        pytest.param({"a": {"b": 1}}, {"a": None}, {"a": None}, id="null-replaces-mapping"),
        pytest.param({"a": None}, {"a": {"b": 1}}, {"a": {"b": 1}}, id="mapping-replaces-null"),
        pytest.param({"a": 1}, {}, {"a": 1}, id="empty-layer-keeps"),
        pytest.param({}, {"a": {"b": [1]}}, {"a": {"b": [1]}}, id="new-keys-added"),
    ],
)
def test_merge_rules(base: dict[str, Any], override: dict[str, Any], expected: dict[str, Any]) -> None:
    assert merge_layers([Layer("one", base), Layer("two", override)]) == expected


@pytest.mark.parametrize(
    ("base", "override", "message"),
    [
        ({"conf": {"nova": {"DEFAULT": {"x": 1}}}}, {"conf": {"nova": {"DEFAULT": "oops"}}},
         "spec.services.compute.nova.values.conf.nova.DEFAULT: cannot merge a string over a mapping"),
        ({"conf": {"list": [1]}}, {"conf": {"list": {"k": 1}}},
         "spec.services.compute.nova.values.conf.list: cannot merge a mapping over a list"),
        ({"conf": {"x": 1}}, {"conf": {"x": [1]}},
         "spec.services.compute.nova.values.conf.x: cannot merge a list over an integer"),
    ],
)
def test_type_conflict_names_the_path(base: dict[str, Any], override: dict[str, Any], message: str) -> None:
    with pytest.raises(MergeConflict) as error:
        merge_layers([Layer("template", base), Layer("spec.services.compute.nova.values", override)])
    assert str(error.value) == message


def test_inputs_are_never_modified() -> None:
    base = {"a": {"b": [1]}}
    override = {"a": {"c": {"d": 1}}}
    result = merge_layers([Layer("x", base), Layer("y", override)])
    result["a"]["c"]["d"] = 2
    result["a"]["b"].append(2)
    assert base == {"a": {"b": [1]}}
    assert override == {"a": {"c": {"d": 1}}}
