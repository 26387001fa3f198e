"""The osdpl status as one section per owning process (core.models.osdpl_status): every key of the CRD's status has
exactly one owner, a write of another's key is refused naming the key and its owner, the read views, the one write
path (kube.osdpl_status.patch_section, used by every gateway), reads of another's section only through the views,
and the docs tables saying the same as the code."""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from openstack_operator.core.health.workloads import release_basis
from openstack_operator.core.models.osdpl_status import (HEALTH, NODE, OSDPL, OWNERS, SECRETS, SECTIONS, AppliedView,
                                                         CephView, CertificateView, ChildrenView, CredentialsView,
                                                         HealthView, NotOwner, Owner, RolloutView, SectionPatch,
                                                         section_patch)
from openstack_operator.core.schema.status import osdpl_status
from openstack_operator.core.status.merge import status_patch
from openstack_operator.kube.osdpl_status import patch_section
from openstack_operator.reconcilers.health import HealthCluster
from openstack_operator.reconcilers.node import NodeCluster
from openstack_operator.reconcilers.osdpl import OsdplCluster
from openstack_operator.reconcilers.osdpl_apply import OsdplWrites
from openstack_operator.reconcilers.secrets import SecretsCluster

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "openstack_operator"
# The modules of each process that read the osdpl status (its reconcilers and the core modules only it calls).
READERS: dict[Owner, list[str]] = {
    OSDPL: ["reconcilers/osdpl.py", "reconcilers/osdpl_apply.py", "core/status/conditions.py",
            "core/upgrades/rollout.py"],
    HEALTH: ["reconcilers/health.py"],
    SECRETS: ["reconcilers/secrets.py", "core/secrets/rotation.py", "core/upgrades/guard.py"],
    NODE: ["reconcilers/node.py"],
}
GATEWAYS: dict[Owner, tuple[str, str, Any]] = {  # the gateway module, its status write, the protocol declaring it
    OSDPL: ("osdpl", "patch_status", OsdplCluster),
    HEALTH: ("health", "patch_osdpl_status", HealthCluster),
    SECRETS: ("secrets", "patch_osdpl_status", SecretsCluster),
    NODE: ("node", "patch_osdpl_status", NodeCluster),
}


# -- ownership ----------------------------------------------------------------------------------------------------
def _crd_status_keys() -> set[str]:
    crd = yaml.safe_load((ROOT / "crds" / "openstackdeployments.yaml").read_text())
    versions = crd["spec"]["versions"]
    keys = [set(v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]) for v in versions]
    assert keys and all(k == keys[0] for k in keys)
    return keys[0]


def test_every_key_of_the_status_schema_has_exactly_one_owner() -> None:
    schema_keys = set(osdpl_status()["properties"])
    assert set(OWNERS) == schema_keys == _crd_status_keys()
    assert sum(len(keys) for keys in SECTIONS.values()) == len(OWNERS)  # no key in two sections
    assert set(SECTIONS) == {OSDPL, HEALTH, SECRETS, NODE} and all(SECTIONS.values())


@pytest.mark.parametrize("owner", sorted(SECTIONS))
def test_a_section_patch_is_the_merge_patch_of_the_owners_fields(owner: Owner) -> None:
    previous = {key: {"old": 1, "kept": 2} for key in OWNERS}
    fields = {key: {"kept": 2, "new": 3} for key in SECTIONS[owner]}
    patch = section_patch(owner, previous, fields)
    assert patch.owner == owner and dict(patch.patch) == status_patch(previous, fields)
    assert dict(patch.patch) == {key: {"old": None, "new": 3} for key in SECTIONS[owner]}
    assert patch and all(key in patch for key in SECTIONS[owner])
    assert patch.sent_by(owner) == dict(patch.patch)
    assert not section_patch(owner, previous, {key: previous[key] for key in SECTIONS[owner]})  # nothing to write


@pytest.mark.parametrize("writer,key", [(w, k) for w in sorted(SECTIONS) for k in sorted(OWNERS)
                                        if OWNERS[k] != w])
