"""End to end, faults that must not lose a cloud: deletion under every propagation policy and of the namespace, a
second osdpl in the namespace, a chart repository outage, a helmbundle process killed mid-upgrade, workloads deleted
behind the operator's back, an API server restart mid-deployment. On the real charts and the local control plane;
the tests that change the shared deployment leave it to the `deployment` fixture to put back."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from devcluster import Cluster
from devcluster.charts import chart_directory, serving
from devcluster.processes import free_port

from .conftest import (CORE_RELEASES, DEPLOY_TIMEOUT, AuditLog, Deployment, Helm, Kubectl, Operators, minimal,
                       wait_for)

HELM_RECORD = re.compile(r"^sh\.helm\.release\.v1\.(?P<release>.+)\.v\d+$")


def _gone(kubectl: Kubectl, namespace: str, kind: str, name: str) -> bool:
    return not kubectl.run("-n", namespace, "get", kind, name, "--ignore-not-found", "-o", "name").stdout.strip()


def _events(kubectl: Kubectl, namespace: str, involved: str, reason: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = kubectl.json("-n", namespace, "get", "events", "--field-selector",
                                                f"involvedObject.name={involved},reason={reason}")["items"]
    return events


@pytest.mark.parametrize("policy", ["background", "foreground", "orphan"])
def test_deleting_the_osdpl_uninstalls_every_release_dependents_first_under_any_propagation_policy(
        policy: str, deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl,
        audit_log: AuditLog | None) -> None:
    namespace = deployment.namespace
    bundles = {b["spec"]["service"]: b["spec"] for b in kubectl.json("-n", namespace, "get", "helmbundles")["items"]}
    since = time.time()
    kubectl.run("-n", namespace, "delete", "osdpl", deployment.name, f"--cascade={policy}", "--wait=false")
    wait_for("the osdpl gone", lambda: _gone(kubectl, namespace, "osdpl", deployment.name), operators)
    assert helm.releases(namespace) == {}
    assert kubectl.json("-n", namespace, "get", "helmbundles")["items"] == []
    secrets = {s["metadata"]["name"] for s in kubectl.json("-n", namespace, "get", "secrets")["items"]}
    assert not [s for s in secrets if s.endswith("-values")]
    assert f"{deployment.name}-credentials" in secrets  # kept: databases on volumes still hold these passwords
    if audit_log is None:
        return
    # Dependents first: every release of a service was uninstalled (Helm deletes its record last) before any
    # release of a service it depends on.
    deleted: dict[str, float] = {}
    for name, at in audit_log.deletions(namespace, "secrets", since).items():
        match = HELM_RECORD.match(name)
        if match:
            deleted[match["release"]] = max(deleted.get(match["release"], 0.0), at)
    assert set(deleted) == CORE_RELEASES
    for service, spec in bundles.items():
        for dependency in spec["depends_on"]:
            last_of_dependent = max(deleted[r["name"]] for r in spec["releases"])
            first_of_dependency = min(deleted[r["name"]] for r in bundles[dependency]["releases"])
            assert last_of_dependent <= first_of_dependency, (service, dependency)


def test_a_second_osdpl_in_the_namespace_is_degraded_and_touches_nothing(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    before = helm.revisions(deployment.namespace)
    intruder = Deployment(kubectl, deployment.namespace, minimal("intruder"))
    intruder.apply()
    try:
        degraded = wait_for("the second osdpl Degraded", lambda: (c := intruder.condition("Degraded")).get(
            "reason") == "NamespaceInUse" and c, operators)
        assert degraded["status"] == "True" and deployment.name in degraded["message"]
        assert intruder.condition("Ready")["status"] == "False"
        wait_for("an Event saying so", lambda: _events(kubectl, deployment.namespace, "intruder", "NamespaceInUse"),
                 operators, timeout=30)
        assert not kubectl.json("-n", deployment.namespace, "get", "helmbundles", "-l",
                                "openstack.osop.dev/osdpl=intruder")["items"]
        assert not _gone(kubectl, deployment.namespace, "osdpl", "intruder")
        # The node process restarted serves the holder, not the osdpl its index lists first ("intruder" sorts
        # before the holder's name): the holder's status.nodes, dropped here, is written again, never the intruder's.
        assert intruder.name < deployment.name
        kubectl.run("-n", deployment.namespace, "patch", "osdpl", deployment.name, "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": {"nodes": None}}))
        operators.kill("node")
        operators.start("node")
        wait_for("the holder's status.nodes written by the restarted node process",
                 lambda: (deployment.get().get("status") or {}).get("nodes"), operators)
        time.sleep(2)
        status = intruder.get().get("status") or {}
        assert "nodes" not in status and "health" not in status, status
    finally:
        # Deleting the second one uninstalls nothing of the first.
        kubectl.run("-n", deployment.namespace, "delete", "osdpl", "intruder", "--timeout=60s")
    time.sleep(2)
    assert helm.revisions(deployment.namespace) == before
    assert deployment.ready_at_generation()


def _keystone(deployment: Deployment) -> dict[str, Any]:
    child: dict[str, Any] = deployment.get()["status"]["children"]["identity"]["openstack-keystone"]
    return child


def test_a_chart_repository_down_past_the_retry_cap_ends_ready_without_any_edit(
        deployment: Deployment, operators: Operators, helm: Helm, tmp_path: Path) -> None:
    """The repository stays down for more than two of the longest waits between attempts (RETRY_MAX_SECONDS): the
    operator keeps trying at that cap, never gives up, and installs when it is back. Longer outages are the fault
    soak's (make bench-faults)."""
    outage = 2 * operators.RETRY_MAX_SECONDS + 5
    before = helm.revisions(deployment.namespace)["openstack-keystone"]
    port = free_port()
    # A helmbundle process with no chart cached, and a repository that is not there yet.
    operators.kill("helmbundle")
    operators.start("helmbundle", OSOP_CHART_CACHE=str(tmp_path / "empty-cache"))
    try:
        deployment.merge_patch({"spec": {"artifacts": {"charts_url": f"http://127.0.0.1:{port}"}, "services": {
            "identity": {"keystone": {"values": {"pod": {"replicas": {"api": 2}}}}}}}})
        wait_for("Degraded ChartUnavailable", lambda: deployment.condition("Degraded").get("reason") ==
                 "ChartUnavailable", operators)
        down_since = time.monotonic()
        assert "keystone" in deployment.condition("Degraded")["message"]
        time.sleep(max(0.0, outage - (time.monotonic() - down_since)))
        failing = _keystone(deployment)
        assert failing["state"] == "failed" and int(failing["attempts"]) >= 4, failing
        assert failing["next_attempt"] and "127.0.0.1" in failing["last_error"]
        assert deployment.condition("Ready")["status"] == "False"
        with serving(chart_directory(), port):
            wait_for("Ready once the repository is back", deployment.ready_at_generation, operators,
                     timeout=operators.RETRY_MAX_SECONDS * 1.2 + 120)
        assert helm.revisions(deployment.namespace)["openstack-keystone"] == before + 1
        assert "attempts" not in _keystone(deployment)
    finally:
        operators.kill("helmbundle")
        operators.start("helmbundle")


