"""End to end, the secrets process: a lost credentials Secret changes no release until it is restored, a rotation
upgrades exactly the releases that use the rotated group, once, and no credential ever reaches a log, an Event or a
status; reconciles and restarts change no credential. On the real charts and the local control plane."""

from __future__ import annotations

import base64
import functools
import json
import time
from typing import Any

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.credentials import ADOPT_ANNOTATION, KEEP_FINALIZER
from openstack_operator.core.secrets.rotation import RESTORE_ANNOTATION, rotate_annotation

from .conftest import (DEPLOY_TIMEOUT, AuditLog, Deployment, Helm, Kubectl, Operators, minimal, temporary_namespace,
                       wait_for)

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


def test_reconciles_and_restarts_change_no_credential(
        deployment: Deployment, operators: Operators, kubectl: Kubectl, audit_log: AuditLog | None) -> None:
    """Twenty full reconciles and two restarts of every process; hundreds of rounds with process kills and API server
    restarts are the fault soak's (make bench-faults, invariant c)."""
    namespace = deployment.namespace
    names = (SECRET, f"{SECRET}-backup")
    before = {name: kubectl.json("-n", namespace, "get", "secret", name) for name in names}
    since = time.time()
    start = deployment.get()["metadata"]["generation"]
    for i in range(20):  # a spec change that renders the same values: a full reconcile of each process, each time
        deployment.merge_patch({"spec": {"common": {"openstack": {"values": {}}} if i % 2 == 0 else None}})
        generation = start + i + 1
        wait_for(f"generation {generation} reconciled", lambda: deployment.get()["status"].get(
            "observedGeneration") == generation, operators, timeout=60,
            describe=lambda: deployment.get()["metadata"]["generation"])
    for _ in range(2):
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


# -- an osdpl deleted and applied again, and a Secret someone else made ------------------------------------------------
def _release_secrets(kubectl: Kubectl, namespace: str, passwords: set[str]) -> dict[str, dict[str, str]]:
    """The Secrets the releases made (Helm's annotation) that hold one of `passwords`: the database, RabbitMQ and
    Keystone users the services log in with. name -> decoded data."""
    found = {}
    for secret in kubectl.json("-n", namespace, "get", "secrets")["items"]:
        if not (secret["metadata"].get("annotations") or {}).get("meta.helm.sh/release-name"):
            continue
        data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
        if any(p in value for value in data.values() for p in passwords):
            found[secret["metadata"]["name"]] = data
    return found


