"""The operator's own chart (charts/openstack-operator), rendered with `helm template` for tests of what it holds."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Iterable

import yaml

from devcluster.binaries import pinned_versions

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "openstack-operator"
KUBE_VERSION = pinned_versions()["K8S_VERSION"]  # the chart asks for a minimum: `helm template` needs one


def render(helm: Path, *values: str, release: str = "openstack-operator",
           namespace: str = "openstack-operator") -> list[dict[str, Any]]:
    """Every object of the chart installed as `release` in `namespace`, with `--set` `values`."""
    args = [str(helm), "template", release, str(CHART), "--namespace", namespace, "--kube-version", KUBE_VERSION]
    for value in values:
        args += ["--set", value]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"helm template of the operator chart failed: {result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def allows(rules: Iterable[dict[str, Any]], group: str, resource: str, verb: str, name: str = "") -> bool:
    """Whether RBAC `rules` grant `verb` on `resource` of API `group`, for the object `name` if given (else for
    any name); no wildcards: the chart uses none."""
    return any(group in rule.get("apiGroups", []) and resource in rule.get("resources", [])
               and verb in rule.get("verbs", []) and (not rule.get("resourceNames") or name in rule["resourceNames"])
               for rule in rules)


def cluster_role(docs: Iterable[dict[str, Any]], process: str, scope: str) -> dict[str, Any]:
    """The ClusterRole holding `process`'s rules of `scope` (files/rules.yaml: cluster, namespaced, ceph)."""
    return next(d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith(f"-{process}-{scope}"))
