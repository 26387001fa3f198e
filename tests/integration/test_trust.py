"""End to end, the helmbundle process's trust boundary: HelmBundles that no osdpl of their namespace controls, that
name a release in another namespace, or that are correctly named but ask for another chart, version, digest,
repository or values Secret than the osdpl writes, are refused with a condition and an Event, and nothing of them is
done; a leftover bundle of a gone osdpl, deleted, lets go without uninstalling anything; the shared deployment's
releases stay as they are."""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from typing import Any, Iterator

import pytest
import yaml

from openstack_operator.core.apigroup import API_VERSION
from openstack_operator.core.releases.bundles import OSDPL_LABEL, bundle_name, values_secret_name
from openstack_operator.core.rendering.renderer import fingerprint
from openstack_operator.reconcilers.helmbundle import FINALIZER

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


KEYSTONE = "openstack-keystone"
FORGED_VALUES = "forged-values"


@pytest.fixture
def osdpl_process_stopped(deployment: Deployment, operators: Operators) -> Iterator[Deployment]:
    """The shared deployment with its osdpl process stopped, so that a bundle edited by hand stays as edited (the
    process would write it back), and started again after."""
    operators.kill("osdpl")
    try:
        yield deployment
    finally:
        operators.start("osdpl")


def _keystone_values(kubectl: Kubectl, deployment: Deployment) -> dict[str, Any]:
    secret = kubectl.json("-n", deployment.namespace, "get", "secret",
                          values_secret_name(deployment.name, "identity"))
    values: dict[str, Any] = yaml.safe_load(base64.b64decode(secret["data"][KEYSTONE]).decode()) or {}
    return values


def _forged(release: dict[str, Any], values: dict[str, Any], namespace: str, **change: Any) -> dict[str, Any]:
    """The release with `change` (None: the key left out), and the fingerprint recomputed as a forger would (so that the values check alone
    does not stop it)."""
    forged = {key: value for key, value in {**copy.deepcopy(release), **change}.items() if value is not None}
    forged["fingerprint"] = fingerprint(forged["chart"], forged["version"], forged.get("digest", ""), namespace,
                                        values)
    return forged


def _refusal(kubectl: Kubectl, namespace: str, name: str, generation: int) -> dict[str, Any]:
    """The bundle's Refused condition once it speaks of `generation` or later."""
    found = kubectl.json("-n", namespace, "get", "helmbundle", name)
    condition: dict[str, Any] = next((c for c in (found.get("status") or {}).get("conditions") or []
                                      if c["type"] == "Refused"), {})
    return condition if condition.get("observedGeneration", 0) >= generation else {}


def test_a_correctly_named_bundle_that_asks_for_another_chart_or_values_is_refused(
        osdpl_process_stopped: Deployment, operators: Operators, kubectl: Kubectl, helm: Helm) -> None:
    deployment = osdpl_process_stopped
    namespace, name = deployment.namespace, bundle_name(deployment.name, "identity")
    original = kubectl.json("-n", namespace, "get", "helmbundle", name)
    index = next(i for i, r in enumerate(original["spec"]["releases"]) if r["name"] == KEYSTONE)
    release = original["spec"]["releases"][index]
    values = _keystone_values(kubectl, deployment)
    forged_values = {"pod": {"replicas": {"api": 7}}}
    kubectl.run("-n", namespace, "create", "secret", "generic", FORGED_VALUES,
                f"--from-literal={KEYSTONE}={yaml.safe_dump(forged_values)}")
    forgeries = [
        ("chart", _forged(release, values, namespace, chart="mariadb"), "chart mariadb is not the catalog's keystone"),
        ("version", _forged(release, values, namespace, version="2025.2.0"), "version 2025.2.0 is not the catalog's"),
        ("no digest", _forged(release, values, namespace, digest=None), "digest (unset) is not the catalog's"),
        ("digest", _forged(release, values, namespace, digest="sha256:" + "0" * 64), "digest sha256:0000"),
        ("repository", _forged(release, values, namespace, repository="http://127.0.0.1:9/forged"),
         "repository is not spec.artifacts.charts_url"),
        ("values Secret", _forged(release, forged_values, namespace,
                                  values_from={"secret_name": FORGED_VALUES, "key": KEYSTONE}),
         f"values_from Secret {FORGED_VALUES} key {KEYSTONE} is not Secret"),
    ]
    keystone_before = helm.releases(namespace)[KEYSTONE]
    try:
        for what, forged, why in forgeries:
            patch = [{"op": "replace", "path": f"/spec/releases/{index}", "value": forged}]
            kubectl.run("-n", namespace, "patch", "helmbundle", name, "--type=json", "--patch-file=/dev/stdin",
                        input=json.dumps(patch))
            generation = kubectl.json("-n", namespace, "get", "helmbundle", name)["metadata"]["generation"]
            refused = wait_for(f"the bundle with another {what} refused",
                               lambda: _refusal(kubectl, namespace, name, generation), operators)
            assert refused["status"] == "True" and refused["reason"] == "Untrusted", what
            assert why in refused["message"] and "127.0.0.1" not in refused["message"], (what, refused["message"])
            time.sleep(3)  # anything the process would do, it would have started by now
            keystone = helm.releases(namespace)[KEYSTONE]
            assert (keystone["revision"], keystone["status"]) == (keystone_before["revision"], "deployed"), what
        events = kubectl.json("-n", namespace, "get", "events", "--field-selector",
                              f"reason=BundleRefused,involvedObject.name={name}")["items"]
        assert events
    finally:
        kubectl.run("-n", namespace, "patch", "helmbundle", name, "--type=json", "--patch-file=/dev/stdin",
                    input=json.dumps([{"op": "replace", "path": "/spec", "value": original["spec"]}]))
        kubectl.run("-n", namespace, "delete", "secret", FORGED_VALUES, "--ignore-not-found")
    generation = kubectl.json("-n", namespace, "get", "helmbundle", name)["metadata"]["generation"]
    trusted = wait_for("the bundle trusted again", lambda: _refusal(kubectl, namespace, name, generation), operators)
    assert trusted["status"] == "False"
    assert helm.releases(namespace)[KEYSTONE]["revision"] == keystone_before["revision"]


