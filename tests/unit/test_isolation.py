"""core.isolation: what an osdpl writer may make Helm do (docs/security.md), and the post-renderer using it."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import subprocess
import sys
from typing import Any

import pyhelm3.models
import pytest
import yaml

from devcluster.binaries import helm_binary
from openstack_operator.cli import main
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.isolation import (CHARTS_URL_MESSAGE, TEMPLATE_MESSAGE, charts_url_problem,
                                               extra_object_problems, rendered_problems, template_problems)
from openstack_operator.core.schema.manifest import osdpl_problems
from openstack_operator.kube import postrender
from openstack_operator.kube.helm import ChartCache, ChartSource, Helm, ValuesRefused, with_post_renderer

from ..osdpl_cases import EXAMPLES

NS = "tenant-a"


def _binding(namespace: str | None, kind: str = "RoleBinding") -> dict[str, Any]:
    metadata = {"name": "mine"} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"kind": "User", "name": "mallory"}]}


def _manifest(**spec: Any) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())
    doc["metadata"]["namespace"] = NS
    doc["spec"].update(spec)
    return doc


def test_a_go_template_anywhere_is_refused_naming_the_field() -> None:
    spec = {"services": {"identity": {"keystone": {"values": {"conf": {"foo": "x {{ lookup \"v1\" \"Secret\" "
                                                                             "\"b\" \"\" }}"}}}}},
            "common": {"openstack": {"values": {"labels": ["ok", "{{ .Release.Namespace }}"]}}},
            "features": {"{{x}}": 1}}
    assert [str(p) for p in template_problems(spec, "spec")] == [
        f"spec.services.identity.keystone.values.conf.foo: {TEMPLATE_MESSAGE}",
        f"spec.common.openstack.values.labels[1]: {TEMPLATE_MESSAGE}",
        f"spec.features.{{{{x}}}}: {TEMPLATE_MESSAGE}"]
    assert template_problems({"a": "{ {", "b": ["}}"], "c": 1}, "spec") == []


def test_the_osdpl_check_and_the_cli_refuse_a_template_in_values() -> None:
    doc = _manifest(services={"identity": {"keystone": {"values": {"conf": {"foo": "{{ lookup }}"}}}}})
    problems = [str(p) for p in osdpl_problems(Catalog.load(), doc)]
    assert problems == [f"spec.services.identity.keystone.values.conf.foo: {TEMPLATE_MESSAGE}"]
    assert osdpl_problems(Catalog.load(), _manifest()) == []


def test_extra_objects_only_namespaced_kinds_in_the_deployment_namespace() -> None:
    values = {"a": {"values": {"extraObjects": {
        "own": _binding(NS), "implicit": _binding(None), "other": _binding("tenant-b"),
        "cluster": _binding(None, "ClusterRoleBinding"),
        "text": yaml.safe_dump_all([_binding(NS), _binding("tenant-b")]),
        "crd": {"apiVersion": "x/v1", "kind": "Widget", "metadata": {"name": "w"}}}}},
        "b": {"extraObjects": [_binding("kube-system")]}}
    problems = [str(p) for p in extra_object_problems(values, "spec", NS)]
    assert problems == [
        "spec.a.values.extraObjects.other: RoleBinding in namespace tenant-b: values may only add objects in the "
        "deployment's namespace tenant-a",
        "spec.a.values.extraObjects.cluster: ClusterRoleBinding is cluster-scoped: values may only add objects in "
        "the deployment's namespace tenant-a",
        "spec.a.values.extraObjects.text: RoleBinding in namespace tenant-b: values may only add objects in the "
        "deployment's namespace tenant-a",
        "spec.a.values.extraObjects.crd: kind 'Widget' is not one the operator knows to be namespaced: it is not "
        "installed from values",
        "spec.b.extraObjects[0]: RoleBinding in namespace kube-system: values may only add objects in the "
        "deployment's namespace tenant-a"]


def test_the_operators_own_routes_pass() -> None:
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "keystone", "namespace": NS}, "spec": {}}
    assert extra_object_problems({"extraObjects": {"route_keystone": route}}, "values", NS) == []


def _nova_rbac(namespace: str) -> list[dict[str, Any]]:
    return [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": "nova-bootstrap"},
             "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": "nova-bootstrap"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "nova-bootstrap"},
             "subjects": [{"kind": "ServiceAccount", "name": "nova-bootstrap", "namespace": namespace}]}]


def test_rendered_objects_stay_in_the_release_namespace_or_on_the_allow_list() -> None:
    ok = [{"kind": "Secret", "metadata": {"name": "s"}}, {"kind": "Secret", "metadata": {"name": "t",
                                                                                          "namespace": NS}},
          *_nova_rbac(NS)]
    assert rendered_problems(ok, NS) == []
    wider = _nova_rbac(NS)[0] | {"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}
    elsewhere = _nova_rbac("tenant-b")[1]
    admin = _binding(None, "ClusterRoleBinding")
    assert rendered_problems([_binding("tenant-b"), wider, elsewhere, admin,
                              {"kind": "List", "items": [_binding("kube-system")]}], NS) == [
        "RoleBinding tenant-b/mine: outside the release namespace tenant-a",
        "ClusterRole nova-bootstrap: grants more than the chart's rules "
        "[{'apiGroups': [''], 'resources': ['nodes'], 'verbs': ['get', 'list']}]",
        "ClusterRoleBinding nova-bootstrap: binds ServiceAccount tenant-b/nova-bootstrap: only ServiceAccounts of "
        "the release namespace tenant-a",
        "ClusterRoleBinding mine: cluster-scoped and not one the charts need (allowed: ClusterRole nova-bootstrap, "
        "ClusterRole nova-cell-setup, ClusterRole ovn-controller, ClusterRole ovn-controller-list-nodes-role-tenant-a, "
        "ClusterRoleBinding nova-bootstrap, ClusterRoleBinding nova-cell-setup, ClusterRoleBinding ovn-controller, "
        "ClusterRoleBinding ovn-controller-list-nodes-rolebinding-tenant-a)",
        "RoleBinding kube-system/mine: outside the release namespace tenant-a"]


def _ovn_rbac(namespace: str, verbs: list[str], role: str = "") -> list[dict[str, Any]]:
    role = role or f"ovn-controller-list-nodes-role-{namespace}"
    return [{"kind": "ClusterRole", "metadata": {"name": role},
             "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": verbs}]},
            {"kind": "ClusterRoleBinding", "metadata": {"name": role.replace("-role-", "-rolebinding-")},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
             "subjects": [{"kind": "ServiceAccount", "name": "ovn-controller", "namespace": namespace}]}]


def test_ovns_cluster_rbac_passes_with_the_charts_rules_and_names_only() -> None:
    """ovn's controllers annotate their node (patch, its own ClusterRole) and list nodes through a ClusterRole named
    after the release namespace: that name in another namespace, or more verbs, are refused."""
    controller = [{"kind": "ClusterRole", "metadata": {"name": "ovn-controller"},
                   "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch", "list"]}]}]
    assert rendered_problems([*controller, *_ovn_rbac(NS, ["list", "get"])], NS) == []
    assert rendered_problems(_ovn_rbac(NS, ["list", "get", "patch"]), NS) == [
        "ClusterRole ovn-controller-list-nodes-role-tenant-a: grants more than the chart's rules "
        "[{'apiGroups': [''], 'resources': ['nodes'], 'verbs': ['list', 'get']}]"]
    assert rendered_problems([controller[0] | {"rules": [{"apiGroups": [""], "resources": ["nodes", "secrets"],
                                                            "verbs": ["get"]}]}], NS) == [
        "ClusterRole ovn-controller: grants more than the chart's rules "
        "[{'apiGroups': [''], 'resources': ['nodes'], 'verbs': ['get', 'patch', 'list']}]"]
    other = rendered_problems(_ovn_rbac("tenant-b", ["list", "get"]), NS)
    assert [p.split(":")[0] for p in other] == ["ClusterRole ovn-controller-list-nodes-role-tenant-b",
                                                "ClusterRoleBinding ovn-controller-list-nodes-rolebinding-tenant-b"]
    assert all("not one the charts need" in p for p in other)


def _postrender(stream: str, *argv: str) -> tuple[int, bytes, str]:
    out, err = io.BytesIO(), io.StringIO()
    code = postrender.main(list(argv), io.BytesIO(stream.encode()), out, err)
    return code, out.getvalue(), err.getvalue()


def test_the_post_renderer_passes_the_stream_unchanged_or_refuses_it_whole() -> None:
    good = "---\n# Source: x/templates/s.yaml\n" + yaml.safe_dump_all([{"kind": "Secret", "metadata": {
        "name": "s", "namespace": NS}, "data": {"password": "c2VjcmV0"}}, *_nova_rbac(NS)])
    assert _postrender(good, NS) == (0, good.encode(), "")
    bad = good + "---\n" + yaml.safe_dump_all([_binding("tenant-b"), _binding(None, "ClusterRoleBinding")])
    code, out, err = _postrender(bad, NS)
    assert (code, out) == (1, b"")
    assert err.startswith("refused by the operator's post-renderer: RoleBinding tenant-b/mine: outside the release "
                          "namespace tenant-a; ClusterRoleBinding mine: cluster-scoped and not one the charts need")
    assert "c2VjcmV0" not in err
    assert _postrender(good)[0] == 2


def test_helm_commands_that_render_get_the_post_renderer() -> None:
    command = with_post_renderer(["upgrade", "r", "/c.tgz", "--install", "--namespace", NS, "--values", "-"])
    assert command[command.index("--post-renderer") + 2:] == [
        "--post-renderer-args", "-m", "--post-renderer-args", "openstack_operator.kube.postrender",
        "--post-renderer-args", NS]
    assert with_post_renderer(["history", "r", "--namespace", NS]) == ["history", "r", "--namespace", NS]


def test_charts_url_credentials_are_refused() -> None:
    assert charts_url_problem("https://u:p@charts.example/osh") == CHARTS_URL_MESSAGE
    assert charts_url_problem("https://token@charts.example/osh") == CHARTS_URL_MESSAGE
    assert charts_url_problem("https://charts.example/osh/?mail=a@b") is None
    assert charts_url_problem("/srv/charts@2") is None
    doc = _manifest(artifacts={"charts_url": "https://u:p@charts.example/osh"})
    assert [str(p) for p in osdpl_problems(Catalog.load(), doc)] == [
        f"spec.artifacts.charts_url: Invalid value: {CHARTS_URL_MESSAGE}"]


def test_helm_refuses_forged_values_before_it_runs(tmp_path: Any) -> None:
    """A bundle whose values did not come through the osdpl's checks (a forged HelmBundle or values Secret)."""
    binary = str(helm_binary())  # pyhelm3 asks its version; no other command may run (no cluster here)
    helm = Helm(ChartSource(str(tmp_path)), binary=binary, cache=ChartCache(tmp_path, binary))
    forged = {"extraObjects": [_binding("tenant-b")], "conf": {"x": "{{ lookup }}"}}
    with pytest.raises(ValuesRefused) as refused:
        asyncio.run(helm.install("r", NS, "keystone", "1.0.0", forged, "f", 60))
    assert str(refused.value) == (
        f"release r: values refused: values.conf.x: {TEMPLATE_MESSAGE}; values.extraObjects[0]: RoleBinding in "
        "namespace tenant-b: values may only add objects in the deployment's namespace tenant-a")


