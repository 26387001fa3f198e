"""Everything the API server and the osdpl process would refuse in a manifest, offline, every problem at once: the
object's root and metadata, the schema and its rules, the layering merge and the templates (with placeholder
credentials and Ceph keys, as `render` shows them), and each service's values against the one Secret that stores
them. `validate` prints the problems, `render` refuses to print values that the operator would refuse."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.releases.bundles import values_secret_data
from openstack_operator.core.rendering.merge import MergeConflicts
from openstack_operator.core.rendering.renderer import RenderedService, Renderer, RenderProblems
from openstack_operator.core.schema.limits import json_size, show_path
from openstack_operator.core.schema.manifest import Osdpl, load_osdpl, osdpl_problems
from openstack_operator.core.schema.metadata import root_problems
from openstack_operator.core.schema.problem import Problem
from openstack_operator.core.secrets.ceph import placeholder_exchange
from openstack_operator.core.secrets.credentials import placeholder_credentials, required_credentials

MAX_REQUEST_BYTES = 3 * 1024 * 1024  # kube-apiserver's limit of one request's body: the whole object as JSON


@dataclass
class Preflight:
    problems: list[str] = field(default_factory=list)  # one line each, the field path first
    osdpl: Osdpl | None = None  # set when the object passes the API server's checks
    services: list[RenderedService] = field(default_factory=list)  # set when it renders


def _largest(doc: Any) -> tuple[str, int]:
    """The path and length of the longest string (a value or a key) in `doc`: what made it too large, mostly."""
    best, stack = ("(object)", 0), [("", doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                stack.append((f"{path}.{key}" if path else str(key), child))
                best = max(best, (f"{path}.{key}" if path else str(key), len(str(key))), key=lambda b: b[1])
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(value))
        elif isinstance(value, str) and len(value) > best[1]:
            best = (path, len(value))
    return best


def object_problems(catalog: Catalog, doc: Any, old: Any = None) -> list[Problem]:
    """What the API server refuses in a manifest: its size, its root fields, then the osdpl's own problems."""
    if isinstance(doc, dict) and json_size(doc, MAX_REQUEST_BYTES) > MAX_REQUEST_BYTES:
        path, length = _largest(doc)
        return [Problem(show_path(path), f"Request entity too large: limit is {MAX_REQUEST_BYTES} (the API "
                                         f"server's limit of one request, the object as JSON; this field is "
                                         f"{length} characters)")]
    return (root_problems(doc) if isinstance(doc, dict) else []) + osdpl_problems(catalog, doc, old)


def render_problems(error: OperatorError) -> list[str]:
    """A render's error as its problems, one line each."""
    errors = error.errors if isinstance(error, RenderProblems) else \
        error.conflicts if isinstance(error, MergeConflicts) else [error]
    return [str(e) for e in errors]


def preflight(catalog: Catalog, doc: Any, namespace: str, old: Any = None, only: str | None = None,
              renderer: Renderer | None = None) -> Preflight:
    """The problems of `doc` as the osdpl in `namespace` (every one of a stage: the object's, else the render's,
    else the Secrets'); with none, the rendered services (those of `only`, if set)."""
    result = Preflight(problems=[str(p) for p in object_problems(catalog, doc, old)])
    if result.problems:
        return result
    result.osdpl = osdpl = load_osdpl(catalog, doc, namespace)
    enabled = osdpl.spec.enabled_services(catalog)
    # Offline there are no Secrets: placeholders show where each credential goes without inventing any; nor the
    # storage side's Ceph keys: a placeholder exchange, for features.ceph.
    credentials = placeholder_credentials(catalog, required_credentials(catalog, enabled))
    try:
        result.services = (renderer or Renderer(catalog)).render(
            osdpl.spec, credentials, osdpl.namespace, only={only} if only else None, ceph=placeholder_exchange())
    except OperatorError as error:
        result.problems = render_problems(error)
        return result
    for service in result.services:  # as the osdpl process writes them: each service's values in one Secret
        try:
            values_secret_data(osdpl.name, service)
        except OperatorError as error:
            result.problems.append(str(error))
    return result
