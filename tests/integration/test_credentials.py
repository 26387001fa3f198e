"""End to end, the secrets process: a lost credentials Secret changes no release until it is restored, a rotation
upgrades exactly the releases that use the rotated group, once, and no credential ever reaches a log, an Event or a
status; reconciles and restarts change no credential. On the real charts and the local control plane."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.rotation import RESTORE_ANNOTATION, rotate_annotation

from .conftest import AuditLog, Deployment, Helm, Kubectl, Operators, wait_for

SECRET = "osh-dev-credentials"


def _records(kubectl: Kubectl, namespace: str, name: str = SECRET) -> dict[str, dict[str, str]]:
    secret = kubectl.json("-n", namespace, "get", "secret", name)
    return {k: json.loads(base64.b64decode(v)) for k, v in (secret.get("data") or {}).items()}


def _credentials_status(deployment: Deployment) -> dict[str, Any]:
    status: dict[str, Any] = (deployment.get().get("status") or {}).get("credentials") or {}
    return status


def _annotate(deployment: Deployment, key: str, value: str) -> None:
    deployment.kubectl.run("-n", deployment.namespace, "annotate", "osdpl", deployment.name, f"{key}={value}",
                           "--overwrite")


def _events(kubectl: Kubectl, namespace: str, reason: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = kubectl.json("-n", namespace, "get", "events", "--field-selector",
                                                f"reason={reason}")["items"]
    return events


def test_a_deleted_credentials_secret_is_degraded_changes_no_release_and_restores(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    namespace = deployment.namespace
    before, records = helm.revisions(namespace), _records(kubectl, namespace)
    # The scenario of the issue: the Secret deleted, then one keystone value changed.
    kubectl.run("-n", namespace, "delete", "secret", SECRET, "--wait=false")
    deployment.merge_patch({"spec": {"services": {"identity": {"keystone": {"values": {
        "pod": {"replicas": {"api": 2}}}}}}}})
    degraded = wait_for("Degraded CredentialsLost", lambda: deployment.condition("Degraded").get("reason") ==
                        "CredentialsLost" and deployment.condition("Degraded"), operators)
    assert degraded["status"] == "True" and SECRET in degraded["message"] and RESTORE_ANNOTATION in \
        degraded["message"]
    assert deployment.condition("Ready")["status"] == "False"
    assert _events(kubectl, namespace, "CredentialsLost")
    time.sleep(5)  # long enough for a reconcile of the new generation to have written, had it been allowed to
    assert helm.revisions(namespace) == before
    # The finalizer kept the Secret readable; a restore request brings it back as it was, and the change goes on.
    _annotate(deployment, RESTORE_ANNOTATION, str(time.time()))
    wait_for("Ready after the restore", deployment.ready_at_generation, operators, timeout=300,
             describe=lambda: deployment.get().get("status", {}).get("conditions"))
    assert _records(kubectl, namespace) == records
    after = helm.revisions(namespace)
    assert after["openstack-keystone"] == before["openstack-keystone"] + 1
    assert {r: v for r, v in after.items() if r != "openstack-keystone"} == \
        {r: v for r, v in before.items() if r != "openstack-keystone"}


def test_an_edited_credential_is_named_and_the_restore_puts_it_back(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    namespace = deployment.namespace
    before, records = helm.revisions(namespace), _records(kubectl, namespace)
    kubectl.run("-n", namespace, "patch", "secret", SECRET, "--type=merge", "-p",
                json.dumps({"stringData": {"glance_db": json.dumps({"username": "glance", "password": "typo"})}}))
    wait_for("Degraded naming glance_db", lambda: "changed glance_db" in deployment.condition("Degraded").get(
        "message", ""), operators)
    _annotate(deployment, RESTORE_ANNOTATION, str(time.time()))
    wait_for("Ready after the restore", deployment.ready_at_generation, operators)
    assert _records(kubectl, namespace) == records
    assert helm.revisions(namespace) == before


def _releases_using(catalog: Catalog, group: str, releases: list[str]) -> set[str]:
    charts = {chart.name for chart in catalog.charts.values()
              if any(catalog.credentials[c].rotation == group for c in chart.credentials)}
    return {r for r in releases if r.removeprefix("openstack-") in charts}


def test_a_database_rotation_upgrades_exactly_its_releases_once_and_no_credential_is_logged(
        deployment: Deployment, debug_operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    namespace, operators = deployment.namespace, debug_operators
    before, old = helm.revisions(namespace), _records(kubectl, namespace)
    request = f"r-{time.time()}"
    _annotate(deployment, rotate_annotation("database"), request)
    wait_for("the rotation done", lambda: (_credentials_status(deployment).get("rotations") or {}).get(
        "database", {}).get("phase") == "Done", operators, timeout=400,
        describe=lambda: _credentials_status(deployment).get("rotations"))
    wait_for("Ready", deployment.ready_at_generation, operators)
    new = _records(kubectl, namespace)
    after = helm.revisions(namespace)
    rotated = _releases_using(Catalog.load(), "database", list(before))
    assert rotated >= {"openstack-keystone", "openstack-glance", "openstack-placement", "openstack-neutron",
                       "openstack-horizon"}
    assert {r for r in after if after[r] != before[r]} == rotated
    assert all(after[r] == before[r] + 1 for r in rotated)  # once: the second phase upgrades nothing
    catalog = Catalog.load()
    for name, record in new.items():
        assert not name.endswith(".previous")  # the old records are forgotten at the end
        if catalog.credentials[name].rotation == "database":
            assert record["username"].startswith(old[name]["username"] + "_")
            assert record["password"] != old[name]["password"]
        else:
            assert record == old[name]
    # The same request again (a re-apply, a repeated command) rotates nothing.
    _annotate(deployment, rotate_annotation("database"), request)
    time.sleep(5)
    assert _records(kubectl, namespace) == new and helm.revisions(namespace) == after
    # Not a single credential value, old or new, in any log line, Event or status.
    values = {r["password"] for r in [*old.values(), *new.values()]}
    texts = {"logs": operators.log_text(full=True),
             "events": kubectl.run("-n", namespace, "get", "events", "-o", "json").stdout,
             "osdpl": json.dumps(deployment.get()),
             "bundles": kubectl.run("-n", namespace, "get", "helmbundles", "-o", "json").stdout}
    assert "DEBUG" in texts["logs"]
    leaks = {where for where, text in texts.items() for value in values if value in text}
    assert not leaks, f"credentials found in {sorted(leaks)}"


def test_a_hundred_reconciles_and_three_restarts_change_no_credential(
        deployment: Deployment, operators: Operators, kubectl: Kubectl, audit_log: AuditLog | None) -> None:
    namespace = deployment.namespace
    names = (SECRET, f"{SECRET}-backup")
    before = {name: kubectl.json("-n", namespace, "get", "secret", name) for name in names}
    since = time.time()
    start = deployment.get()["metadata"]["generation"]
    for i in range(100):  # a spec change that renders the same values: a full reconcile of each process, each time
        deployment.merge_patch({"spec": {"common": {"openstack": {"values": {}}} if i % 2 == 0 else None}})
        generation = start + i + 1
        wait_for(f"generation {generation} reconciled", lambda: deployment.get()["status"].get(
            "observedGeneration") == generation, operators, timeout=60,
            describe=lambda: deployment.get()["metadata"]["generation"])
    for _ in range(3):
        operators.kill()
        operators.start()
        wait_for("Ready after the restart", deployment.ready_at_generation, operators)
        time.sleep(3)  # each process has listed, watched and reconciled everything by now
    after = {name: kubectl.json("-n", namespace, "get", "secret", name) for name in names}
    for name in names:
        assert after[name]["data"] == before[name]["data"]
        assert after[name]["metadata"]["resourceVersion"] == before[name]["metadata"]["resourceVersion"]
    if audit_log is not None:
        assert audit_log.writes(namespace, "secrets", names, since) == 0