def _let_go(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    """The Secret, once it no longer carries the secrets process's finalizer."""
    secret: dict[str, Any] = kubectl.json("-n", namespace, "get", "secret", name)
    return secret if KEEP_FINALIZER not in (secret["metadata"].get("finalizers") or []) else None


def _gone(kubectl: Kubectl, namespace: str, kind: str, name: str) -> bool:
    return not kubectl.run("-n", namespace, "get", kind, name, "--ignore-not-found", "-o", "name").stdout.strip()


def _delete_and_wait(kubectl: Kubectl, operators: Operators, helm: Helm, namespace: str, name: str) -> None:
    """`kubectl delete osdpl`, until it is gone; its two credentials Secrets stay, let go by the secrets process."""
    kubectl.run("-n", namespace, "delete", "osdpl", name, "--wait=false")
    wait_for("the osdpl gone", lambda: _gone(kubectl, namespace, "osdpl", name), operators, timeout=DEPLOY_TIMEOUT)
    assert helm.revisions(namespace) == {}  # every release uninstalled
    for secret in (f"{name}-credentials", f"{name}-credentials-backup"):  # kept, like a retained volume
        kept = wait_for(f"{secret} let go", functools.partial(_let_go, kubectl, namespace, secret), operators,
                        timeout=60)
        assert not kept["metadata"].get("ownerReferences") and not kept["metadata"].get("deletionTimestamp")


def _print_digests(what: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    old, new = before["status"]["credentials"]["digests"], after["status"]["credentials"]["digests"]
    print(f"\n{what}: osdpl {after['metadata']['namespace']}/{after['metadata']['name']} uid "
          f"{before['metadata']['uid']} -> {after['metadata']['uid']}")
    print(f"{'credential':<32} {'digest before':<17} digest after")
    for name in sorted(set(old) | set(new)):
        print(f"{name:<32} {old.get(name, '-'):<17} {new.get(name, '-')}")


def test_a_deleted_and_re_applied_osdpl_comes_back_with_exactly_the_same_credentials(
        kubectl: Kubectl, operators: Operators, helm: Helm) -> None:
    """Deleted, then applied again with only the backup left (GitOps pruned the credentials Secret; the case with
    both Secrets kept is a unit test of the secrets reconciler): the same credentials, and the releases' own
    Secrets hold the same passwords."""
    with temporary_namespace(kubectl, "e2e-recreate") as namespace:
        cloud = Deployment(kubectl, namespace, minimal("recreate"))
        secret, backup = "recreate-credentials", "recreate-credentials-backup"
        cloud.apply()
        wait_for("Ready", cloud.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
                 describe=lambda: json.dumps(cloud.condition("Ready")))
        first = cloud.get()
        records = _records(kubectl, namespace, secret)
        passwords = {r["password"] for r in records.values()}
        used = _release_secrets(kubectl, namespace, passwords)
        assert "keystone-keystone-admin" in used and any("-db-" in n for n in used) and \
            any("-rabbitmq-" in n for n in used), sorted(used)
        _delete_and_wait(kubectl, operators, helm, namespace, "recreate")
        kubectl.run("-n", namespace, "delete", "secret", secret)
        cloud.apply()  # the same manifest again: a new uid, no status
        wait_for("Ready again", cloud.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
                 describe=lambda: json.dumps(cloud.condition("Ready")))
        after = cloud.get()
        assert after["metadata"]["uid"] != first["metadata"]["uid"]
        _print_digests("only the backup left", first, after)
        assert after["status"]["credentials"]["digests"] == first["status"]["credentials"]["digests"]
        assert _records(kubectl, namespace, secret) == records == _records(kubectl, namespace, backup)
        again = _release_secrets(kubectl, namespace, passwords)
        print(f"release Secrets holding the same passwords before and after ({len(again)}): {sorted(again)}")
        assert again == used  # the releases log in with the passwords the volumes hold


def test_a_pre_seeded_credentials_secret_nobody_adopted_is_refused_and_left_as_it_was(
        kubectl: Kubectl, operators: Operators, helm: Helm) -> None:
    with temporary_namespace(kubectl, "e2e-seeded") as namespace:
        secret = "seeded-credentials"
        chosen = {"keystone_admin": json.dumps({"username": "admin", "password": "chosenBySomeoneElse0000000000000"})}
        kubectl.run("-n", namespace, "create", "secret", "generic", secret,
                    f"--from-literal=keystone_admin={chosen['keystone_admin']}")
        seeded = kubectl.json("-n", namespace, "get", "secret", secret)
        cloud = Deployment(kubectl, namespace, minimal("seeded"))
        cloud.apply()
        report = wait_for("credentials Refused", lambda: (r := _credentials_status(cloud)).get("state") == "Refused"
                          and r, operators, timeout=60)
        print(f"\nstatus.credentials: {json.dumps(report)}")
        assert report["message"].startswith(f"Secret {secret} was not written by the operator for osdpl seeded")
        assert f"{ADOPT_ANNOTATION}={namespace}/seeded" in report["message"] and "digests" not in report
        degraded = wait_for("Degraded naming the Secret", lambda: (c := cloud.condition("Degraded")).get(
            "status") == "True" and secret in c.get("message", "") and c, operators)
        print(f"Degraded: {json.dumps(degraded)}")
        assert cloud.condition("Ready")["status"] == "False"
        assert _events(kubectl, namespace, "CredentialsRefused")
        time.sleep(5)  # several resyncs of the secrets process (5 s) and reconciles of the osdpl process
        assert kubectl.json("-n", namespace, "get", "secret", secret) == seeded  # not adopted, not overwritten
        assert _gone(kubectl, namespace, "secret", f"{secret}-backup")
        assert not kubectl.json("-n", namespace, "get", "helmbundles")["items"] and helm.revisions(namespace) == {}
        assert "chosenBySomeoneElse" not in json.dumps(cloud.get()) + kubectl.run(
            "-n", namespace, "get", "events", "-o", "json").stdout

        # Adopted on purpose by the admin: used as it is.
        kubectl.run("-n", namespace, "annotate", "secret", secret, f"{ADOPT_ANNOTATION}={namespace}/seeded")
        wait_for("credentials Ready", lambda: _credentials_status(cloud).get("state") == "Ready", operators,
                 timeout=60)
        assert _records(kubectl, namespace, secret)["keystone_admin"]["password"] == "chosenBySomeoneElse0000000000000"
        kubectl.run("-n", namespace, "delete", "osdpl", "seeded", "--wait=false")


def test_a_second_osdpl_of_the_namespace_gets_no_credentials_and_is_told_why(
        deployment: Deployment, operators: Operators, kubectl: Kubectl) -> None:
    namespace = deployment.namespace
    second = Deployment(kubectl, namespace, minimal("second"))
    second.apply()
    try:
        report = wait_for("credentials Refused", lambda: (r := _credentials_status(second)).get("state") ==
                          "Refused" and r, operators, timeout=60)
        print(f"\nstatus.credentials of the second osdpl: {json.dumps(report)}")
        assert report["message"] == (f"namespace {namespace} is held by osdpl {deployment.name} (one deployment per "
                                     f"namespace): no credentials are generated for second while "
                                     f"{deployment.name} exists")
        assert wait_for("Degraded NamespaceInUse", lambda: second.condition("Degraded").get("reason") ==
                        "NamespaceInUse", operators)
        time.sleep(3)
        for name in ("second-credentials", "second-credentials-backup"):
            assert _gone(kubectl, namespace, "secret", name)
    finally:
        kubectl.run("-n", namespace, "delete", "osdpl", "second", "--timeout=60s")
    assert deployment.ready_at_generation()