def test_a_write_of_another_sections_key_raises_naming_the_key_and_its_owner(writer: Owner, key: str) -> None:
    with pytest.raises(NotOwner) as raised:
        section_patch(writer, {}, {next(iter(SECTIONS[writer])): "x", key: "y"})
    message = str(raised.value)
    assert f"status.{key} (the {OWNERS[key]} process's)" in message and f"the {writer} process" in message
    assert raised.value.keys == [key]
    with pytest.raises(NotOwner):  # made by hand, a patch is checked all the same
        SectionPatch(writer, {key: "y"})


def test_a_key_outside_the_schema_has_no_owner() -> None:
    with pytest.raises(NotOwner, match=r"status\.health_score \(no process's"):
        section_patch(HEALTH, {}, {"health_score": 3})


def test_a_gateway_sends_only_its_own_processs_section() -> None:
    patch = section_patch(OSDPL, {}, {"children": {}})
    with pytest.raises(NotOwner, match=r"the health process writes only .* not status\.children \(the osdpl"):
        patch.sent_by(HEALTH)
    # the one write refuses it before anything is sent (no API server here: a send would fail otherwise)
    with pytest.raises(NotOwner):
        patch_section(HEALTH, "ns", "osh", patch)


# -- the one write path -------------------------------------------------------------------------------------------
def _calls(path: Path, function: str) -> list[tuple[ast.Call, list[ast.expr]]]:
    """Calls of `function` in the module, directly or through asyncio.to_thread: (the call, its arguments)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else \
            node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if name == function:
            found.append((node, node.args))
        elif node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == function:
            found.append((node, node.args[1:]))
    return found


@pytest.mark.parametrize("owner", sorted(GATEWAYS))
def test_each_process_writes_the_osdpl_status_only_as_a_section_patch_of_its_own(owner: Owner) -> None:
    module, method, protocol = GATEWAYS[owner]
    assert typing.get_type_hints(getattr(protocol, method))["patch"] is SectionPatch
    writes = _calls(PACKAGE / "kube" / "gateways" / f"{module}.py", "patch_section")
    assert writes, f"kube/gateways/{module}.py writes the osdpl status without kube.osdpl_status.patch_section"
    for call, args in writes:  # the writer is the gateway's own process
        assert isinstance(args[0], ast.Name) and args[0].id == owner.upper(), ast.unparse(call)


def test_only_the_one_write_patches_an_osdpl_status() -> None:
    """kube.objects.patch_status of an OpenStackDeployment anywhere but in kube/osdpl_status.py is a second path."""
    found = [str(path.relative_to(PACKAGE)) for path in sorted(PACKAGE.rglob("*.py"))
             for _, args in _calls(path, "patch_status")
             if any(isinstance(a, ast.Name) and a.id == "OpenStackDeployment" for a in args)]
    assert found == ["kube/osdpl_status.py"]


@pytest.mark.parametrize("protocol,method", [(OsdplWrites, "patch_status"), (OsdplCluster, "patch_status")])
def test_the_osdpl_apply_step_writes_the_same_way(protocol: Any, method: str) -> None:
    assert typing.get_type_hints(getattr(protocol, method))["patch"] is SectionPatch


# -- reads of another's section: only through the views -----------------------------------------------------------
def _of_the_spec(parent: ast.AST) -> bool:
    """`spec["openstack_version"]`, `spec.get(...)`: a field of the spec of the same name, not of the status."""
    if isinstance(parent, ast.Subscript):
        return "spec" in ast.unparse(parent.value)
    return isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute) and \
        parent.func.attr == "get" and "spec" in ast.unparse(parent.func.value)


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_process_names_no_key_of_anothers_section(reader: Owner) -> None:
    """The keys of another process's section are named only in core/models/osdpl_status.py (its views)."""
    foreign = {key for key, owner in OWNERS.items() if owner != reader}
    named = []
    for module in READERS[reader]:
        tree = ast.parse((PACKAGE / module).read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in foreign and not _of_the_spec(parents[node]):
                named.append(f"{module}:{node.lineno} {node.value!r}")
    assert not named, f"the {reader} process reads another's section by its keys: {named}"


# -- the views ----------------------------------------------------------------------------------------------------
CHILDREN = {"identity": {"openstack-keystone": {"state": "deployed", "revision": 3,
                                                "workloads": ["keystone/api/Deployment/keystone-api"]}},
            "dashboard": {"openstack-horizon": {"state": "failed", "attempts": 2}}}
STATUS: dict[str, Any] = {
    "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 4},
                   {"type": "Degraded", "status": "False"}],
    "observedGeneration": 4, "children": CHILDREN, "lcm_progress": "1/2", "applied_credentials": 7,
    "openstack_version": "epoxy",
    "upgrade": {"from": "dalmatian", "to": "epoxy", "phase": "Running", "current": "identity"},
    "health": {"keystone": {"api": {"state": "Ready", "reason": ""}}}, "health_progress": "1/1",
    "health_basis": release_basis(CHILDREN),
    "credentials": {"state": "Lost", "revision": 7, "digests": {"keystone-admin": "d1"}, "message": "gone",
                    "rotations": {}},
    "ceph": {"state": "Invalid", "digest": "c1", "message": "no key", "source": "ceph/keys"},
    "certificate": {"state": "Expiring", "secret": "tls", "message": "expires soon"},
    "nodes": {"summary": "0 nodes"},
}


