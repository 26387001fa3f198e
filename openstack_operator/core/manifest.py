"""From manifest text to a checked, defaulted OpenStackDeployment: parsing, schema, defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import yaml

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.crd import GROUP, VERSION, osdpl_schema
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.model import DeploymentSpec
from openstack_operator.core.schema import Problem, apply_defaults, validate

API_VERSION = f"{GROUP}/{VERSION}"
KIND = "OpenStackDeployment"


class InvalidManifest(OperatorError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))


@dataclass(frozen=True)
class Osdpl:
    name: str
    namespace: str
    spec: DeploymentSpec
    defaulted_spec: Mapping[str, Any]


def parse_documents(text: str, source: str) -> list[Any]:
    """All YAML documents of `text`; a syntax error names the source, line and column."""
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidManifest([Problem(where, f"invalid YAML: {problem}")]) from None


def osdpl_problems(catalog: Catalog, doc: Any, old: Any = None) -> list[Problem]:
    """Every problem of an osdpl object; `old` (the object before an update) enables transition rules."""
    if not isinstance(doc, dict):
        return [Problem("(document)", "must be a mapping")]
    problems = []
    if doc.get("apiVersion") != API_VERSION:
        problems.append(Problem("apiVersion", f'Unsupported value: "{doc.get("apiVersion")}": supported values: '
                                              f'"{API_VERSION}"'))
    if doc.get("kind") != KIND:
        problems.append(Problem("kind", f'Unsupported value: "{doc.get("kind")}": supported values: "{KIND}"'))
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name"):
        problems.append(Problem("metadata.name", "Required value"))
    schema = osdpl_schema(catalog)["properties"]["spec"]
    if "spec" not in doc:
        return problems + [Problem("spec", "Required value")]
    spec = apply_defaults(schema, doc["spec"])
    old_spec = apply_defaults(schema, old["spec"]) if isinstance(old, dict) and "spec" in old else None
    if old_spec is None:
        problems += validate(schema, spec, "spec")
    else:
        problems += validate(schema, spec, "spec", old_spec)
    return problems


def load_osdpl(catalog: Catalog, doc: Any, default_namespace: str = "openstack") -> Osdpl:
    problems = osdpl_problems(catalog, doc)
    if problems:
        raise InvalidManifest(problems)
    spec = apply_defaults(osdpl_schema(catalog)["properties"]["spec"], doc["spec"])
    return Osdpl(
        name=doc["metadata"]["name"],
        namespace=doc["metadata"].get("namespace") or default_namespace,
        spec=DeploymentSpec.from_spec(spec),
        defaulted_spec=spec,
    )
