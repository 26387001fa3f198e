"""From manifest text to a checked, defaulted OpenStackDeployment: parsing, schema, defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import yaml

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.schema.limits import MAX_ALIAS_NODES, MAX_DEPTH, spec_limit_problem
from openstack_operator.core.schema.osdpl import osdpl_schema
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.isolation import spec_problems
from openstack_operator.core.models.spec import DeploymentSpec
from openstack_operator.core.schema.validation import Problem, apply_defaults, validate

API_VERSION = f"{GROUP}/{VERSION}"
KIND = "OpenStackDeployment"
DEFAULT_NAMESPACE = "openstack"  # of a manifest without metadata.namespace, as `kubectl apply` in the CLI's examples


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


class _BoundedLoader(yaml.SafeLoader):
    """A safe loader that refuses nesting deeper than MAX_DEPTH while it composes (PyYAML's composer recurses per
    level: a deep document would end in a RecursionError)."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.depth >= MAX_DEPTH and not self.check_event(yaml.ScalarEvent, yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise _Refused(mark, f"nested deeper than {MAX_DEPTH} levels (the limit of mappings and lists in one "
                                 "another)")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Refused(Exception):
    def __init__(self, mark: Any, problem: str) -> None:
        super().__init__(problem)
        self.mark, self.problem = mark, problem


def _expansion(root: yaml.Node) -> tuple[int, int]:
    """How many nodes `root` holds with every alias expanded, and how deep it nests then, counted over the node
    graph (an anchor's node is shared by its aliases) without expanding anything: linear in the document's size,
    iterative. A recursive alias is refused."""
    sizes: dict[int, tuple[int, int]] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else \
            list(node.value) if isinstance(node, yaml.SequenceNode) else []
        if done:
            on_path.discard(id(node))
            inner = [sizes[id(c)] for c in children]
            sizes[id(node)] = (1 + sum(s for s, _ in inner),
                               (1 + max((d for _, d in inner), default=0)) if children or
                               not isinstance(node, yaml.ScalarNode) else 0)
            continue
        if id(node) in sizes:
            continue
        if id(node) in on_path:
            raise _Refused(node.start_mark, "a recursive alias (an anchor used inside itself)")
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def _distinct(root: yaml.Node) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return len(seen)


def _check_expansion(node: yaml.Node) -> None:
    expanded, depth = _expansion(node)
    if expanded - _distinct(node) > MAX_ALIAS_NODES:
        raise _Refused(node.start_mark, f"YAML aliases expand to {expanded} nodes, more than the limit of "
                                        f"{MAX_ALIAS_NODES} added by aliases")
    if depth > MAX_DEPTH:
        raise _Refused(node.start_mark, f"YAML aliases nest it deeper than {MAX_DEPTH} levels (the limit of "
                                        "mappings and lists in one another)")


def parse_documents(text: str, source: str) -> list[Any]:
    """All YAML documents of `text`; a syntax error, or a document past a bound of core.schema.limits (nesting
    depth, alias expansion), names the source, line and column. Each document is composed and checked before it is
    built, so a bomb costs no more than its text."""
    loader = _BoundedLoader(text)
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_expansion(node)
            doc = loader.construct_document(node)
            if doc is not None:
                documents.append(doc)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidManifest([Problem(where, f"invalid YAML: {problem}")]) from None
    except _Refused as refused:
        where = f"{source}:{refused.mark.line + 1}:{refused.mark.column + 1}" if refused.mark else source
        raise InvalidManifest([Problem(where, f"refused: {refused.problem}")]) from None
    finally:
        loader.dispose()
    return documents


def osdpl_problems(catalog: Catalog, doc: Any, old: Any = None) -> list[Problem]:
    """Every problem of an osdpl object; `old` (the object before an update) enables transition rules."""
    if not isinstance(doc, dict):
        return [Problem("(document)", "must be a mapping")]
    # Before anything walks the spec (defaults and validation recurse): a bound passed is the only problem told.
    limit = spec_limit_problem(doc.get("spec"))
    if limit is not None:
        return [Problem(*limit)]
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
    # What the schema cannot say: nothing in the spec may reach outside the deployment's namespace through Helm.
    return problems + spec_problems(spec, (metadata if isinstance(metadata, dict) else {}).get("namespace")
                                    or DEFAULT_NAMESPACE)


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


def load_osdpl(catalog: Catalog, doc: Any, default_namespace: str = DEFAULT_NAMESPACE) -> Osdpl:
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
