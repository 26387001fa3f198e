"""The secrets process's decisions (reconcilers.secrets), with the cluster replaced by an in-memory fake gateway:
credentials generated once and recorded as digests only, a lost Secret reported and restored from the backup,
rotations on request, the finalizers let go, the exchange, and refused writes retried by the retry policy. (The
integration tests show the same against a real API server.)"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import json
from typing import Any, Awaitable, Mapping, TypeVar

import kopf
import pytest

from openstack_operator.controllers.secrets import build
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.errors import ApiWriteError
from openstack_operator.core.models.osdpl_status import SECRETS, CredentialsView, SectionPatch
from openstack_operator.core.secrets import amphora_pki
from openstack_operator.core.secrets.ceph import GATEWAY_CREDENTIAL
from openstack_operator.core.secrets.credentials import (PREVIOUS, Stored, digests, parse_secret,
                                                         required_credentials, secret_data)
from openstack_operator.core.secrets.rotation import RESTORE_ANNOTATION, rotate_annotation
from openstack_operator.core.settings import Settings
from openstack_operator.kube.process import Runtime
from openstack_operator.core.secrets.credentials import backup_secret_name, credentials_secret_name
from openstack_operator.reconcilers.secrets import GONE_RETRY_SECONDS, RENEWAL_CHECK_SECONDS, SecretsReconciler

from .conftest import load_example
from .merge_patch import merged

NS, NAME = "ns", "osh"
KEY = (NS, NAME)
MAIN, BACKUP = f"{NAME}-credentials", f"{NAME}-credentials-backup"
KEEP = "secrets.openstack.osop.dev/keep-credentials"
OURS = {"openstack.osop.dev/osdpl": NAME}  # the label the secrets process writes on both Secrets
T = TypeVar("T")


def run(coroutine: Awaitable[T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout=20)
    return asyncio.run(bounded())


def _refused() -> ApiWriteError:
    return ApiWriteError("updating", "Secret", NS, BACKUP, 403, "secrets is forbidden")


class FakeCluster:
    """The cluster as the secrets gateway shows it: objects as plain dicts (Secret data base64-encoded), each write
    checked against the resourceVersion it was read at, and what the reconciler did, recorded."""

    def __init__(self) -> None:
        self.osdpls: dict[tuple[str, str], dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.holders: dict[str, str] = {NS: NAME}
        self.events: list[tuple[str, str, str]] = []  # kind, reason, message
        self.status_patches: list[dict[str, Any]] = []
        self.secret_writes: list[str] = []
        self.refusals: list[ApiWriteError] = []  # raised by the next writes of the credentials Secrets
        self.ceph_copies: list[Mapping[str, Any]] = []
        self.published: list[tuple[str, Mapping[str, str] | None]] = []
        self.withdrawn: list[str] = []
        self._version = 0

    # -- what the test arranges --------------------------------------------------------------------------------
    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def add_osdpl(self, body: dict[str, Any]) -> None:
        body["metadata"].setdefault("resourceVersion", self._next_version())
        self.osdpls[(body["metadata"]["namespace"], body["metadata"]["name"])] = body

    def body(self) -> dict[str, Any]:
        return self.osdpls[KEY]

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.body().get("status") or {}
        return status

    def annotate(self, key: str, value: str) -> None:
        self.body()["metadata"].setdefault("annotations", {})[key] = value

    def data(self, name: str) -> dict[str, str] | None:
        found = self.secrets.get((NS, name))
        if found is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in found["data"].items()}

    def stored(self, catalog: Catalog, name: str) -> Stored:
        data = self.data(name)
        assert data is not None, f"Secret {name} is absent"
        return parse_secret(catalog, data)

    def put_secret(self, name: str, data: Mapping[str, str], finalizers: list[str] | None = None,
                   labels: Mapping[str, str] | None = None, creation: str = "2024-01-01T00:00:00Z",
                   annotations: Mapping[str, str] | None = None) -> None:
        """Create or replace a Secret as someone else would (no resourceVersion check)."""
        self.secrets[(NS, name)] = {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": NS, "labels": dict(labels or {}),
                         **({"annotations": dict(annotations)} if annotations else {}),
                         "finalizers": list(finalizers or []), "resourceVersion": self._next_version(),
                         "creationTimestamp": creation},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}

    def delete_secret(self, name: str) -> None:
        """`kubectl delete`: with a finalizer, the Secret stays readable, being deleted."""
        found = self.secrets[(NS, name)]
        if found["metadata"].get("finalizers"):
            found["metadata"]["deletionTimestamp"] = "2024-01-02T00:00:00Z"
        else:
            del self.secrets[(NS, name)]

    # -- the gateway (reconcilers.secrets.SecretsCluster) ---------------------------------------------------------
    async def osdpl(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.osdpls.get((namespace, name))
        return copy.deepcopy(found) if found is not None else None

    async def namespace_holder(self, namespace: str) -> str | None:
        return self.holders.get(namespace)

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.secrets.get((namespace, name))
        return copy.deepcopy(found) if found is not None else None

    async def write_credentials(self, namespace: str, osdpl: str, stored: Stored, labels: Mapping[str, str],
                                main: Mapping[str, Any] | None, backup: Mapping[str, Any] | None) -> bool:
        wrote = False
        for name, current in ((backup_secret_name(osdpl), backup), (credentials_secret_name(osdpl), main)):
            wrote |= self._apply(namespace, name, secret_data(stored), labels, current)
        return wrote

    def _apply(self, namespace: str, name: str, data: Mapping[str, str], labels: Mapping[str, str],
               current: Mapping[str, Any] | None) -> bool:
        stored = self.secrets.get((namespace, name))
        finalizers = sorted({KEEP, *(current["metadata"].get("finalizers") or [] if current else [])})
        if current is not None and self.data(name) == dict(data) and \
                finalizers == sorted(current["metadata"].get("finalizers") or []):
            return False
        if self.refusals:
            raise self.refusals.pop(0)
        assert (stored is None) == (current is None), "created over an existing Secret, or replaced a gone one"
        if stored is not None and current is not None:
            assert stored["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"], "a stale write"
        creation = stored["metadata"]["creationTimestamp"] if stored else "2024-01-01T00:00:00Z"
        self.put_secret(name, data, finalizers, labels, creation)
        self.secret_writes.append(name)
        return True

    async def write_backup(self, namespace: str, osdpl: str, stored: Stored, labels: Mapping[str, str],
                           backup: Mapping[str, Any] | None) -> bool:
        return self._apply(namespace, backup_secret_name(osdpl), secret_data(stored), labels, backup)

    async def drop_keep_finalizer(self, secret: Mapping[str, Any]) -> None:
        stored = self.secrets[(NS, secret["metadata"]["name"])]
        assert stored["metadata"]["resourceVersion"] == secret["metadata"]["resourceVersion"]
        stored["metadata"]["finalizers"] = [f for f in stored["metadata"]["finalizers"] if f != KEEP]
        stored["metadata"]["resourceVersion"] = self._next_version()
        if stored["metadata"].get("deletionTimestamp") and not stored["metadata"]["finalizers"]:
            del self.secrets[(NS, secret["metadata"]["name"])]

    async def patch_osdpl_status(self, namespace: str, name: str, patch: SectionPatch) -> None:
        sent = patch.sent_by(SECRETS)  # as the gateway's one write (kube.osdpl_status.patch_section) does
        self.status_patches.append(copy.deepcopy(sent))
        body = self.osdpls[(namespace, name)]
        body["status"] = merged(body.get("status") or {}, sent)

    async def post_event(self, involved: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        assert involved["metadata"]["name"] == NAME
        self.events.append((kind, reason, message))

    async def copy_ceph_keys(self, osdpl: Mapping[str, Any], features: Mapping[str, Any],
                             labels: Mapping[str, str]) -> dict[str, str]:
        self.ceph_copies.append(labels)
        return {"state": "Waiting", "source": "openstack-ceph-shared/openstack-ceph-keys",
                "message": "Secret openstack-ceph-shared/openstack-ceph-keys does not exist (yet)"}

    async def publish_gateway_credentials(self, target: str, data: Mapping[str, str] | None, namespace: str,
                                          osdpl: str) -> dict[str, str]:
        assert (namespace, osdpl) == KEY
        self.published.append((target, data))
        state = "Published" if data is not None else "Waiting"
        return {"state": state, "secret": target, "message": state}

    async def withdraw_gateway_credentials(self, target: str, namespace: str, osdpl: str) -> None:
        assert (namespace, osdpl) == KEY
        self.withdrawn.append(target)


def _osdpl(**features: Any) -> dict[str, Any]:
    body = load_example("minimal")
    body["metadata"].update({"namespace": NS, "name": NAME, "uid": "uid-1", "generation": 1})
    body["spec"].setdefault("features", {}).update(features)
    return body


def _reconciler(catalog: Catalog, cluster: FakeCluster, **settings: Any) -> SecretsReconciler:
    return SecretsReconciler(Runtime("secrets", catalog, Settings(**settings)), cluster)


@pytest.fixture
def cluster() -> FakeCluster:
    fake = FakeCluster()
    fake.add_osdpl(_osdpl())
    return fake


def _needed(catalog: Catalog, body: Mapping[str, Any]) -> list[str]:
    services = set(catalog.presets[body["spec"]["preset"]].services) | set(
        body["spec"].get("features", {}).get("services", []))
    return required_credentials(catalog, services)


def _passwords(stored: Stored) -> set[str]:
    return {c.password for c in [*stored.current.values(), *stored.previous.values()]}


def _ready(cluster: FakeCluster, revision: int) -> None:
    """What the osdpl process writes once every release runs with credentials of `revision` and is Ready."""
    generation = cluster.body()["metadata"]["generation"]
    cluster.body()["status"] = {**cluster.status(), "applied_credentials": revision, "conditions": [
        {"type": "Ready", "status": "True", "observedGeneration": generation}]}


# -- generation ----------------------------------------------------------------------------------------------------
def test_credentials_are_generated_once_and_only_their_digests_reach_the_status(
        catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster)
    assert run(reconciler.reconcile(KEY)) is None

    stored = cluster.stored(catalog, MAIN)
    assert sorted(stored.current) == _needed(catalog, cluster.body())
    assert cluster.data(BACKUP) == cluster.data(MAIN)
    assert cluster.secret_writes == [BACKUP, MAIN]  # the backup first: a half-way write leaves them equal
    for name in (MAIN, BACKUP):
        assert cluster.secrets[(NS, name)]["metadata"]["finalizers"] == [KEEP]
        assert cluster.secrets[(NS, name)]["metadata"]["labels"] == {"openstack.osop.dev/osdpl": NAME}
    report = cluster.status()["credentials"]
    assert report["state"] == "Ready" and report["revision"] == 1
    assert report["digests"] == digests(stored)
    assert report["message"] == f"{len(stored.current)} credentials kept"
    text = json.dumps(cluster.status()) + json.dumps(cluster.events)
    assert not [p for p in _passwords(stored) if p in text]

    # Again: nothing is generated or written again, the revision stays.
    patches = len(cluster.status_patches)
    assert run(reconciler.reconcile(KEY)) is None
    assert cluster.secret_writes == [BACKUP, MAIN] and len(cluster.status_patches) == patches
    assert cluster.stored(catalog, MAIN) == stored


def test_a_newly_enabled_service_adds_its_credentials_and_keeps_the_others(
        catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster)
    run(reconciler.reconcile(KEY))
    before = cluster.stored(catalog, MAIN)
    cluster.body()["spec"]["features"]["services"] = ["orchestration"]
    cluster.body()["metadata"]["generation"] = 2
    run(reconciler.reconcile(KEY))
    after = cluster.stored(catalog, MAIN)
    added = set(after.current) - set(before.current)
    assert added and sorted(after.current) == _needed(catalog, cluster.body())
    assert {n: after.current[n] for n in before.current} == dict(before.current)
    assert cluster.status()["credentials"]["revision"] == 2
    assert cluster.status()["credentials"]["digests"] == digests(after)


def test_credentials_an_earlier_version_left_are_taken_as_they_are(catalog: Catalog, cluster: FakeCluster) -> None:
    # The password alone: the old format; with the label every version wrote.
    cluster.put_secret(MAIN, {"keystone_admin": "plainOldPassword"}, labels=OURS)
    run(_reconciler(catalog, cluster).reconcile(KEY))
    stored = cluster.stored(catalog, MAIN)
    assert stored.current["keystone_admin"].password == "plainOldPassword"
    assert stored.current["keystone_admin"].username == catalog.credentials["keystone_admin"].username


def test_a_second_osdpl_of_the_namespace_gets_no_credentials_and_is_told_why(
        catalog: Catalog, cluster: FakeCluster) -> None:
    cluster.holders[NS] = "another"
    reconciler = _reconciler(catalog, cluster)
    assert run(reconciler.reconcile(KEY)) is None
    assert not cluster.secrets
    report = cluster.status()["credentials"]
    assert report == {"state": "Refused", "message": f"namespace {NS} is held by osdpl another (one deployment per "
                                                     f"namespace): no credentials are generated for {NAME} while "
                                                     f"another exists"}
    assert CredentialsView.of(cluster.status()).lost  # the osdpl process deploys nothing for it
    patches = len(cluster.status_patches)
    run(reconciler.reconcile(KEY))
    assert len(cluster.status_patches) == patches  # told once
    cluster.holders[NS] = NAME  # the holder went: this one claimed the namespace
    run(reconciler.reconcile(KEY))
    assert cluster.status()["credentials"]["state"] == "Ready" and (NS, MAIN) in cluster.secrets


def test_no_claim_yet_waits_without_a_report(catalog: Catalog, cluster: FakeCluster) -> None:
    del cluster.holders[NS]
    assert run(_reconciler(catalog, cluster).reconcile(KEY)) is None
    assert not cluster.secrets and not cluster.status_patches


# -- an osdpl without a record: every earlier copy counts, someone else's is refused ---------------------------------
def _recreate(cluster: FakeCluster) -> None:
    """`kubectl delete osdpl` (its Secrets' finalizers come off), then the same manifest applied again: a new uid
    and no status."""
    body = _osdpl()
    body["metadata"]["uid"] = "uid-2"
    cluster.add_osdpl(body)


def test_a_deleted_and_re_applied_osdpl_gets_exactly_the_same_credentials(
        catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster)
    run(reconciler.reconcile(KEY))
    before, recorded = cluster.stored(catalog, MAIN), cluster.status()["credentials"]["digests"]
    del cluster.osdpls[KEY]
    run(reconciler.reconcile(KEY))  # gone: the finalizers come off, the Secrets stay
    assert {n for _, n in cluster.secrets} == {MAIN, BACKUP}
    writes = list(cluster.secret_writes)

    _recreate(cluster)
    assert run(reconciler.reconcile(KEY)) is None
    assert cluster.stored(catalog, MAIN) == before == cluster.stored(catalog, BACKUP)
    assert cluster.status()["credentials"]["digests"] == recorded
    assert cluster.status()["credentials"]["state"] == "Ready"
    # Only the finalizers put back, no value changed.
    assert cluster.secret_writes == writes + [BACKUP, MAIN]
    for name in (MAIN, BACKUP):
        assert cluster.secrets[(NS, name)]["metadata"]["finalizers"] == [KEEP]


def test_a_re_applied_osdpl_whose_credentials_secret_is_gone_takes_the_backup(
        catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster)
    run(reconciler.reconcile(KEY))
    before, recorded = cluster.stored(catalog, BACKUP), cluster.status()["credentials"]["digests"]
    del cluster.osdpls[KEY]
    run(reconciler.reconcile(KEY))
    del cluster.secrets[(NS, MAIN)]
    _recreate(cluster)
    run(reconciler.reconcile(KEY))
    assert cluster.stored(catalog, MAIN) == before == cluster.stored(catalog, BACKUP)  # not overwritten
    assert cluster.status()["credentials"]["digests"] == recorded


def test_records_only_the_backup_holds_are_kept_too(catalog: Catalog, cluster: FakeCluster) -> None:
    old = json.dumps({"username": "glance", "password": "G" * 32})
    cluster.put_secret(MAIN, {"keystone_admin": json.dumps({"username": "admin", "password": "K" * 32})},
                       labels=OURS)
    cluster.put_secret(BACKUP, {"glance_db": old, "keystone_admin": "stale"}, labels=OURS)
    run(_reconciler(catalog, cluster).reconcile(KEY))
    stored = cluster.stored(catalog, MAIN)
    assert stored.current["glance_db"].password == "G" * 32
    assert stored.current["keystone_admin"].password == "K" * 32  # the credentials Secret wins over its backup
    assert cluster.data(BACKUP) == cluster.data(MAIN)


@pytest.mark.parametrize("secret", [MAIN, BACKUP])
def test_a_pre_seeded_secret_someone_else_made_is_refused_and_left_as_it_is(
        catalog: Catalog, cluster: FakeCluster, secret: str) -> None:
    seeded = {"keystone_admin": json.dumps({"username": "admin", "password": "chosenByAnAttacker00000000000000"})}
    cluster.put_secret(secret, seeded)
    reconciler = _reconciler(catalog, cluster, secrets_resync_seconds=9.0)
    assert run(reconciler.reconcile(KEY)) == 9.0  # looked at again: its change raises no event of the watch
    assert cluster.data(secret) == seeded and not cluster.secret_writes
    assert {n for _, n in cluster.secrets} == {secret}  # the other one is not generated either
    report = cluster.status()["credentials"]
    assert report["state"] == "Refused" and "digests" not in report
    assert report["message"].startswith(f"Secret {secret} was not written by the operator for osdpl {NAME} (no "
                                        f"label openstack.osop.dev/osdpl={NAME}): refused, neither used nor "
                                        f"overwritten")
    assert f"annotate secret {secret} openstack.osop.dev/adopt-credentials={NS}/{NAME}" in report["message"]
    assert "chosenByAnAttacker" not in json.dumps(cluster.status()) + json.dumps(cluster.events)
    assert cluster.events == [("Warning", "CredentialsRefused", report["message"])]
    assert CredentialsView.of(cluster.status()).lost  # the osdpl process deploys nothing
    run(reconciler.reconcile(KEY))
    assert len(cluster.events) == 1 and cluster.data(secret) == seeded

    del cluster.secrets[(NS, secret)]  # its maker removed it: credentials are generated
    run(reconciler.reconcile(KEY))
    assert cluster.status()["credentials"]["state"] == "Ready"
    assert cluster.stored(catalog, MAIN).current["keystone_admin"].password != "chosenByAnAttacker00000000000000"


def test_a_secret_labelled_for_another_osdpl_or_adopted_for_another_deployment_is_refused(
        catalog: Catalog, cluster: FakeCluster) -> None:
    cluster.put_secret(MAIN, {"keystone_admin": "x" * 32}, labels={"openstack.osop.dev/osdpl": "other"},
                       annotations={"openstack.osop.dev/adopt-credentials": f"elsewhere/{NAME}"})
    run(_reconciler(catalog, cluster).reconcile(KEY))
    assert cluster.status()["credentials"]["state"] == "Refused" and not cluster.secret_writes


def test_a_secret_the_admin_adopts_on_purpose_is_used_and_becomes_ours(catalog: Catalog, cluster: FakeCluster) -> None:
    restored = {"keystone_admin": json.dumps({"username": "admin", "password": "R" * 32})}
    cluster.put_secret(MAIN, restored, annotations={"openstack.osop.dev/adopt-credentials": f"{NS}/{NAME}"})
    run(_reconciler(catalog, cluster).reconcile(KEY))
    assert cluster.status()["credentials"]["state"] == "Ready"
    assert cluster.stored(catalog, MAIN).current["keystone_admin"].password == "R" * 32
    for name in (MAIN, BACKUP):
        assert cluster.secrets[(NS, name)]["metadata"]["labels"] == OURS


def test_a_refused_secret_with_binary_data_is_reported_not_a_crash(catalog: Catalog, cluster: FakeCluster) -> None:
    cluster.put_secret(MAIN, {})
    cluster.secrets[(NS, MAIN)]["data"] = {"blob": base64.b64encode(bytes([0xff, 0xfe, 0x00])).decode()}
    run(_reconciler(catalog, cluster).reconcile(KEY))
    assert cluster.status()["credentials"]["state"] == "Refused"


def test_the_secret_watch_is_filtered_by_the_api_server() -> None:
    """Without a server-side selector Kopf lists and watches every Secret of the cluster."""
    settings = kopf.OperatorSettings()
    build(Runtime("secrets", Catalog.load(), Settings()), settings)
    selector = settings.watching.label_selectors.collect(kopf.Resource("", "v1", "secrets"))
    assert selector == ["openstack.osop.dev/osdpl,!openstack.osop.dev/service"]


def test_an_invalid_spec_is_left_to_the_osdpl_process(catalog: Catalog, cluster: FakeCluster) -> None:
    cluster.body()["spec"]["openstack_version"] = "zed"
    assert run(_reconciler(catalog, cluster).reconcile(KEY)) is None
    assert not cluster.secrets and not cluster.status_patches


# -- loss and restore ------------------------------------------------------------------------------------------------
def test_a_lost_secret_is_reported_then_restored_from_the_backup(catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster)
    run(reconciler.reconcile(KEY))
    stored, writes = cluster.stored(catalog, MAIN), list(cluster.secret_writes)
    del cluster.secrets[(NS, MAIN)]  # gone (its finalizer removed by hand)

    assert run(reconciler.reconcile(KEY)) is None
    report = cluster.status()["credentials"]
    assert report["state"] == "Lost" and report["digests"] == digests(stored)
    assert report["message"].startswith(f"Secret {MAIN}: missing ")
    assert f"restore it from {BACKUP}" in report["message"] and RESTORE_ANNOTATION in report["message"]
    assert cluster.events == [("Warning", "CredentialsLost", report["message"])]
    assert cluster.secret_writes == writes  # nothing new generated in its place

    run(reconciler.reconcile(KEY))  # still lost: reported once
    assert len(cluster.events) == 1

    cluster.annotate(RESTORE_ANNOTATION, "1")
    assert run(reconciler.reconcile(KEY)) is None
    assert cluster.stored(catalog, MAIN) == stored and cluster.data(MAIN) == cluster.data(BACKUP)
    report = cluster.status()["credentials"]
    assert report["state"] == "Ready" and report["restored"] == "1"
    assert report["message"] == f"restored from {BACKUP}"
    assert cluster.events[-1] == ("Normal", "CredentialsRestored", f"Secret {MAIN} restored from {BACKUP}")

    run(reconciler.reconcile(KEY))  # kept as restored; the same request is not acted on twice
    assert cluster.status()["credentials"]["state"] == "Ready"
    assert cluster.status()["credentials"]["digests"] == digests(stored)
    assert cluster.events[-1][1] == "CredentialsRestored" and len(cluster.events) == 2

    del cluster.secrets[(NS, MAIN)]  # lost again: the request already served restores nothing
    run(reconciler.reconcile(KEY))
    assert cluster.status()["credentials"]["state"] == "Lost" and (NS, MAIN) not in cluster.secrets


def test_a_secret_being_deleted_is_lost_and_restored_once_it_is_gone(catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster)
    run(reconciler.reconcile(KEY))
    stored = cluster.stored(catalog, MAIN)
    cluster.delete_secret(MAIN)  # its finalizer keeps it readable

    run(reconciler.reconcile(KEY))
    assert cluster.status()["credentials"]["state"] == "Lost"
    assert cluster.status()["credentials"]["message"].startswith(f"Secret {MAIN}: deleted;")
    assert (NS, MAIN) in cluster.secrets  # the finalizer stays until someone asks for the restore

    cluster.annotate(RESTORE_ANNOTATION, "r1")
    assert run(reconciler.reconcile(KEY)) == GONE_RETRY_SECONDS  # its deletion ends first
    assert (NS, MAIN) not in cluster.secrets
    assert run(reconciler.reconcile(KEY)) is None
    assert cluster.stored(catalog, MAIN) == stored
    assert cluster.status()["credentials"]["state"] == "Ready"


def test_an_edited_secret_without_an_intact_backup_stays_lost(catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster)
    run(reconciler.reconcile(KEY))
    edited = {**(cluster.data(MAIN) or {}), "keystone_db": "editedByHand"}
    cluster.put_secret(MAIN, edited, [KEEP])
    cluster.put_secret(BACKUP, {**edited, "glance_db": "editedToo"}, [KEEP])
    cluster.annotate(RESTORE_ANNOTATION, "1")

    run(reconciler.reconcile(KEY))
    report = cluster.status()["credentials"]
    assert report["state"] == "Lost" and "restored" not in report
    assert report["message"].startswith(f"Secret {MAIN}: changed keystone_db;")
    assert "no intact backup" in report["message"]
    assert cluster.data(MAIN) == edited


def test_our_own_write_that_stopped_half_way_is_no_loss(catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster)
    run(reconciler.reconcile(KEY))
    # Both Secrets written with a new record, the status not patched yet (the process stopped in between).
    changed = {**(cluster.data(MAIN) or {}), "keystone_db": json.dumps({"username": "keystone", "password": "N" * 32})}
    cluster.put_secret(BACKUP, changed, [KEEP])
    cluster.put_secret(MAIN, changed, [KEEP])

    run(reconciler.reconcile(KEY))
    report = cluster.status()["credentials"]
    assert report["state"] == "Ready" and report["revision"] == 2
    assert report["digests"] == digests(cluster.stored(catalog, MAIN))
    assert not cluster.events


def test_a_secret_deleted_before_anything_was_recorded_keeps_its_records_in_the_backup(
        catalog: Catalog, cluster: FakeCluster) -> None:
    cluster.put_secret(MAIN, {"keystone_admin": "plainOldPassword"}, [KEEP], labels=OURS)
    cluster.delete_secret(MAIN)
    reconciler = _reconciler(catalog, cluster)
    assert run(reconciler.reconcile(KEY)) == GONE_RETRY_SECONDS  # its records go to the backup first
    assert cluster.stored(catalog, BACKUP).current["keystone_admin"].password == "plainOldPassword"
    assert (NS, MAIN) in cluster.secrets
    assert run(reconciler.reconcile(KEY)) == GONE_RETRY_SECONDS  # then it may go
    assert (NS, MAIN) not in cluster.secrets
    assert run(reconciler.reconcile(KEY)) is None  # and comes back from the backup
    assert cluster.stored(catalog, MAIN).current["keystone_admin"].password == "plainOldPassword"
    assert cluster.status()["credentials"]["state"] == "Ready"


def test_both_secrets_deleted_before_anything_was_recorded_start_afresh(
        catalog: Catalog, cluster: FakeCluster) -> None:
    for name in (MAIN, BACKUP):
        cluster.put_secret(name, {"keystone_admin": "plainOldPassword"}, [KEEP], labels=OURS)
        cluster.delete_secret(name)
    reconciler = _reconciler(catalog, cluster)
    assert run(reconciler.reconcile(KEY)) == GONE_RETRY_SECONDS
    assert not cluster.secrets  # deleting every copy is how they are really removed
    run(reconciler.reconcile(KEY))
    assert cluster.stored(catalog, MAIN).current["keystone_admin"].password != "plainOldPassword"


def test_a_backup_being_deleted_is_let_go_and_written_again(catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster)
    run(reconciler.reconcile(KEY))
    stored = cluster.stored(catalog, MAIN)
    cluster.delete_secret(BACKUP)
    assert run(reconciler.reconcile(KEY)) == GONE_RETRY_SECONDS
    assert (NS, BACKUP) not in cluster.secrets
    run(reconciler.reconcile(KEY))
    assert cluster.stored(catalog, BACKUP) == stored and cluster.stored(catalog, MAIN) == stored
    assert cluster.status()["credentials"]["state"] == "Ready" and not cluster.events


# -- rotation ------------------------------------------------------------------------------------------------------
def test_a_rotation_is_started_by_its_request_annotation_and_finished_once_rolled_out(
        catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster)
    run(reconciler.reconcile(KEY))
    before = cluster.stored(catalog, MAIN)
    group = [n for n in before.current if catalog.credentials[n].rotation == "database"]
    assert group

    cluster.annotate(rotate_annotation("database"), "r1")
    run(reconciler.reconcile(KEY))
    during = cluster.stored(catalog, MAIN)
    assert dict(during.previous) == {n: before.current[n] for n in group}  # the old users still work
    for name in group:
        assert during.current[name].username != before.current[name].username
        assert during.current[name].password != before.current[name].password
    assert {n: c for n, c in during.current.items() if n not in group} == \
        {n: c for n, c in before.current.items() if n not in group}
    assert any(key.endswith(PREVIOUS) for key in cluster.data(MAIN) or {})
    report = cluster.status()["credentials"]
    rotation = report["rotations"]["database"]
    assert (rotation["phase"], rotation["request"], rotation["credentials"], rotation["revision"]) == \
        ("RollingOut", "r1", len(group), 2)
    assert report["revision"] == 2 and report["digests"] == digests(during)
    assert cluster.events == [("Normal", "RotationStarted",
                               f"rotating {len(group)} credentials of group database (request r1)")]
    assert not [p for p in _passwords(during) if p in json.dumps(cluster.status())]

    run(reconciler.reconcile(KEY))  # not rolled out yet: nothing changes
    assert cluster.stored(catalog, MAIN) == during and len(cluster.events) == 1

    _ready(cluster, 2)
    run(reconciler.reconcile(KEY))
    after = cluster.stored(catalog, MAIN)
    assert after.current == during.current and not after.previous
    rotation = cluster.status()["credentials"]["rotations"]["database"]
    assert rotation["phase"] == "Done" and rotation["finished"]
    assert cluster.events[-1][1] == "RotationFinished"

    run(reconciler.reconcile(KEY))  # the same request again rotates nothing
    assert cluster.stored(catalog, MAIN) == after and len(cluster.events) == 2


def test_a_rotation_waits_for_a_change_of_openstack_release(catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster)
    run(reconciler.reconcile(KEY))
    before = cluster.stored(catalog, MAIN)
    cluster.body()["spec"]["openstack_version"] = "flamingo"
    cluster.body()["status"]["openstack_version"] = "epoxy"
    cluster.annotate(rotate_annotation("service"), "r1")
    run(reconciler.reconcile(KEY))
    assert cluster.stored(catalog, MAIN) == before
    report = cluster.status()["credentials"]
    assert "service" not in report["rotations"]
    assert report["message"].endswith("the rotation of group service (request r1) waits for the change of "
                                      "OpenStack release to finish")

    cluster.body()["status"]["openstack_version"] = "flamingo"  # the change is done
    run(reconciler.reconcile(KEY))
    assert cluster.status()["credentials"]["rotations"]["service"]["phase"] == "RollingOut"


# -- the osdpl goes ----------------------------------------------------------------------------------------------
def test_the_secrets_are_let_go_and_kept_when_the_osdpl_is_gone(catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster)
    run(reconciler.reconcile(KEY))
    del cluster.osdpls[KEY]
    assert run(reconciler.reconcile(KEY)) is None
    for name in (MAIN, BACKUP):
        assert cluster.secrets[(NS, name)]["metadata"]["finalizers"] == []


# -- refused writes --------------------------------------------------------------------------------------------------
def test_a_refused_write_is_retried_by_the_retry_policy(catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster, retry_max_seconds=3.0)
    cluster.refusals = [_refused(), _refused()]

    first = run(reconciler.work(KEY))
    assert first is not None and 1.6 <= first <= 2.4  # 2 s, +-20% jitter
    assert "credentials" not in cluster.status()  # nothing recorded that was not written
    assert run(reconciler.work(KEY)) == 3.0  # doubled, capped by OSOP_RETRY_MAX_SECONDS

    assert run(reconciler.work(KEY)) is None  # written: no retry
    assert cluster.status()["credentials"]["state"] == "Ready"
    cluster.refusals = [_refused()]
    cluster.annotate(rotate_annotation("admin"), "r1")
    again = run(reconciler.work(KEY))
    assert again is not None and 1.6 <= again <= 2.4  # the count started again after the success


def test_the_queue_runs_the_reconcile_for_an_event(catalog: Catalog, cluster: FakeCluster) -> None:
    reconciler = _reconciler(catalog, cluster)

    async def scenario() -> None:
        await reconciler.start()
        reconciler.observe(*KEY)
        reconciler.observe(*KEY)  # coalesced
        await reconciler.queue.join()
        await reconciler.stop()

    run(scenario())
    assert cluster.secret_writes == [BACKUP, MAIN]
    assert cluster.status()["credentials"]["state"] == "Ready"


# -- the exchange -----------------------------------------------------------------------------------------------------
def test_the_ceph_keys_are_copied_and_looked_at_again_every_resync(catalog: Catalog, cluster: FakeCluster) -> None:
    cluster.add_osdpl(_osdpl(ceph={"enabled": True}, glance={"backend": "rbd"}))
    reconciler = _reconciler(catalog, cluster, secrets_resync_seconds=7.0)
    assert run(reconciler.reconcile(KEY)) == 7.0
    assert cluster.ceph_copies == [{"openstack.osop.dev/osdpl": NAME}]
    assert cluster.status()["ceph"]["state"] == "Waiting"
    assert cluster.events == [("Warning", "CephKeysWaiting", cluster.status()["ceph"]["message"])]
    run(reconciler.reconcile(KEY))
    assert len(cluster.events) == 1  # the same state again: no second Event


def test_the_gateway_credentials_are_published_once_deployed_and_withdrawn_with_the_osdpl(
        catalog: Catalog, cluster: FakeCluster) -> None:
    cluster.add_osdpl(_osdpl(ceph={"enabled": True, "object_gateway": {"enabled": True}}))
    reconciler = _reconciler(catalog, cluster)
    run(reconciler.reconcile(KEY))
    target = "openstack-ceph-shared/openstack-rgw-creds"
    assert cluster.published == [(target, None)]  # the keystone release has not created the user yet
    assert cluster.status()["object_gateway"]["secret"] == target

    _ready(cluster, 1)
    run(reconciler.reconcile(KEY))
    data = cluster.published[-1][1]
    credential = cluster.stored(catalog, MAIN).current[GATEWAY_CREDENTIAL]
    assert data is not None and (data["username"], data["password"]) == (credential.username, credential.password)
    assert credential.password not in json.dumps(cluster.status())

    cluster.body()["metadata"]["deletionTimestamp"] = "2024-01-03T00:00:00Z"
    run(reconciler.reconcile(KEY))
    assert cluster.withdrawn == [target]



def test_an_amphora_client_certificate_due_is_renewed_with_the_same_ca_and_looked_at_again_hourly(
        catalog: Catalog, cluster: FakeCluster) -> None:
    cluster.body()["spec"]["preset"] = "compute"
    cluster.body()["spec"]["features"].update({"services": ["redis", "load-balancer"], "octavia": {
        "amphora_image_url": "https://mirror.example.com/amphora.qcow2"}})
    reconciler = _reconciler(catalog, cluster)
    assert run(reconciler.reconcile(KEY)) == RENEWAL_CHECK_SECONDS
    fresh = cluster.stored(catalog, MAIN)
    # a record made 340 days ago: its client certificate expires within the 30 days before which it is renewed
    old = amphora_pki.generate(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=340))
    cluster.secrets[(NS, MAIN)]["data"]["octavia_amphora_pki"] = base64.b64encode(json.dumps(
        {"username": "", "password": old}).encode()).decode()
    cluster.secrets[(NS, BACKUP)]["data"] = dict(cluster.secrets[(NS, MAIN)]["data"])
    run(reconciler.reconcile(KEY))
    renewed = cluster.stored(catalog, MAIN).current["octavia_amphora_pki"].password
    assert amphora_pki.not_after(renewed) > amphora_pki.not_after(old) + datetime.timedelta(days=300)
    assert json.loads(renewed)["client_ca_key"] == json.loads(old)["client_ca_key"]
    assert cluster.events[-1][:2] == ("Normal", "CertificateRenewed")
    assert set(cluster.stored(catalog, MAIN).current) == set(fresh.current)
