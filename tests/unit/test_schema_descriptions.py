"""`kubectl explain` documents every typed field: each property of the three CRDs' schemas (leaf or parent, in
objects, list items and map values) has a description. Free-form chart values (x-kubernetes-preserve-unknown-fields)
are described as a whole; what lies under them is the chart's. The root's `metadata` is the one exception: the API
server refuses a description there and publishes ObjectMeta's own (its fields, e.g. metadata.name, are walked).
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest
import yaml

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.schema.crds import helmbundle_crd, maintenance_crd, osdpl_crd

from .conftest import REPO


def undescribed(schema: dict[str, Any], path: str, root: bool = True) -> Iterator[str]:
    """The path of every property without a description, depth first."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    for name, sub in (schema.get("properties") or {}).items():
        if not str(sub.get("description", "")).strip() and not (root and name == "metadata"):
            yield f"{path}.{name}"
        yield from undescribed(sub, f"{path}.{name}", False)
    if isinstance(schema.get("items"), dict):
        yield from undescribed(schema["items"], f"{path}[]", False)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from undescribed(schema["additionalProperties"], f"{path}.<key>", False)


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _crds(catalog: Catalog) -> dict[str, dict[str, Any]]:
    return {crd["spec"]["names"]["kind"]: crd for crd in (osdpl_crd(catalog), helmbundle_crd(), maintenance_crd())}


@pytest.mark.parametrize("kind", ["OpenStackDeployment", "HelmBundle", "NodeMaintenanceRequest"])
def test_every_field_of_the_crd_has_a_description(catalog: Catalog, kind: str) -> None:
    schema = _schema(_crds(catalog)[kind])
    assert str(schema.get("description", "")).strip(), f"{kind}: the resource itself"
    missing = list(undescribed(schema, kind))
    assert not missing, f"{len(missing)} fields without a description:\n" + "\n".join(missing)


def test_the_committed_crds_are_described_too(catalog: Catalog) -> None:
    """What `kubectl apply -f crds/` installs (make check keeps it equal to the schema)."""
    for path in sorted((REPO / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        if crd.get("kind") == "CustomResourceDefinition":
            assert not list(undescribed(_schema(crd), path.name)), path.name


def test_the_walk_finds_leaves_parents_items_and_map_values_but_not_free_form_values() -> None:
    schema = {"type": "object", "properties": {
        "parent": {"type": "object", "properties": {"leaf": {"type": "string"}}},
        "list": {"type": "array", "description": "d", "items": {"type": "object", "properties": {
            "item_field": {"type": "integer"}}}},
        "map": {"type": "object", "description": "d", "additionalProperties": {"type": "object", "properties": {
            "value_field": {"type": "boolean"}}}},
        "values": {"type": "object", "description": "d", "x-kubernetes-preserve-unknown-fields": True,
                   "properties": {"anything": {"type": "string"}}},
    }}
    assert list(undescribed(schema, "X")) == ["X.parent", "X.parent.leaf", "X.list[].item_field",
                                              "X.map.<key>.value_field"]
    nested = {"type": "object", "properties": {"metadata": {"type": "object", "properties": {
        "name": {"type": "string"}}}, "spec": {"type": "object", "description": "d", "properties": {
            "metadata": {"type": "object"}}}}}
    assert list(undescribed(nested, "X")) == ["X.metadata.name", "X.spec.metadata"]
