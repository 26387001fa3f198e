"""End to end, issue 23 items 1 and 7: a user who may only edit osdpls in namespace A cannot reach namespace B or the
cluster through Helm values or features.ceph. Each vector is refused with a message naming the field, and nothing in
B (its RoleBindings and Secrets) nor cluster RBAC changes; `kubectl auth can-i` as that user in B and cluster-wide
says no.

The layers behind the spec checks are shown on their own, as Helm runs them for the helmbundle process (its own
ServiceAccount's token): a chart that puts objects in B or binds cluster roles (what a forged bundle would install)
is refused whole by the post-renderer, and a hook, which Helm does not show the post-renderer, is stopped by the
operator chart's admission policy.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from openstack_operator.kube.helm import with_post_renderer

from .. import operator_chart
from .conftest import (OPERATOR_NAMESPACE, REPO, Deployment, Helm, Identities, Kubectl, Operators, temporary_namespace,
                       wait_for)

TENANT = "tenant-osdpl-editor"
READER = "tenant-isolation-nodes-reader"  # a ClusterRole the helmbundle process holds (nodes get, list)


@pytest.fixture
def tenant(deployment: Deployment, kubectl: Kubectl) -> Iterator[str]:
    """A ServiceAccount of A allowed only to read and edit osdpls in A; its `--as` name."""
    namespace = deployment.namespace
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": TENANT, "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": TENANT, "namespace": namespace},
         "rules": [{"apiGroups": ["openstack.osop.dev"], "resources": ["openstackdeployments"],
                    "verbs": ["get", "list", "watch", "update", "patch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": TENANT, "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": TENANT},
         "subjects": [{"kind": "ServiceAccount", "name": TENANT, "namespace": namespace}]}]
    kubectl.run("apply", "--server-side", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                       "items": objects}))
    yield f"system:serviceaccount:{namespace}:{TENANT}"
    for kind in ("RoleBinding", "Role", "ServiceAccount"):
        kubectl.run("-n", namespace, "delete", kind, TENANT, "--ignore-not-found")


@pytest.fixture
def other(kubectl: Kubectl) -> Iterator[str]:
    """Namespace B, another tenant's, with a Secret worth stealing."""
    with temporary_namespace(kubectl, "tenant-b") as name:
        kubectl.run("-n", name, "create", "secret", "generic", "b-credentials", "--from-literal=password=b-s3cret")
        yield name


