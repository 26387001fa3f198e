"""End to end: the osdpl, helmbundle and health processes deploy an OpenStackDeployment as Helm releases of the
real OpenStack-Helm charts on the local control plane (kwok runs the pods), keep them in line with the manifest,
and report release states and workload health on the osdpl.

The tests share one deployment of the minimal example (conftest: deploying it takes a while). Each test starts from
it at its base manifest and Ready (the `deployment` fixture puts it back, deploying it if needed), so any test
passes alone and in any order.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from typing import Any

from .conftest import CORE_RELEASES, DEPLOY_TIMEOUT, AuditLog, Deployment, Helm, Kubectl, Operators, minimal, wait_for

def test_the_minimal_example_deploys_every_service_and_becomes_ready(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    releases = helm.releases(deployment.namespace)
    assert set(releases) == CORE_RELEASES
    assert {r["status"] for r in releases.values()} == {"deployed"}
    status = deployment.get()["status"]
    assert status["lcm_progress"] == "8/8"
    assert status["openstack_version"] == "epoxy"
    assert status["children"]["identity"]["openstack-keystone"]["state"] == "deployed"
    assert {r["chart"] for r in releases.values()} == {f"{r.removeprefix('openstack-')}-2026.1.0" for r in releases}
    # Ready means running workloads: every component of every release was checked and is Ready on kwok nodes.
    healthy, _, total = status["health_progress"].partition("/")
    assert healthy == total and int(total) >= 20, status["health_progress"]
    assert status["health"]["keystone"]["api"] == {"state": "Ready", "reason": "1/1 replicas available"}
    assert status["health"]["keystone"]["db-sync"] == {"state": "Ready", "reason": "completed"}
    assert status["health"]["mariadb"]["server"]["state"] == "Ready"
    assert status["health"]["rabbitmq"]["server"]["state"] == "Ready"
    # on every Open vSwitch node; other tests add and remove nodes, and the DaemonSet's status follows shortly
    nodes = len(kubectl.json("get", "nodes", "-l", "openvswitch=enabled")["items"])
    wait_for(f"the OVS agent on all {nodes} nodes", lambda: deployment.get()["status"]["health"]["neutron"][
        "neutron-ovs-agent"] == {"state": "Ready", "reason": f"{nodes}/{nodes} nodes available"}, operators)
    bundles = kubectl.json("-n", deployment.namespace, "get", "helmbundles")["items"]
    assert len(bundles) == 8
    assert all(r["state"] == "deployed" for b in bundles for r in b["status"]["releases"].values())
    # Values went to Helm from the rendered values (image tags of the release, replicas of the size).
    keystone = kubectl.json("-n", deployment.namespace, "get", "deployment", "keystone-api")
    assert keystone["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "quay.io/airshipit/keystone:2025.1-ubuntu_noble"
    assert keystone["spec"]["replicas"] == 1
    # The public endpoint is a Gateway API route the API server accepted.
    route = kubectl.json("-n", deployment.namespace, "get", "httproute", "keystone")
    assert route["spec"]["hostnames"] == ["keystone.cloud.example.com"]
    # Credentials are referenced from a Secret, never written into a custom resource.
    secret = kubectl.json("-n", deployment.namespace, "get", "secret", "osh-dev-credentials")
    passwords = {k for k in secret["data"]}
    assert "keystone_admin" in passwords
    assert "password" not in json.dumps([b["spec"] for b in bundles])


def _resource_versions(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    objects = kubectl.json("-n", namespace, "get", "osdpl,helmbundles,secrets")["items"]
    return {f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in objects}


def test_reapplying_an_unchanged_manifest_writes_nothing(
        deployment: Deployment, operators: Operators, kubectl: Kubectl) -> None:
    before = _resource_versions(kubectl, deployment.namespace)
    deployment.apply()  # same spec: no new generation
    deployment.merge_patch({"metadata": {"labels": {"team": "cloud"}}})  # metadata only: no new generation
    time.sleep(3)  # longer than the status coalescing window
    after = _resource_versions(kubectl, deployment.namespace)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed <= {f"OpenStackDeployment/{deployment.name}"}  # the label patch itself, nothing else
    assert deployment.get()["status"]["observedGeneration"] == deployment.get()["metadata"]["generation"]


def test_changing_one_service_value_upgrades_only_that_release(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    before = helm.revisions(deployment.namespace)
    deployment.merge_patch({"spec": {"services": {"identity": {"keystone": {"values": {"pod": {"replicas": {
        "api": 2}}}}}}}})
    wait_for("keystone upgraded", lambda: helm.revisions(deployment.namespace)["openstack-keystone"] ==
             before["openstack-keystone"] + 1, operators)
    wait_for("Ready at the new generation", deployment.ready_at_generation, operators)
    after = helm.revisions(deployment.namespace)
    assert {k: v for k, v in after.items() if k != "openstack-keystone"} == \
        {k: v for k, v in before.items() if k != "openstack-keystone"}
    assert kubectl.json("-n", deployment.namespace, "get", "deployment", "keystone-api")["spec"]["replicas"] == 2


def _keystone_api(deployment: Deployment) -> dict[str, Any]:
    entry: dict[str, Any] = (deployment.get()["status"].get("health") or {}).get("keystone", {}).get("api", {})
    return entry


def test_pods_that_cannot_be_scheduled_make_the_component_unhealthy_and_ready_false_until_fixed(
        deployment: Deployment, operators: Operators, helm: Helm) -> None:
    before = helm.revisions(deployment.namespace)["openstack-keystone"]
    # keystone-api's pods now ask for nodes that do not exist: the new pod stays Pending.
    deployment.merge_patch({"spec": {"services": {"identity": {"keystone": {"values": {"labels": {"api": {
        "node_selector_value": "nowhere"}}}}}}}})
    wait_for("keystone upgraded", lambda: helm.revisions(deployment.namespace)["openstack-keystone"] > before,
             operators)
    upgraded = time.monotonic()
    wait_for("keystone/api Unhealthy", lambda: _keystone_api(deployment).get("state") == "Unhealthy", operators,
             timeout=operators.HEALTH_GRACE_SECONDS + 10, describe=lambda: _keystone_api(deployment))
    became_unhealthy = time.monotonic() - upgraded
    assert _keystone_api(deployment)["reason"].startswith("Deployment keystone-api: no progress for more than 5s: ")
    ready = wait_for("Ready=False naming keystone/api", lambda: (c := deployment.condition("Ready"))["reason"] ==
                     "WorkloadsUnhealthy" and c, operators, timeout=10)
    assert ready["status"] == "False" and ready["message"].startswith("unhealthy: keystone/api (")
    assert deployment.condition("Degraded")["reason"] == "WorkloadsUnhealthy"
    assert deployment.get()["status"]["children"]["identity"]["openstack-keystone"]["state"] == "deployed"
    print(f"keystone/api Unhealthy {became_unhealthy:.1f} s after the upgrade (grace "
          f"{operators.HEALTH_GRACE_SECONDS} s)")

    deployment.merge_patch({"spec": {"services": {"identity": {"keystone": {"values": {"labels": None}}}}}})
    wait_for("Ready after the fix", deployment.ready_at_generation, operators,
             describe=lambda: deployment.get().get("status"))
    assert _keystone_api(deployment) == {"state": "Ready", "reason": "1/1 replicas available"}
    assert deployment.condition("Degraded")["status"] == "False"


def test_a_job_a_cronjob_runs_is_no_deployment_step(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    # What keystone's fernet-rotate schedule does weekly, now: a Job of the CronJob, labelled like the chart's Jobs.
    kubectl.run("-n", deployment.namespace, "create", "job", "rotate-now", "--from=cronjob/keystone-fernet-rotate")
    before = helm.revisions(deployment.namespace)["openstack-keystone"]
    deployment.merge_patch({"spec": {"services": {"identity": {"keystone": {"values": {"pod": {"replicas": {
        "api": 2}}}}}}}})
    wait_for("keystone upgraded", lambda: helm.revisions(deployment.namespace)["openstack-keystone"] > before,
             operators)
    # The release changed, so Ready needs health checked against a fresh LIST: the CronJob's Job is in that LIST
    # and in no index, and must not hold Ready back.
    wait_for("Ready at the new generation", deployment.ready_at_generation, operators,
             describe=lambda: deployment.condition("Ready"))
    health = deployment.get()["status"]["health"]["keystone"]
    assert "fernet-rotate" not in health and health["api"] == {"state": "Ready", "reason": "2/2 replicas available"}


def _burst_workloads(namespace: str, count: int) -> str:
    """Deployments of no pods that claim to belong to the keystone release: their controller marks them ready
    within the second they are created, so `count` workloads change status at once."""
    items = [{"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": f"burst-{i}", "namespace": namespace,
                           "labels": {"application": "burst", "component": f"c{i:03}", "release_group": "x"},
                           "annotations": {"meta.helm.sh/release-name": "openstack-keystone"}},
              "spec": {"replicas": 0, "selector": {"matchLabels": {"burst": str(i)}},
                       "template": {"metadata": {"labels": {"burst": str(i)}},
                                    "spec": {"containers": [{"name": "c", "image": "example.invalid/c"}]}}}}
             for i in range(count)]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def _health_patches(operators: Operators, deployment: Deployment) -> int:
    """PATCHes of the osdpl's status by the health process: it logs one line per PATCH (or failed PATCH)."""
    return sum(1 for line in (operators.logs / "health.log").read_text().splitlines()
               if f"osdpl {deployment.namespace}/{deployment.name}: health" in line)


