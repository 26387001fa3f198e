"""The operator chart's helmbundle rules against what the real OpenStack-Helm charts install: every kind they
render, and every permission their Roles and ClusterRoles grant (Kubernetes lets a ServiceAccount grant only what it
holds itself). A chart bump that needs one more permission fails here, naming it, before any cluster is involved."""

from __future__ import annotations

from pathlib import Path

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
            missing |= {f"{verb} {resource}.{group or 'core'} ({scope})" for verb in HELM_VERBS
                        if not operator_chart.allows(scoped[scope], group, resource, verb)}
            if kind in ("Role", "ClusterRole"):  # what it grants must be held, at its scope
                held = scoped["cluster" if kind == "ClusterRole" else "namespaced"]
                missing |= {f"{verb} {resource}.{group or 'core'} (granted by {kind} {manifest['metadata']['name']})"
                            for rule in manifest.get("rules") or [] for group in rule.get("apiGroups", [""])
                            for resource in rule.get("resources", []) for verb in rule.get("verbs", [])
                            if not operator_chart.allows(held, group, resource, verb)}
    assert {"Deployment", "StatefulSet", "DaemonSet", "Job", "Role", "ClusterRole", "Secret"} <= kinds, kinds
    assert not missing, sorted(missing)
