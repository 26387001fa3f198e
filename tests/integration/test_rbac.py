"""Least privilege, as the API server sees it: the operator chart's RBAC installed with one deployment namespace and
a Ceph namespace, then `kubectl auth can-i` as each process's ServiceAccount, for what it must and must not do.

(The other e2e tests run every process with its own ServiceAccount's token, so a permission the chart lacks fails
them; this test shows the scope: no Secrets outside the deployment namespaces, nothing in kube-system, no `*`.)
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from openstack_operator.cli import PROCESSES

from .. import operator_chart
from .conftest import RBAC_KINDS, Kubectl

DEPLOY, DEPLOY2, OTHER, CEPH, OPERATOR, SYSTEM = "deploy", "deploy2", "other", "ceph", "operator", "kube-system"


class Install:
    """The chart's RBAC, installed as release `name`: namespaces by role (deploy, deploy2, other, ceph, operator)."""

    def __init__(self, kubectl: Kubectl, name: str, namespaces: dict[str, str], docs: list[dict[str, Any]]) -> None:
        self.kubectl, self.name, self.namespaces, self.docs = kubectl, name, namespaces, docs

    def account(self, process: str) -> str:
        return f"system:serviceaccount:{self.namespaces[OPERATOR]}:{self.name}-openstack-operator-{process}"

    def can(self, process: str, verb: str, resource: str, where: str | None) -> bool:
        """`resource` may name a subresource after a slash (`kubectl auth can-i` takes TYPE/NAME otherwise)."""
        scope = ["--all-namespaces"] if where is None else ["-n", self.namespaces.get(where, where)]
        kind, _, subresource = resource.partition("/")
        extra = [f"--subresource={subresource}"] if subresource else []
        result = self.kubectl.run("auth", "can-i", verb, kind, *extra, f"--as={self.account(process)}", *scope,
                                  check=False)
        assert result.stdout.strip() in ("yes", "no"), result.stderr
        return result.stdout.strip() == "yes"


@pytest.fixture(scope="module")
def install(kubectl: Kubectl, binaries: Path, crds: None) -> Iterator[Install]:
    name = f"rbac-{uuid.uuid4().hex[:6]}"
    namespaces = {role: f"{name}-{role}" for role in (DEPLOY, DEPLOY2, OTHER, CEPH, OPERATOR)}
    for namespace in namespaces.values():
        kubectl.run("create", "namespace", namespace)
    docs = [d for d in operator_chart.render(binaries / "helm", f"namespaces={{{namespaces[DEPLOY]},{namespaces[DEPLOY2]}}}",
                                             "ceph.enabled=true", f"ceph.namespace={namespaces[CEPH]}",
                                             release=name, namespace=namespaces[OPERATOR])
            if d["kind"] in RBAC_KINDS]
    kubectl.run("apply", "--server-side", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                       "items": docs}))
    yield Install(kubectl, name, namespaces, docs)
    for doc in docs:
        if doc["kind"].startswith("Cluster"):
            kubectl.run("delete", doc["kind"], doc["metadata"]["name"], "--ignore-not-found", "--wait=false")
    for namespace in namespaces.values():
        kubectl.run("delete", "namespace", namespace, "--wait=false")