def _snapshot(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    """B's RoleBindings and Secrets, and the cluster's ClusterRoleBindings, by name -> resourceVersion."""
    found = {}
    for scope, kind in ((["-n", namespace], "rolebindings"), (["-n", namespace], "secrets"),
                        ([], "clusterrolebindings")):
        for item in kubectl.json(*scope, "get", kind)["items"]:
            found[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return found


def _can(kubectl: Kubectl, user: str, verb: str, resource: str, *where: str) -> bool:
    result = kubectl.run("auth", "can-i", verb, resource, f"--as={user}", *where, check=False)
    assert result.stdout.strip() in ("yes", "no"), result.stderr
    return result.stdout.strip() == "yes"


def _invalid_spec(deployment: Deployment) -> str:
    osdpl = deployment.get()
    ready: dict[str, Any] = next((c for c in (osdpl.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})
    current = ready.get("observedGeneration") == osdpl["metadata"]["generation"]
    return str(ready.get("message", "")) if current and ready.get("reason") == "InvalidSpec" else ""


def _as_tenant(kubectl: Kubectl, user: str, deployment: Deployment, patch: dict[str, Any]) -> None:
    kubectl.run("-n", deployment.namespace, "patch", "osdpl", deployment.name, "--type=merge", f"--as={user}",
                "--patch-file=/dev/stdin", input=json.dumps(patch))


def _keystone_values(values: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"services": {"identity": {"keystone": {"values": values}}}}}


def _binding(kind: str, name: str, namespace: str | None, role_kind: str, role: str,
             subject_namespace: str) -> dict[str, Any]:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": subject_namespace}]}


def test_an_osdpl_editor_cannot_reach_another_namespace_or_the_cluster(
        deployment: Deployment, tenant: str, other: str, operators: Operators, kubectl: Kubectl,
        helm: Helm) -> None:
    a = deployment.namespace
    revisions = helm.revisions(a)
    before = _snapshot(kubectl, other)
    lookup = '{{ (lookup "v1" "Secret" "%s" "b-credentials").data.password }}' % other
    vectors = [
        ("a `lookup` value", _keystone_values({"conf": {"keystone": {"DEFAULT": {"stolen": lookup}}}}),
         "spec.services.identity.keystone.values.conf.keystone.DEFAULT.stolen: a Go template (\"{{\") would run "
         "inside Helm with the operator's rights; write the value literally"),
        ("an extraObjects RoleBinding into B",
         _keystone_values({"extraObjects": {"grab": _binding("RoleBinding", "grab", other, "ClusterRole", "admin",
                                                             a)}}),
         f"spec.services.identity.keystone.values.extraObjects.grab: RoleBinding in namespace {other}: values may "
         f"only add objects in the deployment's namespace {a}"),
        ("an extraObjects ClusterRoleBinding",
         _keystone_values({"extraObjects": [_binding("ClusterRoleBinding", "grab", None, "ClusterRole",
                                                     "cluster-admin", a)]}),
         "spec.services.identity.keystone.values.extraObjects[0]: ClusterRoleBinding is cluster-scoped: values may "
         f"only add objects in the deployment's namespace {a}"),
    ]
    try:
        for what, patch, message in vectors:
            _as_tenant(kubectl, tenant, deployment, patch)
            refused = wait_for(f"{what} refused", lambda: _invalid_spec(deployment), operators)
            print(f"\n{what}: refused: {refused}")
            assert message in refused, (what, refused)
            assert "b-s3cret" not in refused
            deployment.reset()
        # features.ceph: a keys Secret in B (the secrets process may read Secrets in every deployment namespace)
        _as_tenant(kubectl, tenant, deployment, {"spec": {"features": {
            "ceph": {"enabled": True, "keys_secret": {"namespace": other, "name": "b-credentials"}},
            "glance": {"backend": "rbd"}}}})
        report = wait_for("the Ceph Secret in B refused", lambda: ((deployment.get().get("status") or {})
                                                                   .get("ceph") or {}).get("state") == "Invalid"
                          and deployment.get()["status"]["ceph"], operators)
        print(f"a Ceph Secret reference into B: {report['message']}")
        assert report["message"].startswith(f"spec.features.ceph.keys_secret.namespace: {other} is not a Ceph "
                                            "namespace the operator is installed for")
        assert not kubectl.json("-n", a, "get", "secrets", "-o", "json", "--field-selector",
                                f"metadata.name={deployment.name}-ceph")["items"]
    finally:
        deployment.reset()
    assert _snapshot(kubectl, other) == before, "something changed in B or in cluster RBAC"
    assert helm.revisions(a) == revisions  # nothing was installed for any of them
    for verb, resource in (("get", "secrets"), ("create", "rolebindings"), ("patch", "openstackdeployments")):
        assert not _can(kubectl, tenant, verb, resource, "-n", other), (verb, resource)
    for verb, resource in (("create", "clusterrolebindings"), ("delete", "clusterrolebindings"),
                           ("get", "secrets")):
        assert not _can(kubectl, tenant, verb, resource, "--all-namespaces"), (verb, resource)
    assert _can(kubectl, tenant, "patch", "openstackdeployments", "-n", a)  # what the user may do


# -- the layers behind the spec checks ----------------------------------------------------------------------------


def _chart(directory: Path, objects: dict[str, dict[str, Any]]) -> Path:
    """A chart of `objects` by template name: what a bundle naming a chart of its own would install."""
    (directory / "templates").mkdir(parents=True)
    (directory / "Chart.yaml").write_text("apiVersion: v2\nname: forged\nversion: 0.1.0\n")
    for name, obj in objects.items():
        (directory / "templates" / f"{name}.yaml").write_text(yaml.safe_dump(obj))
    return directory


def _helm_as_helmbundle(binary: Path, kubeconfig: Path, release: str, chart: Path,
                        namespace: str) -> subprocess.CompletedProcess[str]:
    """`helm upgrade --install` as kube.helm runs it: the helmbundle process's identity, the post-renderer on."""
    command = with_post_renderer(["upgrade", release, str(chart), "--install", "--namespace", namespace,
                                  "--timeout", "60s"])
    return subprocess.run([str(binary), "--kubeconfig", str(kubeconfig), *command], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.fixture
def admission(kubectl: Kubectl, binaries: Path, deployment: Deployment) -> Iterator[None]:
    """The operator chart's admission policy for the helmbundle process, with A as its deployment namespace, and
    a ClusterRole the process holds (so that RBAC alone would let it bind it)."""
    docs = [d for d in operator_chart.render(binaries / "helm", f"namespaces={{{deployment.namespace}}}",
                                             namespace=OPERATOR_NAMESPACE)
            if d["kind"].startswith("ValidatingAdmissionPolicy")
            and d["metadata"]["name"].endswith("-helmbundle-cluster-rbac")]  # not the session's upgrade policy
    assert len(docs) == 2, [d["metadata"]["name"] for d in docs]
    reader = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": READER},
              "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]}
    kubectl.run("apply", "--server-side", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                       "items": [*docs, reader]}))
    yield
    for doc in [*docs, reader]:
        kubectl.run("delete", doc["kind"], doc["metadata"]["name"], "--ignore-not-found")


def test_a_chart_reaching_outside_is_refused_whole_by_the_post_renderer_and_admission(
        deployment: Deployment, other: str, admission: None, identities: Identities, binaries: Path,
        kubectl: Kubectl, helm: Helm, operators: Operators, tmp_path: Path) -> None:
    a, kubeconfig = deployment.namespace, identities.kubeconfigs["helmbundle"]
    release = f"forged-{uuid.uuid4().hex[:6]}"
    as_helmbundle = ["--kubeconfig", str(kubeconfig)]
    before = _snapshot(kubectl, other)
    # The admission policy is in force once the API server has loaded it: a dry run tells.
    evil = _binding("ClusterRoleBinding", "tenant-isolation-evil", None, "ClusterRole", READER, other)

    def denied() -> str:
        result = kubectl.run(*as_helmbundle, "create", "--dry-run=server", "-f", "-", input=json.dumps(evil),
                             check=False)
        return result.stderr if "not one the OpenStack-Helm charts need" in result.stderr else ""

    print("\nadmission, a ClusterRoleBinding of another name:", wait_for("the admission policy", denied, operators))
    # An allowed name, binding another role to a ServiceAccount of B: refused too.
    allowed_name = _binding("ClusterRoleBinding", "nova-bootstrap", None, "ClusterRole", READER, other)
    result = kubectl.run(*as_helmbundle, "create", "--dry-run=server", "-f", "-", input=json.dumps(allowed_name),
                         check=False)
    assert result.returncode != 0 and "ServiceAccounts of the deployment namespaces" in result.stderr, result.stderr
    # Deleting cluster RBAC that is not the charts': RBAC says no (resourceNames).
    result = kubectl.run(*as_helmbundle, "delete", "clusterrolebinding", "e2e-every-test-namespace-osdpl",
                         "--dry-run=server", check=False)
    assert result.returncode != 0 and "forbidden" in result.stderr.lower(), result.stderr
    try:
        # Objects in B and a cluster binding: the post-renderer refuses the release whole; Helm applies nothing.
        chart = _chart(tmp_path / "outside", {
            "rolebinding": _binding("RoleBinding", "tenant-isolation-grab", other, "ClusterRole", "admin", a),
            "crb": evil, "cm": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": release}}})
        result = _helm_as_helmbundle(binaries / "helm", kubeconfig, release, chart, a)
        print("post-renderer:", next(line for line in result.stderr.splitlines() if "post-renderer" in line))
        assert result.returncode != 0
        assert "refused by the operator's post-renderer" in result.stderr
        assert f"RoleBinding {other}/tenant-isolation-grab: outside the release namespace {a}" in result.stderr
        assert "ClusterRoleBinding tenant-isolation-evil: cluster-scoped and not one the charts need" in result.stderr
        assert not kubectl.json("-n", a, "get", "configmaps", "--field-selector", f"metadata.name={release}")["items"]
        # Hooks, which the post-renderer never sees. Another name: Helm first deletes a hook object of that name
        # (before-hook-creation), which RBAC refuses (resourceNames).
        hook = {"helm.sh/hook": "pre-install"}
        chart = _chart(tmp_path / "hook", {"hook": evil | {"metadata": {"name": "tenant-isolation-hook",
                                                                         "annotations": hook}}})
        result = _helm_as_helmbundle(binaries / "helm", kubeconfig, f"{release}-hook", chart, a)
        print("hook, another name:", result.stderr.strip().splitlines()[-1])
        assert result.returncode != 0 and "cannot delete resource" in result.stderr, result.stderr
        # The charts' own name, binding another role to B: the admission policy refuses its creation.
        chart = _chart(tmp_path / "hook-allowed", {"hook": allowed_name | {"metadata": {
            "name": "nova-cell-setup", "annotations": hook}}})
        result = _helm_as_helmbundle(binaries / "helm", kubeconfig, f"{release}-hook2", chart, a)
        print("hook, an allowed name:", result.stderr.strip().splitlines()[-1])
        assert result.returncode != 0 and "ServiceAccounts of the deployment namespaces" in result.stderr, \
            result.stderr
        assert "nova-cell-setup" not in kubectl.run("get", "clusterrolebindings", "-o", "name").stdout
    finally:
        for name in (release, f"{release}-hook", f"{release}-hook2"):
            subprocess.run([str(binaries / "helm"), *as_helmbundle, "uninstall", name, "-n", a, "--no-hooks"],
                           capture_output=True, timeout=120)
    time.sleep(1)
    assert _snapshot(kubectl, other) == before, "something changed in B or in cluster RBAC"