def test_the_views_of_a_full_status() -> None:
    health = HealthView.of(STATUS)
    assert (health.health, health.progress, health.basis) == (STATUS["health"], "1/1", release_basis(CHILDREN))
    assert health.checked(CHILDREN) and not health.checked({"identity": {"openstack-keystone": {
        "state": "deployed", "revision": 4}}})
    assert CredentialsView.of(STATUS) == CredentialsView("Lost", 7, {"keystone-admin": "d1"}, "gone")
    assert CredentialsView.of(STATUS).lost
    assert CephView.of(STATUS) == CephView("Invalid", "c1", "no key")
    assert CertificateView.of(STATUS) == CertificateView("Expiring", "expires soon")
    children = ChildrenView.of(STATUS)
    assert children.services == CHILDREN and children.releases() == {"openstack-keystone", "openstack-horizon"}
    assert children.basis() == release_basis(CHILDREN)
    rollout = RolloutView.of(STATUS)
    assert rollout.openstack_version == "epoxy" and rollout.upgrade == STATUS["upgrade"] and rollout.active
    assert not RolloutView.of({**STATUS, "upgrade": {**STATUS["upgrade"], "phase": "Completed"}}).active
    assert AppliedView.of(STATUS) == AppliedView(7, True, 4)
    not_ready = {**STATUS, "conditions": [{"type": "Ready", "status": "False"}]}
    assert AppliedView.of(not_ready) == AppliedView(7, False, None)


def test_the_views_of_a_status_not_written_yet() -> None:
    assert HealthView.of({}) == HealthView({}, "", None)
    assert not HealthView.of({}).checked({})  # never checked: not even the empty set of releases
    assert CredentialsView.of({}) == CredentialsView("", 0, {}, "") and not CredentialsView.of({}).lost
    assert CephView.of({}) == CephView("", "", "") and CertificateView.of({}) == CertificateView("", "")
    assert ChildrenView.of({}).releases() == set()
    assert RolloutView.of({}) == RolloutView("", None) and not RolloutView.of({}).active
    assert AppliedView.of({}) == AppliedView(0, False, None)


def test_the_views_are_frozen() -> None:
    view = CredentialsView.of(STATUS)
    with pytest.raises(AttributeError):
        view.state = "Ready"  # type: ignore[misc]


# -- the docs say the same --------------------------------------------------------------------------------------------
def _ticked(text: str) -> set[str]:
    return {token.removeprefix("status.") for token in re.findall(r"`([^`]+)`", text)}


def test_the_development_docs_table_names_each_sections_keys_and_owner() -> None:
    text = (ROOT / "docs" / "development.md").read_text()
    table = text.split("### What the processes exchange", 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]
    sections = {row[1]: _ticked(row[0]) for row in rows if row[0].startswith("osdpl `status.")}
    assert sections == {owner: set(keys) for owner, keys in SECTIONS.items()}


def test_the_operations_docs_processes_table_names_each_sections_keys() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    table = text.split("## The processes", 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    writes = {row[0].strip("`"): row[2] for row in rows}
    sections: dict[str, frozenset[str]] = {owner: keys for owner, keys in SECTIONS.items()}
    sections["helmbundle"] = frozenset()  # it writes no osdpl status
    assert set(writes) == set(sections)
    for process, cell in writes.items():
        named = _ticked(cell[cell.index("`status."):]) if "`status." in cell else set()
        assert named == sections[process], process