# (verb, resource, where) -> the processes that may; where None: cluster-wide (a cluster-scoped resource, or every
# namespace at once). Everything not named is denied.
MATRIX: list[tuple[str, str, str | None, set[str]]] = [
    ("get", "secrets", DEPLOY, {"osdpl", "helmbundle", "secrets"}),
    ("create", "secrets", DEPLOY, {"osdpl", "helmbundle", "secrets"}),
    ("get", "secrets", OTHER, set()),
    ("list", "secrets", None, set()),
    ("get", "secrets", SYSTEM, set()),
    ("get", "secrets", CEPH, {"secrets"}),
    ("create", "secrets", CEPH, {"secrets"}),
    ("get", "secrets", OPERATOR, set()),
    ("create", "deployments.apps", DEPLOY, {"helmbundle"}),
    ("create", "deployments.apps", OTHER, set()),
    ("list", "deployments.apps", DEPLOY, {"helmbundle", "health"}),
    ("list", "pods", DEPLOY, {"helmbundle", "node"}),
    ("create", "jobs.batch", DEPLOY, {"helmbundle", "node"}),
    ("create", "jobs.batch", OTHER, set()),
    ("patch", "nodemaintenancerequests.openstack.osop.dev/status", DEPLOY, {"node"}),
    ("create", "nodemaintenancerequests.openstack.osop.dev", DEPLOY, set()),
    ("list", "deployments.apps", SYSTEM, set()),
    ("list", "pods", SYSTEM, set()),
    ("get", "configmaps", SYSTEM, set()),
    ("create", "pods", SYSTEM, set()),
    ("create", "roles.rbac.authorization.k8s.io", DEPLOY, {"helmbundle"}),
    ("create", "clusterroles.rbac.authorization.k8s.io", None, {"helmbundle"}),
    ("bind", "clusterroles.rbac.authorization.k8s.io", None, set()),
    # Another deployment namespace: Helm holds the same rights there as in the first. An osdpl of one namespace
    # cannot use them (core.isolation: values checked, the post-renderer; tests/integration/test_tenant_isolation.py).
    ("create", "rolebindings.rbac.authorization.k8s.io", DEPLOY2, {"helmbundle"}),
    ("create", "rolebindings.rbac.authorization.k8s.io", OTHER, set()),
    ("create", "rolebindings.rbac.authorization.k8s.io", SYSTEM, set()),
    # Cluster RBAC: changed and deleted only by name (test_cluster_rbac_is_changed_only_by_name), never at large.
    ("delete", "clusterrolebindings.rbac.authorization.k8s.io", None, set()),
    ("update", "clusterrolebindings.rbac.authorization.k8s.io", None, set()),
    ("delete", "clusterroles.rbac.authorization.k8s.io", None, set()),
    ("escalate", "clusterroles.rbac.authorization.k8s.io", None, set()),
    ("create", "helmbundles.openstack.osop.dev", DEPLOY, {"osdpl"}),
    ("patch", "helmbundles.openstack.osop.dev/status", DEPLOY, {"helmbundle"}),
    ("patch", "helmbundles.openstack.osop.dev", DEPLOY, {"osdpl", "helmbundle"}),
    ("patch", "openstackdeployments.openstack.osop.dev/status", DEPLOY, {"osdpl", "health", "secrets", "node"}),
    ("delete", "openstackdeployments.openstack.osop.dev", DEPLOY, set()),
    ("list", "openstackdeployments.openstack.osop.dev", OTHER, set()),
    ("create", "leases.coordination.k8s.io", DEPLOY, {"osdpl"}),
    ("create", "leases.coordination.k8s.io", OPERATOR, set(PROCESSES)),
    ("list", "leases.coordination.k8s.io", OPERATOR, set()),
    ("get", "namespaces", None, {"helmbundle"}),
    ("list", "namespaces", None, set()),
    ("delete", "namespaces", None, set()),
    ("get", "nodes", None, {"helmbundle", "node"}),
    ("patch", "nodes", None, {"node", "helmbundle"}),  # to grant it to OVN's controllers (files/rules.yaml)
    ("delete", "nodes", None, set()),
    ("*", "*", DEPLOY, set()),
    ("*", "*", None, set()),
]


def test_each_process_may_do_what_it_needs_and_nothing_outside_its_namespaces(install: Install) -> None:
    table, wrong = [], []
    for verb, resource, where, allowed in MATRIX:
        row = {p: install.can(p, verb, resource, where) for p in PROCESSES}
        table.append(f"{verb:>8} {resource:<48} {where or 'cluster':<11} " +
                     " ".join(f"{p}={'yes' if row[p] else 'no'}" for p in PROCESSES))
        wrong += [f"{p} {verb} {resource} in {where or 'the cluster'}: {'yes' if row[p] else 'no'}"
                  for p in PROCESSES if row[p] != (p in allowed)]
    print("\n" + "\n".join(table))
    assert not wrong, wrong


def test_each_process_may_renew_only_its_own_lease(install: Install) -> None:
    for process in PROCESSES:
        for other in PROCESSES:
            result = install.kubectl.run(
                "auth", "can-i", "update", f"leases.coordination.k8s.io/openstack-operator-{other}",
                f"--as={install.account(process)}", "-n", install.namespaces[OPERATOR], check=False)
            assert (result.stdout.strip() == "yes") == (process == other), (process, other, result.stdout)


def test_no_rule_of_the_chart_has_a_wildcard(install: Install) -> None:
    rules = [(d["kind"], d["metadata"]["name"], rule) for d in install.docs if d["kind"] in ("Role", "ClusterRole")
             for rule in d["rules"]]
    assert rules
    assert not [r for r in rules if "*" in [*r[2].get("verbs", []), *r[2].get("resources", []),
                                            *r[2].get("apiGroups", [])]], rules


def test_cluster_rbac_is_changed_only_by_name(install: Install) -> None:
    """The helmbundle process may update and delete the ClusterRoles and ClusterRoleBindings the charts make (by
    resourceNames), no other one: not the operator's own, not the cluster's (create: the admission policy)."""
    for resource in ("clusterroles", "clusterrolebindings"):
        for name, allowed in (("nova-bootstrap", True), ("nova-cell-setup", True), ("cluster-admin", False),
                              (f"{install.namespaces[OPERATOR]}:{install.name}-openstack-operator-helmbundle-cluster",
                               False)):
            for verb in ("update", "patch", "delete"):
                result = install.kubectl.run("auth", "can-i", verb, f"{resource}.rbac.authorization.k8s.io/{name}",
                                             f"--as={install.account('helmbundle')}", check=False)
                assert (result.stdout.strip() == "yes") == allowed, (verb, resource, name, result.stdout)
