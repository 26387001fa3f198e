"""From manifest text to a checked, defaulted OpenStackDeployment: parsing, schema, defaults."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.schema.limits import spec_limit_problem
from openstack_operator.core.schema.metadata import dns_subdomain_problems, metadata_problems, quoted
from openstack_operator.core.schema.osdpl import osdpl_schema
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.isolation import spec_problems
from openstack_operator.core.models.spec import DeploymentSpec
from openstack_operator.core.schema.problem import Problem
from openstack_operator.core.schema.validation import apply_defaults, validate
from openstack_operator.core.schema.yaml_input import InvalidYaml, decode_text, parse_yaml

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


def parse_documents(text: str | bytes, source: str) -> list[Any]:
    """All YAML documents of `text` (bytes: UTF-8, or UTF-16 with a BOM), read as kubectl reads them
    (core.schema.yaml_input); a syntax error, a duplicate key or a bound passed names the source, line and column."""
    try:
        return parse_yaml(decode_text(text, source) if isinstance(text, bytes) else text, source)
    except InvalidYaml as exc:
        raise InvalidManifest([Problem(exc.where, exc.problem)]) from None


def _kind(doc: Any) -> str:
    return str(doc.get("kind")) if isinstance(doc, dict) and doc.get("kind") is not None else "(no kind)"


def select_osdpl(documents: list[Any], source: str) -> Any:
    """The one OpenStackDeployment of a stream (kustomize output holds a Namespace too; a `kind: List`'s items
    count as documents); the other documents are not the operator's and are skipped. A stream of one document is
    taken as the osdpl whatever it holds, so its own problems (kind, apiVersion) are told."""
    flat = [item for doc in documents for item in
            (doc["items"] if _kind(doc) == "List" and isinstance(doc.get("items"), list) else [doc])]
    if len(flat) == 1:
        return flat[0]
    found = [doc for doc in flat if _kind(doc) == KIND]
    if len(found) == 1:
        return found[0]
    if not found:
        among = f" among {len(flat)} documents (kinds: {', '.join(_kind(doc) for doc in flat)})" if flat else \
            " (no document at all)"
        raise OperatorError(f"{source}: expected one OpenStackDeployment document, found 0{among}")
    names = ", ".join(str((doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None)
                      for doc in found)
    raise OperatorError(f"{source}: expected one OpenStackDeployment document, found {len(found)} ({names}); give "
                        "each its own file")


# The processes judge the same object again at every event of it (a status write is one), and its CEL rules are
# most of a reconcile's CPU: the problems of the last objects judged, by what they depend on. The API server rewrites
# status, resourceVersion and managedFields at every write; none of them is judged (both metadata fields are known
# to metadata_problems, whatever their value), so they are not part of the key.
_JUDGED: OrderedDict[tuple[int, str], tuple[Catalog, tuple[Problem, ...]]] = OrderedDict()
_JUDGED_MAX = 32
_JUDGED_LOCK = threading.Lock()  # the processes judge from their event loop and their worker threads
_UNJUDGED_METADATA = ("resourceVersion", "managedFields")


def _judged_part(doc: Any) -> Any:
    if not isinstance(doc, dict):
        return doc
    part = {key: value for key, value in doc.items() if key != "status"}
    if isinstance(part.get("metadata"), dict):
        part["metadata"] = {k: v for k, v in part["metadata"].items() if k not in _UNJUDGED_METADATA}
    return part


def osdpl_problems(catalog: Catalog, doc: Any, old: Any = None) -> list[Problem]:
    """Every problem of an osdpl object; `old` (the object before an update) enables transition rules."""
    if not isinstance(doc, dict):
        return [Problem("(document)", "must be a mapping")]
    # Before anything walks the spec (defaults and validation recurse): a bound passed is the only problem told.
    limit = spec_limit_problem(doc.get("spec"))
    if limit is not None:
        return [Problem(*limit)]
    try:
        key = (id(catalog), json.dumps([_judged_part(doc), _judged_part(old)], sort_keys=True))
    except (TypeError, ValueError):  # not JSON (a test's object): judged every time
        return _problems(catalog, doc, old)
    with _JUDGED_LOCK:
        judged = _JUDGED.get(key)
        if judged is not None and judged[0] is catalog:
            _JUDGED.move_to_end(key)
            return list(judged[1])
    problems = _problems(catalog, doc, old)
    with _JUDGED_LOCK:
        _JUDGED[key] = (catalog, tuple(problems))  # the catalog held: its id is not reused while the entry lives
        while len(_JUDGED) > _JUDGED_MAX:
            _JUDGED.popitem(last=False)
    return problems


def _problems(catalog: Catalog, doc: dict[str, Any], old: Any) -> list[Problem]:
    problems = []
    if doc.get("apiVersion") != API_VERSION:
        problems.append(Problem("apiVersion", f'Unsupported value: "{doc.get("apiVersion")}": supported values: '
                                              f'"{API_VERSION}"'))
    if doc.get("kind") != KIND:
        problems.append(Problem("kind", f'Unsupported value: "{doc.get("kind")}": supported values: "{KIND}"'))
    root = osdpl_schema(catalog)
    doc = apply_defaults({"properties": {"spec": root["properties"]["spec"]}}, doc)  # `spec: null` is dropped
    metadata = doc.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        problems += validate(root["properties"]["metadata"], metadata, "metadata")
    elif not isinstance(metadata, dict) or not metadata.get("name"):
        problems.append(Problem("metadata.name", "Required value"))
    else:
        problems += _name_problems(root["properties"]["metadata"]["properties"]["name"], metadata["name"])
    problems += metadata_problems(metadata) if isinstance(metadata, dict) else []
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


def _name_problems(schema: Mapping[str, Any], name: Any) -> list[Problem]:
    """The API server's own name check, then the CRD's limit (MAX_OSDPL_NAME: names derived from it stay valid)."""
    if not isinstance(name, str):
        return validate(schema, name, "metadata.name")
    problems = [Problem("metadata.name", f"Invalid value: {quoted(name)}: {message}")
                for message in dns_subdomain_problems(name)]
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