def test_the_cli_validate_and_render_refuse_with_one_line_naming_the_field(tmp_path: Any,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "reach.yaml"
    manifest.write_text(yaml.safe_dump(_manifest(services={"identity": {"keystone": {"values": {
        "extraObjects": [_binding("tenant-b")], "conf": {"foo": "{{ lookup }}"}}}}})))
    for command in ("validate", "render"):
        assert main([command, "-f", str(manifest)]) != 0
        out, err = capsys.readouterr()
        assert "spec.services.identity.keystone.values.conf.foo: a Go template" in err, (command, err)
        assert "spec.services.identity.keystone.values.extraObjects[0]: RoleBinding in namespace tenant-b" in err
        assert "Traceback" not in err and "{{" not in out


def test_the_post_renderer_loads_without_the_cel_interpreter() -> None:
    """Helm starts the post-renderer once per release: it imports the isolation checks, never the CEL interpreter
    behind schema validation (a fifth of a second of CPU each time, hundreds of times in a test run)."""
    loaded = subprocess.run([sys.executable, "-c", "import sys, openstack_operator.kube.postrender; "
                             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('celpy', 'lark')))"],
                            capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


FAKE_HELM = """#!/bin/sh
# Answers what Helm.install asks (version, status, show chart, upgrade) and logs each command's first word.
echo "$1" >> "$(dirname "$0")/calls"
case "$1" in
  version) printf v3.21.4 ;;
  status) echo "Error: release: not found" >&2; exit 1 ;;
  show) printf 'apiVersion: v2\\nname: keystone\\nversion: 1.0.0\\n' ;;
  upgrade) printf '%s' '{"name": "r", "namespace": "tenant-a", "version": 1, "manifest": "",
    "info": {"status": "deployed", "last_deployed": "2026-12-07T10:00:00Z", "description": "x"},
    "chart": {"metadata": {"apiVersion": "v2", "name": "keystone", "version": "1.0.0"}}}' ;;
esac
"""


def test_helm_reads_a_pinned_charts_metadata_once(tmp_path: Any) -> None:
    """A pinned archive's Chart.yaml is read once per process, not by a `helm show chart` at every install."""
    binary = tmp_path / "bin" / "helm"
    binary.parent.mkdir()
    binary.write_text(FAKE_HELM)
    binary.chmod(0o755)
    source = tmp_path / "charts"
    source.mkdir()
    archive = source / "keystone-1.0.0.tgz"
    archive.write_bytes(b"a chart archive")
    digest = "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()
    helm = Helm(ChartSource(str(source)), binary=str(binary), cache=ChartCache(tmp_path / "cache", str(binary)))
    for _ in range(3):
        installed = asyncio.run(helm.install("r", NS, "keystone", "1.0.0", {}, "f", 60, digest=digest))
        assert (installed.revision, installed.chart_version) == (1, "1.0.0")
    calls = (binary.parent / "calls").read_text().split()
    assert calls.count("show") == 1 and calls.count("upgrade") == 3, calls


def test_helms_output_is_read_by_libyamls_parser_with_pyhelm3s_plain_equals(tmp_path: Any) -> None:
    """pyhelm3 reads each release's manifest from Helm's output: with LibYAML's parser (a third of the helmbundle
    process's CPU was PyYAML's), still taking a plain `=` as a string as pyhelm3's own loader does."""
    manifest = ("kind: ConfigMap\ndata: {op: =}\n---\nkind: Deployment\nmetadata: {name: keystone-api, labels: "
                "{application: keystone, component: api}}\n")
    binary = tmp_path / "helm"
    binary.write_text(FAKE_HELM.replace('"manifest": ""', '"manifest": ' + json.dumps(manifest)))
    binary.chmod(0o755)
    source = tmp_path / "charts"
    source.mkdir()
    (source / "keystone-1.0.0.tgz").write_bytes(b"a chart archive")
    helm = Helm(ChartSource(str(source)), binary=str(binary), cache=ChartCache(tmp_path / "cache", str(binary)))
    installed = asyncio.run(helm.install("r", NS, "keystone", "1.0.0", {}, "f", 60))
    assert installed.workloads == ("keystone/api/Deployment/keystone-api",)
    assert issubclass(pyhelm3.models.SafeLoader, yaml.CSafeLoader)
    assert list(yaml.load_all(manifest, Loader=pyhelm3.models.SafeLoader))[0]["data"] == {"op": "="}