def test_a_burst_of_300_workload_changes_costs_a_handful_of_status_patches(
        deployment: Deployment, operators: Operators, kubectl: Kubectl, audit_log: AuditLog | None) -> None:
    wait_for("Ready", deployment.ready_at_generation, operators)
    before = _health_patches(operators, deployment)
    started, started_epoch = time.monotonic(), time.time()
    kubectl.run("apply", "--server-side", "-f", "-", input=_burst_workloads(deployment.namespace, 300))
    created = time.monotonic() - started

    def burst_ready() -> bool:
        burst = (deployment.get()["status"].get("health") or {}).get("burst", {})
        return len(burst) == 300 and all(e["state"] == "Ready" for e in burst.values())

    wait_for("300 burst components Ready", burst_ready, operators, timeout=60)
    shown = time.monotonic() - started  # the controllers' status updates of the 300 are spread over this
    wait_for("Ready", deployment.ready_at_generation, operators)
    patches = _health_patches(operators, deployment) - before
    print(f"300 workloads created in {created:.1f} s, all shown Ready after {shown:.1f} s: {patches} health PATCHes")
    # At most one PATCH per coalescing window (1 s) while events arrive, and the last: never one per workload.
    assert patches <= shown + 2
    if audit_log is not None:  # the API server's count, of both writers of the osdpl's status
        writers = audit_log.status_patches(deployment.namespace, "openstackdeployments", started_epoch)
        print(f"osdpl status PATCHes in the audit log: {writers}")
        assert writers.get("openstack-operator/health", 0) >= patches
        assert sum(writers.values()) <= 2 * (shown + 2)
    healthy, _, total = deployment.get()["status"]["health_progress"].partition("/")
    assert healthy == total and int(total) >= 315

    before, deleted_at = _health_patches(operators, deployment), time.monotonic()
    kubectl.run("-n", deployment.namespace, "delete", "deployment", "-l", "application=burst", "--wait=false")
    wait_for("burst entries gone", lambda: "burst" not in (deployment.get()["status"].get("health") or {}),
             operators, timeout=60)
    gone = time.monotonic() - deleted_at  # the deletions' events are spread over this (longer on a busy machine)
    assert _health_patches(operators, deployment) - before <= gone + 2