def test_a_leftover_bundle_of_a_gone_osdpl_deleted_does_not_uninstall_the_releases_of_the_osdpl_now_there(
        deployment: Deployment, operators: Operators, kubectl: Kubectl, helm: Helm) -> None:
    """Release names are the same for every osdpl: the leftover names the shared deployment's keystone."""
    namespace, gone = deployment.namespace, "gone"
    name = bundle_name(gone, "identity")
    real = kubectl.json("-n", namespace, "get", "helmbundle", bundle_name(deployment.name, "identity"))
    release = next(r for r in real["spec"]["releases"] if r["name"] == KEYSTONE)
    leftover = {"apiVersion": API_VERSION, "kind": "HelmBundle", "metadata": {
        "name": name, "namespace": namespace, "labels": {OSDPL_LABEL: gone}, "finalizers": [FINALIZER],
        "ownerReferences": [{"apiVersion": API_VERSION, "kind": "OpenStackDeployment", "name": gone,
                             "uid": str(uuid.uuid4()), "controller": True}]},
        "spec": {"service": "identity", "depends_on": [], "uninstall": False,
                 "releases": [{**release, "values_from": {"secret_name": values_secret_name(gone, "identity"),
                                                          "key": KEYSTONE}}]}}
    keystone_before = helm.releases(namespace)[KEYSTONE]
    try:
        kubectl.run("create", "-f", "-", input=json.dumps(leftover))
        # Its owner does not exist: the garbage collector may delete it first; either way it is being deleted.
        kubectl.run("-n", namespace, "delete", "helmbundle", name, "--wait=false", "--ignore-not-found")
        wait_for("the leftover let go", lambda: not kubectl.run(
            "-n", namespace, "get", "helmbundle", name, "--ignore-not-found", "-o", "name").stdout.strip(), operators)
        events = kubectl.json("-n", namespace, "get", "events", "--field-selector",
                              f"reason=ReleasesKept,involvedObject.name={name}")["items"]
        assert events and f"osdpl {gone} does not exist" in events[0]["message"]
        time.sleep(3)
        keystone = helm.releases(namespace)[KEYSTONE]
        assert (keystone["revision"], keystone["status"]) == (keystone_before["revision"], "deployed")
    finally:
        found = kubectl.run("-n", namespace, "get", "helmbundle", name, "--ignore-not-found", "-o", "name").stdout
        if found.strip():
            kubectl.run("-n", namespace, "patch", "helmbundle", name, "--type=merge", "-p",
                        json.dumps({"metadata": {"finalizers": None}}))
            kubectl.run("-n", namespace, "delete", "helmbundle", name, "--ignore-not-found", "--wait=false")
    assert deployment.ready_at_generation()