HELM_OPERATIONS = {b"install", b"upgrade", b"rollback", b"uninstall"}


def _helm_processes(release: str, namespace: str) -> dict[int, str]:
    """pid -> command line of each running `helm` that changes `release` in `namespace` (reads such as `helm
    history` aside; another cluster's run on this machine has a release of the same name in another namespace)."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if entry.name.isdigit() and argv[0].endswith(b"helm") and release.encode() in argv \
                and namespace.encode() in argv and HELM_OPERATIONS & set(argv):
            found[int(entry.name)] = b" ".join(argv).decode(errors="replace")
    return found


def test_a_helmbundle_process_killed_mid_upgrade_leaves_no_helm_behind_and_the_release_recovers(
        deployment: Deployment, operators: Operators, helm: Helm) -> None:
    release = "openstack-keystone"
    # A slow chart: keystone's Jobs ask for nodes that do not exist, so its post-upgrade hook never completes and
    # `helm upgrade` waits on it.
    deployment.merge_patch({"spec": {"services": {"identity": {"keystone": {"values": {"labels": {"job": {
        "node_selector_value": "nowhere"}}}}}}}})
    wait_for("keystone pending-upgrade", lambda: helm.releases(deployment.namespace)[release]["status"] ==
             "pending-upgrade", operators)
    stuck = wait_for("the helm upgrade running", lambda: _helm_processes(release, deployment.namespace), operators,
                     timeout=30)
    operators.kill("helmbundle")
    assert all(Path(f"/proc/{pid}").exists() for pid in stuck)  # SIGKILL of its parent left helm running on
    operators.start("helmbundle")
    wait_for("the orphaned helm ended by the new process", lambda: not any(
        Path(f"/proc/{pid}").exists() for pid in stuck), operators, timeout=60)
    # The new process recovers the pending release and tries again (and waits on the hook again): at most one
    # helm works on the release at any time.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        running = _helm_processes(release, deployment.namespace)
        assert len(running) <= 1, running
        time.sleep(0.2)
    # The fix supersedes the waiting upgrade at once, without waiting for Helm's timeout.
    deployment.merge_patch({"spec": {"services": {"identity": {"keystone": {"values": {"labels": None}}}}}})
    fixed = time.monotonic()
    wait_for("Ready after the fix", deployment.ready_at_generation, operators)
    assert time.monotonic() - fixed < 200
    # Helm's history keeps the revision the kill interrupted as pending-upgrade; nothing after it is left pending.
    statuses = [entry["status"] for entry in helm.history(deployment.namespace, release)]
    assert statuses[-1] == "deployed" and [s for s in statuses if s.startswith("pending")] == ["pending-upgrade"], \
        statuses


def test_deleted_workloads_make_ready_false_until_a_reapply_recreates_them(
        deployment: Deployment, operators: Operators, kubectl: Kubectl) -> None:
    kubectl.run("-n", deployment.namespace, "delete", "deployment", "horizon")
    ready = wait_for("Ready=False naming the missing workload", lambda: (c := deployment.condition("Ready"))[
        "status"] == "False" and c, operators, timeout=60)
    assert ready["reason"] == "WorkloadsUnhealthy" and "horizon" in ready["message"] and "missing" in \
        ready["message"], ready
    assert deployment.condition("Degraded")["status"] == "True"
    assert deployment.get()["status"]["children"]["dashboard"]["openstack-horizon"]["workloads"]
    # Asking for a reapply (no spec change, nothing in Git) upgrades the releases with the same values.
    kubectl.run("-n", deployment.namespace, "annotate", "osdpl", deployment.name,
                f"openstack.osop.dev/reapply={uuid.uuid4().hex[:8]}", "--overwrite")
    wait_for("Ready after the reapply", deployment.ready_at_generation, operators)
    assert not _gone(kubectl, deployment.namespace, "deployment", "horizon")


def _cluster_roles_of(kubectl: Kubectl, namespace: str) -> list[str]:
    return [r["metadata"]["name"] for kind in ("clusterroles", "clusterrolebindings")
            for r in kubectl.json("get", kind)["items"]
            if (r["metadata"].get("annotations") or {}).get("meta.helm.sh/release-namespace") == namespace]


def test_an_api_server_restart_mid_deployment_ends_ready_and_deleting_the_namespace_leaves_nothing(
        cluster: Cluster | None, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    if cluster is None:
        pytest.skip("restarts the API server of the local control plane only")
    namespace = f"e2e-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", namespace)
    manifest = minimal("restart")
    manifest["spec"].setdefault("features", {})["services"] = ["compute"]  # nova binds ClusterRoles
    restart = Deployment(kubectl, namespace, manifest)
    restart.apply()
    wait_for("part of the releases deployed", lambda: 0 < len(helm.releases(namespace)) < len(CORE_RELEASES),
             operators, timeout=120)
    cluster.restart_apiserver(down_seconds=5)
    wait_for("Ready after the restart", restart.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
             describe=lambda: json.dumps(restart.condition("Ready")))
    assert _cluster_roles_of(kubectl, namespace)  # what a namespace deletion alone would leave behind

    kubectl.run("delete", "namespace", namespace, "--wait=false")
    wait_for("the namespace gone", lambda: _gone(kubectl, "default", "namespace", namespace), operators,
             timeout=300)
    assert _cluster_roles_of(kubectl, namespace) == []


def test_a_write_the_api_server_refuses_is_a_condition_and_an_event_naming_the_object_and_is_retried(
        kubectl: Kubectl, operators: Operators) -> None:
    namespace = f"e2e-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", namespace)
    try:
        # No HelmBundle may be created in this namespace: the first bundle write is refused.
        kubectl.run("-n", namespace, "create", "quota", "no-bundles",
                    "--hard=count/helmbundles.openstack.osop.dev=0")
        refused = Deployment(kubectl, namespace, minimal("refused"))
        refused.apply()
        ready = wait_for("Ready=False QuotaExceeded", lambda: (c := refused.condition("Ready")).get(
            "reason") == "QuotaExceeded" and c, operators, timeout=60)
        assert ready["message"].startswith(f"creating HelmBundle {namespace}/refused-"), ready
        assert "exceeded quota: no-bundles" in ready["message"]
        assert refused.condition("Degraded")["reason"] == "QuotaExceeded"
        wait_for("an Event saying so", lambda: _events(kubectl, namespace, "refused", "QuotaExceeded"), operators,
                 timeout=30)
        # Raised by the cluster's administrator: the next attempt goes through, no edit of the osdpl needed.
        kubectl.run("-n", namespace, "delete", "quota", "no-bundles")
        wait_for("the bundles written", lambda: kubectl.json("-n", namespace, "get", "helmbundles")["items"],
                 operators, timeout=operators.RETRY_MAX_SECONDS * 1.2 + 30)
        wait_for("the refusal gone from the conditions", lambda: refused.condition("Degraded").get("reason") !=
                 "QuotaExceeded", operators, timeout=30)
    finally:
        kubectl.run("delete", "namespace", namespace, "--wait=false")
