"""The operator chart's helmbundle rules against what the real OpenStack-Helm charts install: every kind they
render, and every permission their Roles and ClusterRoles grant (Kubernetes lets a ServiceAccount grant only what it
holds itself). A chart bump that needs one more permission fails here, naming it, before any cluster is involved."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from openstack_operator.core.isolation import CLUSTER_GRANTS, CLUSTER_SCOPED_KINDS, cluster_objects, rendered_problems
from openstack_operator.kube import postrender

from .. import operator_chart
from .conftest import Deployments

# kind -> plural, where adding "s" to the lowercase kind is wrong
PLURALS = {"NetworkPolicy": "networkpolicies", "Ingress": "ingresses", "Endpoints": "endpoints"}
HELM_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "StorageClass", "CustomResourceDefinition"}


def test_the_helmbundle_process_may_install_everything_the_charts_render(deployments: Deployments,
                                                                          helm: Path) -> None:
    docs = operator_chart.render(helm)
    scoped = {"namespaced": operator_chart.cluster_role(docs, "helmbundle", "namespaced")["rules"],
              "cluster": operator_chart.cluster_role(docs, "helmbundle", "cluster")["rules"]}
    missing: set[str] = set()
    kinds: set[str] = set()
    for name in deployments:
        for manifest in deployments.get_ok(name).all_manifests():
            group = manifest["apiVersion"].rpartition("/")[0]
            kind = manifest["kind"]
            kinds.add(kind)
            scope = "cluster" if kind in CLUSTER_SCOPED else "namespaced"
            resource = PLURALS.get(kind, kind.lower() + "s")
            name = manifest["metadata"]["name"]  # cluster RBAC is changed and deleted only by name
            missing |= {f"{verb} {resource}.{group or 'core'} {name} ({scope})" for verb in HELM_VERBS
                        if not operator_chart.allows(scoped[scope], group, resource, verb, name)}
            if kind in ("Role", "ClusterRole"):  # what it grants must be held, at its scope
                held = scoped["cluster" if kind == "ClusterRole" else "namespaced"]
                missing |= {f"{verb} {resource}.{group or 'core'} (granted by {kind} {manifest['metadata']['name']})"
                            for rule in manifest.get("rules") or [] for group in rule.get("apiGroups", [""])
                            for resource in rule.get("resources", []) for verb in rule.get("verbs", [])
                            if not operator_chart.allows(held, group, resource, verb)}
    assert {"Deployment", "StatefulSet", "DaemonSet", "Job", "Role", "ClusterRole", "Secret"} <= kinds, kinds
    assert not missing, sorted(missing)


def test_every_cluster_scoped_object_of_the_charts_is_on_the_allow_list(deployments: Deployments) -> None:
    """What the real charts render with every feature: in the release namespace, or a cluster-scoped object of
    core.isolation's allow-list with exactly the charts' content; the post-renderer passes the stream whole."""
    seen: set[tuple[str, str]] = set()
    allowed: set[tuple[str, str]] = set()
    for name in deployments:
        for rendered in deployments.get_ok(name).ok():
            namespace = rendered.release.namespace
            manifests = rendered.manifests
            seen |= {(m["kind"], m["metadata"]["name"]) for m in manifests if m["kind"] in CLUSTER_SCOPED_KINDS}
            allowed |= set(cluster_objects(namespace))
            assert rendered_problems(manifests, namespace) == [], rendered.release.name
            stream = "".join(f"---\n# Source: {rendered.release.chart}/x.yaml\n{yaml.safe_dump(m)}" for m in manifests)
            assert postrender.check(stream.encode(), namespace) == [], rendered.release.name
    assert seen == allowed, sorted(seen ^ allowed)


def test_the_operator_chart_allows_exactly_the_allow_list(helm: Path) -> None:
    """The chart's admission policy and RBAC resourceNames name the same objects as core.isolation (the
    post-renderer's list), from files/cluster-objects.yaml."""
    listed = yaml.safe_load((operator_chart.CHART / "files" / "cluster-objects.yaml").read_text())
    assert listed == {grant.role: {"binding": grant.binding, "rules": list(grant.rules)} for grant in CLUSTER_GRANTS}
    namespaces = ["openstack", "cloud-b"]
    docs = operator_chart.render(helm, f"namespaces={{{','.join(namespaces)}}}")
    names = sorted({name for namespace in namespaces for _, name in cluster_objects(namespace)})
    rules = operator_chart.cluster_role(docs, "helmbundle", "cluster")["rules"]
    for kind in ("ClusterRole", "ClusterRoleBinding"):
        resource = kind.lower() + "s"
        for verb in ("update", "patch", "delete"):
            assert not operator_chart.allows(rules, "rbac.authorization.k8s.io", resource, verb, "cluster-admin")
            assert all(operator_chart.allows(rules, "rbac.authorization.k8s.io", resource, verb, n) for n in names)
    policy = next(d for d in docs if d["kind"] == "ValidatingAdmissionPolicy")
    variables = {v["name"]: json.loads(v["expression"]) for v in policy["spec"]["variables"]}
    assert variables["allowed"] == names
    assert variables["rules"] == {grant.names(namespace)[0]: list(grant.rules)
                                  for grant in CLUSTER_GRANTS for namespace in namespaces}
    assert variables["roles"] == {grant.names(namespace)[1]: grant.names(namespace)[0]
                                  for grant in CLUSTER_GRANTS for namespace in namespaces}
