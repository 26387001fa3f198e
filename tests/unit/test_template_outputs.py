"""A template's output is reused only while every name it read has the same state (core.rendering.template_outputs)."""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from typing import Any

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.rendering.renderer import RenderedService, Renderer
from openstack_operator.core.rendering.template_outputs import TemplateOutputs, state
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.secrets.ceph import placeholder_exchange
from openstack_operator.core.secrets.credentials import Credential, Credentials, placeholder_credentials, required_credentials

from .conftest import load_example
from .test_render_property import _SPECS, _manifest


def _credentials(catalog: Catalog, doc: dict[str, Any]) -> Credentials:
    osdpl = load_osdpl(catalog, doc)
    return placeholder_credentials(catalog, required_credentials(catalog, osdpl.spec.enabled_services(catalog)))


def _releases(services: list[RenderedService]) -> list[tuple[str, str, Any]]:
    return [(r.name, r.fingerprint, r.values) for s in services for r in s.releases]


def _fresh(renderer: Renderer) -> Renderer:
    """The renderer with nothing kept: every template rendered and every output parsed again."""
    renderer._outputs, renderer._parsed = TemplateOutputs(), {}
    return renderer


def test_state_tells_apart_what_a_template_prints_differently() -> None:
    distinct = [1, True, 1.0, "1", None, -0.0, 0.0, 0, False, [1], (1,), {"a": 1, "b": 2}, {"b": 2, "a": 1},
                {"a": True}, {"a": 1}, Credential("u", "p"), Credential("u", "q")]
    states = [state(value) for value in distinct]
    assert all(a != b for i, a in enumerate(states) for b in states[i + 1:])
    assert state({"a": [1, {"b": None}]}) == state({"a": [1, {"b": None}]})
    assert state(Credential("u", "p")) == state(Credential("u", "p"))
    opaque = object()
    assert state(opaque) != state(opaque)  # a value it cannot see into: never reused


def test_a_template_is_rendered_again_only_when_a_name_it_read_changed(catalog: Catalog,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: Counter[str] = Counter()
    original = jinja2.Template.render

    def counted(template: jinja2.Template, *args: Any, **kwargs: Any) -> str:
        rendered[str(template.name).removesuffix(".yaml.j2")] += 1
        return original(template, *args, **kwargs)

    monkeypatch.setattr(jinja2.Template, "render", counted)
    renderer, doc = Renderer(catalog), load_example("minimal")
    credentials = _credentials(catalog, doc)

    def render(doc: dict[str, Any], credentials: Credentials = credentials) -> list[RenderedService]:
        rendered.clear()
        osdpl = load_osdpl(catalog, doc)
        return renderer.render(osdpl.spec, credentials, osdpl.namespace)

    first = render(doc)
    assert {"keystone", "mariadb", "rabbitmq"} <= set(rendered)
    assert _releases(render(copy.deepcopy(doc))) == _releases(first) and not rendered  # a reconcile: none again
    doc["spec"]["region_name"] = "RegionNine"  # read by the charts with Keystone users only
    again = render(doc)
    assert "keystone" in rendered and "mariadb" not in rendered and "memcached" not in rendered
    assert _releases(again) == _releases(_fresh(Renderer(catalog)).render(
        load_osdpl(catalog, doc).spec, credentials, load_osdpl(catalog, doc).namespace))
    changed = dict(credentials, mariadb_admin=Credential("root", "another"))  # read by the charts that declare it
    render(doc, changed)
    assert "mariadb" in rendered and "memcached" not in rendered


def test_a_spec_changed_in_place_is_rendered_again(catalog: Catalog) -> None:
    renderer, doc = Renderer(catalog), load_example("full")
    osdpl = load_osdpl(catalog, doc)
    credentials = _credentials(catalog, doc)
    first = renderer.render(osdpl.spec, credentials, osdpl.namespace, ceph=placeholder_exchange())
    features = osdpl.spec.features
    assert isinstance(features, dict)
    features["ssl"]["public_endpoints"]["enabled"] = not features["ssl"]["public_endpoints"]["enabled"]
    features["logging"] = {name: {"level": "DEBUG"} for name in features.get("logging", {})} or {"nova": {"level": 1}}
    again = renderer.render(osdpl.spec, credentials, osdpl.namespace, ceph=placeholder_exchange())
    expected = _fresh(Renderer(catalog)).render(osdpl.spec, credentials, osdpl.namespace, ceph=placeholder_exchange())
    assert _releases(again) == _releases(expected) != _releases(first)
    spec = dataclasses.replace(osdpl.spec, features={**features, "logging": {"nova": {"level": True}}})
    assert _releases(renderer.render(spec, credentials, osdpl.namespace, ceph=placeholder_exchange())) == \
        _releases(_fresh(renderer).render(spec, credentials, osdpl.namespace, ceph=placeholder_exchange()))


SHARED, FRESH = Renderer(Catalog.load()), Renderer(Catalog.load())


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(spec=_SPECS)
def test_a_renderer_that_rendered_other_specs_renders_as_a_new_one(spec: dict[str, Any]) -> None:
    """One renderer renders the generated manifests one after another, as the operator renders its deployments:
    each gives what a renderer that keeps nothing gives."""
    try:
        osdpl = load_osdpl(SHARED.catalog, _manifest(spec))
        credentials = _credentials(SHARED.catalog, _manifest(spec))
        kept = SHARED.render(osdpl.spec, credentials, osdpl.namespace, ceph=placeholder_exchange())
    except OperatorError as error:
        with pytest.raises(OperatorError) as again:
            osdpl = load_osdpl(FRESH.catalog, _manifest(spec))
            _fresh(FRESH).render(osdpl.spec, _credentials(FRESH.catalog, _manifest(spec)), osdpl.namespace,
                                 ceph=placeholder_exchange())
        assert str(again.value) == str(error)
        return
    assert _releases(kept) == _releases(_fresh(FRESH).render(osdpl.spec, credentials, osdpl.namespace,
                                                              ceph=placeholder_exchange()))
