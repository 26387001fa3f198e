"""End to end, the helmbundle process's trust boundary: HelmBundles that no osdpl of their namespace controls, or
that name a release in another namespace, are refused with a condition and an Event, and nothing of them is done;
the shared deployment's releases stay as they are."""

from __future__ import annotations

import json
import time
from typing import Any

from openstack_operator.core.releases.bundles import OSDPL_LABEL

from .conftest import Deployment, Helm, Kubectl, Operators, wait_for


def _hand_written(namespace: str, name: str, releases: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, **extra.pop("metadata", {})}
    return {"apiVersion": "openstack.osop.dev/v1alpha1", "kind": "HelmBundle", "metadata": metadata,
            "spec": {"service": "identity", "releases": releases, **extra}}


def _release(name: str, namespace: str) -> dict[str, Any]:
    return {"name": name, "chart": "mariadb", "version": "2026.1.0", "namespace": namespace,
            "values_from": {"secret_name": "hand-values", "key": name}}


def _refused(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    status = kubectl.json("-n", namespace, "get", "helmbundle", name).get("status") or {}
    condition: dict[str, Any] = next((c for c in status.get("conditions") or [] if c["type"] == "Refused"), {})
    return condition if condition.get("status") == "True" else {}


def test_hand_written_bundles_are_refused_and_touch_nothing(
        deployment: Deployment, operators: Operators, kubectl: Kubectl, helm: Helm) -> None:
    namespace = deployment.namespace
    osdpl = deployment.get()
    keystone_before = helm.releases(namespace)["openstack-keystone"]
    # Into kube-system, owned by nobody.
    elsewhere = _hand_written(namespace, "hand-kube-system", [_release("hand-mariadb", "kube-system")])
    # Labelled and owned, to all appearances, by the deployment's osdpl, asking to uninstall its keystone.
    forged = _hand_written(namespace, "hand-forged", [_release("openstack-keystone", namespace)], uninstall=True,
                           metadata={"labels": {OSDPL_LABEL: deployment.name}, "ownerReferences": [
                               {"apiVersion": osdpl["apiVersion"], "kind": "OpenStackDeployment",
                                "name": deployment.name, "uid": osdpl["metadata"]["uid"], "controller": True}]})
    try:
        for bundle in (elsewhere, forged):
            kubectl.run("apply", "--server-side", "-f", "-", input=json.dumps(bundle))
        refused = wait_for("the kube-system bundle refused", lambda: _refused(kubectl, namespace, "hand-kube-system"),
                           operators)
        assert "kube-system" in refused["message"] and refused["reason"] == "Untrusted"
        refused = wait_for("the forged bundle refused", lambda: _refused(kubectl, namespace, "hand-forged"), operators)
        assert "not a bundle of an osdpl" in refused["message"]
        events = kubectl.json("-n", namespace, "get", "events", "--field-selector", "reason=BundleRefused")["items"]
        assert {e["involvedObject"]["name"] for e in events} >= {"hand-kube-system", "hand-forged"}
        time.sleep(3)  # anything the process would do, it would have started by now
        assert "hand-mariadb" not in helm.releases("kube-system")
        keystone = helm.releases(namespace)["openstack-keystone"]
        assert (keystone["revision"], keystone["status"]) == (keystone_before["revision"], "deployed")
        for name in ("hand-kube-system", "hand-forged"):  # no finalizer of ours: nothing to undo
            assert not kubectl.json("-n", namespace, "get", "helmbundle", name)["metadata"].get("finalizers")
    finally:
        kubectl.run("-n", namespace, "delete", "helmbundle", "hand-kube-system", "hand-forged", "--ignore-not-found",
                    "--wait=false")
    assert deployment.ready_at_generation()