def test_a_failing_release_degrades_backs_off_and_recovers_when_fixed(
        deployment: Deployment, operators: Operators, helm: Helm) -> None:
    before = helm.revisions(deployment.namespace)
    # A value the horizon chart turns into an invalid Deployment (replicas: many): the API server rejects it.
    deployment.merge_patch({"spec": {"services": {"dashboard": {"horizon": {"values": {"pod": {"replicas": {
        "server": "many"}}}}}}}})

    def horizon() -> dict[str, Any]:
        child: dict[str, Any] = deployment.get()["status"]["children"]["dashboard"]["openstack-horizon"]
        return child

    wait_for("three failed attempts", lambda: int(horizon().get("attempts", 0)) >= 3, operators)
    started = time.monotonic()
    degraded = deployment.condition("Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "ReleaseFailed"
    assert horizon()["next_attempt"] and horizon()["state"] == "failed"
    events = deployment.kubectl.json("-n", deployment.namespace, "get", "events", "--field-selector",
                                     f"involvedObject.name={deployment.name},reason=ReleaseFailed")["items"]
    assert any("openstack-horizon" in e["message"] for e in events)
    assert degraded["message"].startswith('dashboard/openstack-horizon: UPGRADE FAILED: cannot patch "horizon" with '
                                          "kind Deployment")
    assert deployment.condition("Ready")["status"] == "False"
    # Backoff doubles (2 s, 4 s, 8 s, ...): in the next 5 s at most one more attempt.
    attempts = int(horizon()["attempts"])
    time.sleep(max(0.0, 5.0 - (time.monotonic() - started)))
    assert int(horizon()["attempts"]) <= attempts + 1
    # Other services were not touched.
    after = helm.revisions(deployment.namespace)
    assert {k: v for k, v in after.items() if k != "openstack-horizon"} == \
        {k: v for k, v in before.items() if k != "openstack-horizon"}
    assert deployment.get()["status"]["lcm_progress"] == "7/8"

    deployment.merge_patch({"spec": {"services": {"dashboard": {"horizon": {"values": {"pod": {"replicas": {
        "server": 1}}}}}}}})
    wait_for("Ready after the fix", deployment.ready_at_generation, operators)
    assert deployment.condition("Degraded")["status"] == "False"
    assert "attempts" not in horizon() and "last_error" not in horizon()


def test_removing_a_service_uninstalls_it_and_adding_it_back_reinstalls(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    deployment.merge_patch({"spec": {"features": {"services": ["orchestration"]}}})
    wait_for("heat installed", lambda: "openstack-heat" in helm.releases(deployment.namespace), operators)
    wait_for("Ready with orchestration", deployment.ready_at_generation, operators,
             describe=lambda: deployment.get().get("status"))
    assert deployment.get()["status"]["lcm_progress"] == "9/9"

    deployment.merge_patch({"spec": {"features": {"services": []}}})
    wait_for("heat uninstalled", lambda: "openstack-heat" not in helm.releases(deployment.namespace), operators)
    wait_for("the orchestration bundle gone", lambda: "osh-dev-orchestration" not in {
        b["metadata"]["name"] for b in kubectl.json("-n", deployment.namespace, "get", "helmbundles")["items"]},
        operators)
    wait_for("Ready without orchestration", deployment.ready_at_generation, operators)
    status = deployment.get()["status"]
    assert "orchestration" not in status["children"] and status["lcm_progress"] == "8/8"

    deployment.merge_patch({"spec": {"features": {"services": ["orchestration"]}}})
    wait_for("heat reinstalled", lambda: "openstack-heat" in helm.releases(deployment.namespace), operators)
    wait_for("Ready again", deployment.ready_at_generation, operators)


def test_a_large_manifest_deploys(deployment: Deployment, operators: Operators, kubectl: Kubectl) -> None:
    # ~200 KB of per-service overrides: no annotation of the operator's may carry the spec (256 KiB limit).
    manifest = copy.deepcopy(deployment.get())
    big = {f"option_{i}": "x" * 200 for i in range(1000)}
    manifest["spec"].setdefault("services", {})["dashboard"] = {"horizon": {"values": {"conf": {"big": big}}}}
    assert len(json.dumps(manifest["spec"])) > 200_000
    patch = {"spec": {"services": manifest["spec"]["services"]}}
    deployment.merge_patch(patch)
    wait_for("Ready with the large spec", deployment.ready_at_generation, operators)
    annotations = deployment.get()["metadata"].get("annotations") or {}
    assert sum(len(v) for v in annotations.values()) < 10_000


def test_draft_pauses_and_an_unrenderable_spec_changes_nothing(
        deployment: Deployment, operators: Operators, helm: Helm) -> None:
    before = helm.revisions(deployment.namespace)
    deployment.merge_patch({"spec": {"draft": True, "services": {"image": {"glance": {"values": {"pod": {
        "replicas": {"api": 2}}}}}}}})
    wait_for("Progressing=False Draft", lambda: deployment.condition("Progressing").get("reason") == "Draft",
             operators)
    time.sleep(2)
    assert helm.revisions(deployment.namespace) == before
    # A conflict the schema cannot see (a mapping over a string) is caught by the renderer, naming the path.
    deployment.merge_patch({"spec": {"draft": False, "services": {"identity": {"keystone": {"values": {
        "conf": "not-a-mapping"}}}}}})
    wait_for("Ready=False InvalidSpec", lambda: deployment.condition("Ready").get("reason") == "InvalidSpec",
             operators)
    assert "spec.services.identity.keystone.values.conf" in deployment.condition("Ready")["message"]
    assert helm.revisions(deployment.namespace) == before  # not even glance: nothing is written half-way
    deployment.merge_patch({"spec": {"services": {"identity": {"keystone": {"values": {"conf": None}}}}}})
    wait_for("Ready again", deployment.ready_at_generation, operators)
    after = helm.revisions(deployment.namespace)
    assert after["openstack-glance"] == before["openstack-glance"] + 1
    assert {k: v for k, v in after.items() if k != "openstack-glance"} == \
        {k: v for k, v in before.items() if k != "openstack-glance"}


def test_an_operator_crash_mid_deployment_finishes_without_duplicate_releases(
        kubectl: Kubectl, operators: Operators, helm: Helm) -> None:
    namespace = f"e2e-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", namespace)
    try:
        second = Deployment(kubectl, namespace, minimal("crash"))
        second.apply()
        wait_for("part of the releases deployed", lambda: 0 < len(helm.releases(namespace)) < len(CORE_RELEASES),
                 operators, timeout=120)
        operators.kill()
        operators.start()
        wait_for("Ready after the restart", second.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT)
        releases = helm.releases(namespace)
        assert set(releases) == CORE_RELEASES
        # Each release was installed once: a restart re-runs nothing that had finished.
        assert {name: int(r["revision"]) for name, r in releases.items()} == {name: 1 for name in CORE_RELEASES}
    finally:
        kubectl.run("delete", "osdpl", "--all", "-n", namespace, "--wait=false")
