"""Schema and CEL rules, offline: the same rules the API server enforces (tests/integration checks those)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

import openstack_operator
from openstack_operator.core.releases.bundles import bundle_name, values_secret_name
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.schema.features import LOGGING_CHARTS
from openstack_operator.core.schema.osdpl import osdpl_schema
from openstack_operator.core.secrets.credentials import placeholder_credentials, required_credentials
from openstack_operator.core.secrets.ceph import placeholder_exchange
from openstack_operator.core.schema.manifest import load_osdpl, osdpl_problems
from openstack_operator.core.rendering.renderer import Renderer
from openstack_operator.core.schema.validation import apply_defaults
from openstack_operator.core.secrets.credentials import credentials_secret_name

from ..osdpl_cases import (INVALID, LONGEST_NAME, UPDATES, VALID, Edit, load_example, stored_value,
                           update_pair)


@pytest.mark.parametrize(("edit", "message"), [pytest.param(e, m, id=i) for i, e, m in INVALID])
def test_invalid_manifests_are_rejected_with_the_field_path(catalog: Catalog, edit: Edit, message: str) -> None:
    doc = load_example("minimal")
    edit(doc)
    assert [str(p) for p in osdpl_problems(catalog, doc)] == [message]


@pytest.mark.parametrize(("edit", "stored"), [pytest.param(e, s, id=i) for i, e, s in VALID])
def test_valid_manifests_are_accepted_and_stored_as_the_api_server_stores_them(
        catalog: Catalog, edit: Edit, stored: dict[str, Any]) -> None:
    doc = load_example("minimal")
    edit(doc)
    assert osdpl_problems(catalog, doc) == []
    osdpl = load_osdpl(catalog, doc)
    as_stored = {"metadata": {"name": osdpl.name}, "spec": osdpl.defaulted_spec}
    assert {path: stored_value(as_stored, path) for path in stored} == stored
    enabled = osdpl.spec.enabled_services(catalog)
    assert Renderer(catalog).render(osdpl.spec, placeholder_credentials(catalog, required_credentials(catalog, enabled)),
                                    osdpl.namespace, ceph=placeholder_exchange())


def test_every_name_derived_from_the_longest_osdpl_name_is_valid(catalog: Catalog) -> None:
    # The osdpl name is the value of the openstack.osop.dev/osdpl label on every child: at most 63 characters.
    assert len(LONGEST_NAME) == 63
    dns_subdomain = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
    names = [credentials_secret_name(LONGEST_NAME)]
    for service in catalog.services:
        names += [bundle_name(LONGEST_NAME, service), values_secret_name(LONGEST_NAME, service)]
    assert [n for n in names if len(n) > 253 or not dns_subdomain.fullmatch(n)] == []


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


def test_keystone_domain_config_defaults_to_empty(catalog: Catalog) -> None:
    spec = load_example("minimal")["spec"]
    spec["features"] = {"keystone": {"domains": {"ldap": {"enabled": True}}}}
    defaulted = apply_defaults(osdpl_schema(catalog)["properties"]["spec"], spec)
    assert defaulted["features"]["keystone"]["domains"]["ldap"] == {"enabled": True, "config": {}}


def test_logging_names_exactly_the_charts_whose_templates_read_a_level() -> None:
    """A level for a chart whose template does not read one would be accepted and ignored."""
    templates = Path(openstack_operator.__file__).parent / "templates" / "services"
    reading = set()
    for template in templates.glob("*.yaml.j2"):
        text = template.read_text()
        reading |= set(re.findall(r'm\.log_level\("([a-z-]+)"\)', text))
        reading |= set(re.findall(r'features\.logging\.get\("([a-z-]+)"', text))
    assert reading == set(LOGGING_CHARTS)


def test_an_object_judged_before_is_not_judged_again_unless_what_is_judged_changed(
        catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """The processes judge the osdpl at every event of it: its status and resourceVersion change at every write,
    its spec seldom. A cached judgement is the same problems; a changed spec or name is judged anew."""
    from openstack_operator.core.schema import manifest
    judged: list[Any] = []
    judge = manifest._problems

    def counted(catalog: Catalog, doc: Any, old: Any) -> Any:
        judged.append(doc)
        return judge(catalog, doc, old)
    monkeypatch.setattr(manifest, "_problems", counted)
    doc = load_example("minimal")
    doc["spec"]["features"] = {"services": ["not-a-service"]}
    first = [str(p) for p in osdpl_problems(catalog, doc)]
    written = copy.deepcopy(doc)
    written["status"] = {"conditions": [{"type": "Ready", "status": "False"}]}
    written["metadata"].update(resourceVersion="42", managedFields=[{"manager": "osdpl"}])
    assert [str(p) for p in osdpl_problems(catalog, written)] == first and len(judged) == 1
    problems = osdpl_problems(catalog, written)
    problems.clear()  # the caller's list: the cache keeps its own
    assert [str(p) for p in osdpl_problems(catalog, written)] == first and len(judged) == 1
    fixed = copy.deepcopy(written)
    fixed["spec"]["features"]["services"] = ["compute"]
    assert osdpl_problems(catalog, fixed) == [] and len(judged) == 2
    renamed = copy.deepcopy(doc)
    renamed["metadata"]["name"] = "Osh_dev"
    assert osdpl_problems(catalog, renamed) and len(judged) == 3
