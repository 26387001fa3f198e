"""Every manifest the schema accepts renders (property-based, Hypothesis).

Manifests are generated from the CRD schema itself (core.schema.osdpl.osdpl_schema), valid by construction: each
optional field left out or set in every way its type, enum, pattern, bounds, list type and CEL rules allow; `nodes` keys
from NODE_KEY_PATTERN; free-form `values` as small nested mappings whose keys mostly follow the keys the charts'
templates write, with values of any JSON type, so that they collide with the templates' values (a mapping where a
template has a string, a list where it has a mapping, null, ...). Rendering gets a placeholder Ceph exchange, as
offline `render` does, so features.ceph renders too. For each, rendering either succeeds or fails with
an OperatorError whose message starts with the path of a field of the submitted spec; any other exception, or a
message naming something else, is a failure. A failing example is printed by Hypothesis as a minimal spec;
docs/development.md says how to reproduce it.
"""

from __future__ import annotations

import copy
import os
import re
import time
from typing import Any, Iterator, Mapping

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.ceph import placeholder_exchange
from openstack_operator.core.secrets.credentials import placeholder_credentials, required_credentials
from openstack_operator.core.schema.osdpl import NODE_KEY_PATTERN, osdpl_schema
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.isolation import IsolationProblem
from openstack_operator.core.schema.manifest import API_VERSION, KIND, InvalidManifest, load_osdpl
from openstack_operator.core.rendering.renderer import RenderedService, Renderer
from openstack_operator.core.schema.validation import validate

from ..osdpl_cases import load_example, with_every_service

CATALOG = Catalog.load()
RENDERER = Renderer(CATALOG)
SPEC_SCHEMA: Mapping[str, Any] = osdpl_schema(CATALOG)["properties"]["spec"]
MAX_EXAMPLES = int(os.environ.get("RENDER_PROPERTY_EXAMPLES", "2000"))
INT64 = 2**63 - 1

Json = Any
Strategy = st.SearchStrategy[Any]


# --- free-form values: keys the templates write, so that generated values collide with them ------------------

def _key_tree() -> dict[str, Any]:
    """Union over every chart of the full example (all services, every feature) of the mapping keys of the
    rendered values: key -> subtree."""
    tree: dict[str, Any] = {}

    def add(node: dict[str, Any], value: Any, depth: int) -> None:
        if isinstance(value, dict) and depth < 6:
            for key, item in value.items():
                add(node.setdefault(str(key), {}), item, depth + 1)

    doc = with_every_service(CATALOG, load_example("full"))
    for service in _render(doc):
        for release in service.releases:
            add(tree, release.values, 0)
    return tree


def _render(doc: Mapping[str, Any]) -> list[RenderedService]:
    osdpl = load_osdpl(CATALOG, doc)
    enabled = osdpl.spec.enabled_services(CATALOG)
    credentials = placeholder_credentials(CATALOG, required_credentials(CATALOG, enabled))
    return RENDERER.render(osdpl.spec, credentials, osdpl.namespace, ceph=placeholder_exchange())


# Strings: mostly plain, sometimes anything Unicode has (outside surrogates, which JSON text cannot carry).
_TEXT = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", max_size=12),
    st.text(max_size=8),
    st.sampled_from(["", "yes", "null", "~", "0", "1.5", "true", "a: b", "- x", "{", "#", "'\"", "\\"]),
)
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-INT64 - 1, max_value=INT64),
    st.floats(allow_nan=False, allow_infinity=False),
    _TEXT,
)
_ANY_JSON: Strategy = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=6,
)


def _free_values(tree: Mapping[str, Any], depth: int = 0) -> Strategy:
    """A mapping whose keys are mostly those the templates write at this level (tree), with any value: a
    mapping following the tree further down, or a scalar, list or null where the template may have a mapping."""
    known = sorted(tree)
    if depth >= 6 or not known:
        return st.dictionaries(_TEXT, _ANY_JSON, max_size=2)

    def value_for(key: str) -> Strategy:
        subtree = tree.get(key, {})
        return st.one_of(st.deferred(lambda: _free_values(subtree, depth + 1)), _ANY_JSON) if subtree else _ANY_JSON

    key = st.one_of(st.sampled_from(known), st.sampled_from(known), st.sampled_from(known), _TEXT)
    return st.dictionaries(key, st.just(None), max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries({k: value_for(k) for k in keys}))


