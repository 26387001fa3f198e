"""From manifest text to a checked, defaulted OpenStackDeployment: parsing, schema, defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import yaml

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.schema.osdpl import osdpl_schema
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.models.spec import DeploymentSpec
from openstack_operator.core.schema.validation import Problem, apply_defaults, validate

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
    root = osdpl_schema(catalog)
    doc = apply_defaults({"properties": {"spec": root["properties"]["spec"]}}, doc)  # `spec: null` is dropped
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name"):
        problems.append(Problem("metadata.name", "Required value"))
    else:
        problems += _name_problems(root["properties"]["metadata"]["properties"]["name"], metadata["name"])
    schema = root["properties"]["spec"]
    if "spec" not in doc:
        return problems + [Problem("spec", "Required value")]
    spec = apply_defaults(schema, doc["spec"])
    old_spec = apply_defaults(schema, old["spec"]) if isinstance(old, dict) and old.get("spec") is not None \
        else None
    if old_spec is None:
        problems += validate(schema, spec, "spec")
    else:
        problems += validate(schema, spec, "spec", old_spec)
    return problems


# What kube-apiserver requires of every custom resource's name (a DNS subdomain), with its message.
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def _name_problems(schema: Mapping[str, Any], name: Any) -> list[Problem]:
    """The API server's own name check, then the CRD's limit (MAX_OSDPL_NAME: names derived from it stay valid)."""
    if not isinstance(name, str):
        return validate(schema, name, "metadata.name")
    problems = []
    if len(name) > 253:
        problems.append(Problem("metadata.name", f'Invalid value: "{name}": must be no more than 253 characters'))
    if not _DNS_SUBDOMAIN.fullmatch(name):
        problems.append(Problem("metadata.name", f'Invalid value: "{name}": {_DNS_SUBDOMAIN_MESSAGE}'))
    return problems + validate(schema, name, "metadata.name")


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