# --- typed fields: straight from the schema ---------------------------------------------------------------

def from_schema(schema: Mapping[str, Any], path: str, tree: Mapping[str, Any]) -> Strategy:
    """Values `schema` accepts (structure, enums, patterns, bounds, list types and CEL rules)."""
    strategy = _structural(schema, path, tree)
    if schema.get("x-kubernetes-validations"):
        # CEL rules involve a few sibling fields (ssl, gateway, floating_network, nodes keys): keep what passes
        # them, here where the object is small, rather than discard whole manifests.
        strategy = strategy.filter(lambda value: not validate(schema, value, path))
    return strategy


# Strings of the formats CEL rules check (core/schema/semantics.py); each field's rules keep those of its own.
_FORMATTED = ["10.11.12.0/24", "10.11.12.1", "10.11.12.100", "10.11.12.200", "2001:db8::53", "0", "cloud.example.com",
              "0 1 * * *", "@daily", "not-an-address"]


def _structural(schema: Mapping[str, Any], path: str, tree: Mapping[str, Any]) -> Strategy:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        # spec.nodes' conf-shaped DaemonSets take only `values.conf`: the keys below the charts' `conf`.
        return _free_values(tree.get("conf", {}) if path.endswith(".values.conf") else tree)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        if "properties" in schema:
            required = set(schema.get("required", []))
            fields = {name: from_schema(sub, f"{path}.{name}", tree) for name, sub in schema["properties"].items()}
            return st.fixed_dictionaries({k: v for k, v in fields.items() if k in required},
                                         optional={k: v for k, v in fields.items() if k not in required})
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            keys = st.from_regex(NODE_KEY_PATTERN, fullmatch=True) if path == "spec.nodes" else _TEXT
            return st.dictionaries(keys, from_schema(extra, f"{path}.*", tree), max_size=3)
        return st.dictionaries(_TEXT, _ANY_JSON, max_size=2)
    if kind == "array":
        items = from_schema(schema["items"], f"{path}[]", tree)
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set":
            return st.lists(items, max_size=3, unique=True)
        if list_type == "map":
            keys = schema["x-kubernetes-list-map-keys"]
            return st.lists(items, max_size=3, unique_by=lambda item: tuple(item.get(k) for k in keys))
        return st.lists(items, max_size=3)
    if kind == "string":
        if "x-kubernetes-validations" in schema:  # a format (address, schedule, DNS name): examples of each
            return st.sampled_from(_FORMATTED)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.one_of(_TEXT, st.text(max_size=8)).filter(lambda s: len(s) >= schema.get("minLength", 0))
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum", -INT64 - 1), max_value=schema.get("maximum", INT64))
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.one_of(
            st.integers(min_value=None if low is None else int(low), max_value=None if high is None else int(high)),
            st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False),
        )
    raise AssertionError(f"{path}: no strategy for schema {schema}")


_SPECS = from_schema(SPEC_SCHEMA, "spec", _key_tree())
_MINIMAL = {"openstack_version": "epoxy", "preset": "core", "size": "tiny", "public_domain_name": "0"}


def _manifest(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "osdpl", "namespace": "openstack"},
            "spec": spec}


# --- the properties ---------------------------------------------------------------------------------------

_SPEC_PATH = re.compile(r"^(spec(?:\.|\[|:)\S*?):(?:\s|$)")  # a node group's key holds "::"


def _resolves(spec: Any, path: str) -> bool:
    """Whether the dotted field path (after `spec`) names a field of the spec; keys may contain dots."""
    def walk(node: Any, rest: str) -> Iterator[bool]:
        if rest == "":
            yield True
            return
        if isinstance(node, list):
            match = re.match(r"^\[(\d+)\]", rest)
            if match and int(match.group(1)) < len(node):
                yield from walk(node[int(match.group(1))], rest[match.end():].removeprefix("."))
            return
        if isinstance(node, dict):
            for key in node:
                if rest == key or rest.startswith(key + ".") or rest.startswith(key + "["):
                    yield from walk(node[key], rest[len(key):].removeprefix("."))
    return any(walk(spec, path))


def _rule_messages(schema: Any) -> set[str]:
    """The messages of every CEL rule in `schema`."""
    found: set[str] = set()
    if isinstance(schema, Mapping):
        found |= {rule["message"] for rule in schema.get("x-kubernetes-validations", []) if "message" in rule}
        for child in schema.values():
            found |= _rule_messages(child)
    elif isinstance(schema, list):
        for child in schema:
            found |= _rule_messages(child)
    return found


_RULE_MESSAGES = _rule_messages(SPEC_SCHEMA)


def _by_a_rule(problem: Any) -> bool:
    return any(str(problem.message).endswith(message) for message in _RULE_MESSAGES)


class Counter:
    rendered = 0
    rejected = 0


@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(spec=_SPECS)
# Failures Hypothesis found (minimal examples), fixed: pinned so that they run first, every time.
@example(spec={**_MINIMAL, "region_name": "\U00010000"})  # beyond the BMP: tojson wrote a surrogate pair
@example(spec={**_MINIMAL, "preset": "compute"})  # features.nova.live_migration_interface unset
@example(spec={**_MINIMAL, "features": {"keystone": {"domains": {"d": {"enabled": False}}}}})  # no config
@example(spec={**_MINIMAL, "features": {"neutron": {"external_networks": [  # vlan without vlan_ranges
    {"physnet": "0", "interface": "0", "network_types": ["vlan"]}]}}})
# A conflict with the per-node overrides names the field that wrote the value, not "spec.nodes.conf...".
@example(spec={**_MINIMAL, "preset": "compute",
               "services": {"compute": {"nova": {"values": {"conf": {"overrides": "0"}}}}},
               "nodes": {"a::b": {"services": {"compute": {"nova": {"nova_compute": {"values": {}}}}}}}})
# A node group's values for a DaemonSet the networking backend does not run: refused, naming the group's field.
@example(spec={**_MINIMAL, "nodes": {"a::b": {"services": {"networking": {"neutron": {
    "neutron_ovn-metadata-agent": {}}}}}}})
def test_every_valid_manifest_renders_or_names_the_field(spec: dict[str, Any]) -> None:
    doc = _manifest(spec)
    submitted = copy.deepcopy(spec)
    try:
        services = _render(doc)
    except InvalidManifest as error:  # load_osdpl runs the schema (osdpl_problems): valid by construction
        # ... but not necessarily within core.isolation's rules, which name the field too
        # or within the CEL rules that relate one field to another (the generator draws each field alone)
        if not all(isinstance(p, IsolationProblem) or _by_a_rule(p) for p in error.problems):
            raise AssertionError(f"the generator made a manifest the schema rejects: {error}") from None
        assert all(_resolves({"spec": submitted}, p.path) for p in error.problems if isinstance(p, IsolationProblem)), \
            str(error)
        assert all(p.path.startswith("spec.") for p in error.problems), str(error)
        Counter.rejected += 1
    except OperatorError as error:
        message = str(error)
        match = _SPEC_PATH.match(message)
        assert match, f"{type(error).__name__} does not start with a spec field path: {message}"
        assert _resolves({"spec": submitted}, match.group(1)), f"{match.group(1)} is not a field of the spec: {message}"
        Counter.rejected += 1
    else:
        assert services
        Counter.rendered += 1
    assert spec == submitted  # rendering never modifies the spec it reads


@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(spec=_SPECS)
def test_rendering_is_deterministic(spec: dict[str, Any]) -> None:
    doc = _manifest(spec)
    try:
        first = _render(doc)
    except OperatorError:
        return
    second = _render(copy.deepcopy(doc))
    assert [(r.name, r.fingerprint, r.values) for s in first for r in s.releases] == \
           [(r.name, r.fingerprint, r.values) for s in second for r in s.releases]


@pytest.fixture(scope="module", autouse=True)
def _report_counts(pytestconfig: pytest.Config) -> Iterator[None]:
    started = time.monotonic()
    yield
    total = Counter.rendered + Counter.rejected
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    if total and capture is not None:
        with capture.global_and_fixture_disabled():  # shown with -q too: the count is the test's claim
            print(f"\nproperty-based render: {total} generated valid manifests, {Counter.rendered} rendered, "
                  f"{Counter.rejected} refused naming a spec field, in {time.monotonic() - started:.1f} s")
