"""The osdpl process's reconciler against an in-memory cluster (a fake of its gateway, kube.gateways.osdpl): what it
writes for a deployment, what it leaves alone and why, and how a deletion uninstalls everything before the osdpl
goes. A generation is rendered once: later reconciles of it (bundle status or health changes) only recompute the
status, unless a bundle no longer matches what was written."""

from __future__ import annotations

import asyncio
import copy
from typing import Any, Awaitable, Callable, Mapping

import pytest

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.errors import ApiWriteError
from openstack_operator.core.models.bundle import Bundle, BundleSpec
from openstack_operator.core.models.osdpl_status import OSDPL, SectionPatch
from openstack_operator.core.releases.bundles import OSDPL_LABEL, bundle_name, values_secret_name
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.secrets.ceph import CephExchange
from openstack_operator.core.secrets.credentials import Stored, digests, generated_credentials, required_credentials
from openstack_operator.core.settings import Settings
from openstack_operator.kube.process import Runtime
from openstack_operator.reconcilers.osdpl import BUNDLES_GONE_POLL_SECONDS, FINALIZER, OsdplReconciler
from openstack_operator.reconcilers.osdpl_apply import BUNDLE_FINALIZER, CEPH_WIRING_RECHECK_SECONDS

from ..osdpl_cases import VAULT
from .conftest import load_example

Key = tuple[str, str]
NAMESPACE, NAME = "ns", "osh-dev"
KEY = (NAMESPACE, NAME)


def merged(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch applied, as the API server does."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class FakeCluster:
    """The API server as the osdpl process sees it, in memory; it records every write but status patches in
    `writes`, and the credentials reads (one per render) in `credential_reads`."""

    def __init__(self) -> None:
        self.osdpls: dict[Key, dict[str, Any]] = {}
        self.bundles: dict[Key, dict[str, Any]] = {}  # (namespace, bundle name)
        self.secrets: dict[Key, dict[str, Any]] = {}  # (namespace, name) -> {"data", "labels"}
        self.credentials: dict[Key, Stored] = {}
        self.claims: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, str]] = []  # (reason, message)
        self.writes: list[str] = []
        self.credential_reads = 0
        self.refused: set[str] = set()  # names of objects the API server refuses to write
        self.kept: list[str] = []
        self.foreign: set[tuple[str, str, str]] = set()  # (namespace, kind, name) of objects others created
        self.user_secrets: dict[Key, dict[str, str]] = {}  # Secrets the spec references, decoded
        self.versions = 0

    def _version(self) -> str:
        self.versions += 1
        return str(self.versions)

    def _write(self, entry: str, name: str, namespace: str = NAMESPACE) -> None:
        if name in self.refused:
            raise ApiWriteError("writing", "Object", namespace, name, 403, "forbidden by test")
        self.writes.append(entry)

    # -- reads
    async def read_osdpl(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.osdpls.get((namespace, name)))

    async def list_osdpls(self, namespace: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(o) for (ns, _), o in self.osdpls.items() if ns == namespace]

    async def list_bundles(self, namespace: str) -> list[Bundle]:
        return [Bundle.from_api(copy.deepcopy(b)) for (ns, _), b in self.bundles.items() if ns == namespace]

    async def secret_names(self, namespace: str, selector: str) -> list[str]:
        wanted = [term.split("=") for term in selector.split(",")]
        return [name for (ns, name), s in self.secrets.items() if ns == namespace and all(
            term[0] in s["labels"] and (len(term) == 1 or s["labels"][term[0]] == term[1]) for term in wanted)]

    async def namespace_claim(self, namespace: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.claims.get(namespace))

    async def read_credentials(self, namespace: str, osdpl: str) -> tuple[Stored | None, bool]:
        self.credential_reads += 1
        return self.credentials.get((namespace, osdpl)), False

    async def read_ceph_copy(self, namespace: str, osdpl: str) -> CephExchange | None:
        return None

    async def read_secret_keys(self, namespace: str, refs: Mapping[str, tuple[str, str]]) -> dict[str, str]:
        return {label: self.user_secrets[(namespace, name)][key] for label, (name, key) in refs.items()
                if key in self.user_secrets.get((namespace, name), {})}

    async def missing_objects(self, namespace: str, refs: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
        return [ref for ref in refs if (namespace, *ref) not in self.foreign]

    # -- writes
    async def claim_namespace(self, namespace: str, osdpl: str, current: Mapping[str, Any] | None,
                              labels: Mapping[str, str]) -> bool:
        stored = self.claims.get(namespace)
        if (stored or {}).get("metadata", {}).get("resourceVersion") != \
                (current or {}).get("metadata", {}).get("resourceVersion"):
            return False
        self.claims[namespace] = {"metadata": {"resourceVersion": self._version()}, "spec": {"holderIdentity": osdpl}}
        return True

    async def release_namespace(self, namespace: str, osdpl: str) -> None:
        if (self.claims.get(namespace) or {}).get("spec", {}).get("holderIdentity") == osdpl:
            del self.claims[namespace]

    async def set_finalizers(self, osdpl: Mapping[str, Any], finalizers: list[str]) -> None:
        stored = self.osdpls[(osdpl["metadata"]["namespace"], osdpl["metadata"]["name"])]
        assert stored["metadata"]["resourceVersion"] == osdpl["metadata"]["resourceVersion"], "a 409"
        if finalizers:
            stored["metadata"]["finalizers"] = list(finalizers)
        elif stored["metadata"].get("deletionTimestamp"):
            del self.osdpls[(osdpl["metadata"]["namespace"], osdpl["metadata"]["name"])]
        else:
            stored["metadata"].pop("finalizers", None)
        stored["metadata"]["resourceVersion"] = self._version()

    async def patch_status(self, namespace: str, name: str, patch: SectionPatch) -> None:
        sent = patch.sent_by(OSDPL)  # as the gateway's one write (kube.osdpl_status.patch_section) does
        stored = self.osdpls[(namespace, name)]
        stored["status"] = merged(stored.get("status") or {}, sent)
        if "upgrade" in sent:
            self.writes.append(f"status upgrade {stored['status']['upgrade']['phase']}")

    async def post_event(self, osdpl: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        self.events.append((reason, message))

    async def ensure_kept_secrets(self, namespace: str, names: list[str], labels: Mapping[str, str]) -> None:
        self.kept = list(names)

    async def apply_secret(self, namespace: str, name: str, data: Mapping[str, str], labels: Mapping[str, str],
                           owner: Mapping[str, Any], sensitive: list[str]) -> bool:
        if (self.secrets.get((namespace, name)) or {}).get("data") == dict(data):
            return False
        self._write(f"secret {name}", name, namespace)
        self.secrets[(namespace, name)] = {"data": dict(data), "labels": dict(labels)}
        return True

    async def apply_bundle(self, namespace: str, name: str, spec: BundleSpec, labels: Mapping[str, str],
                           owner: Mapping[str, Any], current: Bundle | None, finalizers: list[str]) -> bool:
        if current is not None and current.spec == spec:
            return False
        self._write(f"bundle {name}", name, namespace)
        stored = self.bundles.setdefault((namespace, name), {"metadata": {
            "name": name, "namespace": namespace, "labels": dict(labels), "finalizers": list(finalizers)}})
        stored["spec"] = spec.to_api()
        return True

    async def retire_bundle(self, namespace: str, name: str) -> None:
        self._write(f"uninstall {name}", name, namespace)
        self.bundles[(namespace, name)]["spec"] = merged(self.bundles[(namespace, name)]["spec"], {"uninstall": True})

    async def delete_bundle(self, namespace: str, name: str) -> None:
        self._write(f"delete bundle {name}", name, namespace)
        self.bundles.pop((namespace, name), None)

    async def delete_secret(self, namespace: str, name: str) -> None:
        self._write(f"delete secret {name}", name, namespace)
        self.secrets.pop((namespace, name), None)

    # -- what other processes and people do
    def add_deployment(self, catalog: Catalog, name: str = NAME, generation: int = 3,
                       **spec: Any) -> dict[str, Any]:
        """An osdpl as the API server stores it, with its credentials provided and vetted by the secrets process."""
        body = load_example("minimal")
        body["metadata"].update({"name": name, "namespace": NAMESPACE, "uid": f"uid-{name}", "generation": generation,
                                 "resourceVersion": self._version()})
        body["spec"].update(spec)
        needed = required_credentials(catalog, load_osdpl(catalog, body).spec.enabled_services(catalog))
        stored = Stored(generated_credentials(catalog, needed))
        self.credentials[(NAMESPACE, name)] = stored
        body["status"] = {"credentials": {"state": "Ready", "revision": 1, "digests": digests(stored)}}
        self.osdpls[(NAMESPACE, name)] = body
        return body

    def bundle_of(self, service: str, name: str = NAME) -> dict[str, Any]:
        return self.bundles[(NAMESPACE, bundle_name(name, service))]

    def deployed(self) -> None:
        """The helmbundle process deployed (or uninstalled) every release the bundles ask for."""
        for bundle in self.bundles.values():
            bundle["status"] = {"releases": {r["name"]: {"state": "uninstalled" if bundle["spec"].get("uninstall")
                                                         else "deployed", "fingerprint": r["fingerprint"]}
                                             for r in bundle["spec"]["releases"]}}

    def conditions(self, name: str = NAME) -> dict[str, tuple[str, str]]:
        return {c["type"]: (c["status"], c["reason"])
                for c in self.osdpls[(NAMESPACE, name)]["status"].get("conditions", [])}


def run(catalog: Catalog, scenario: Callable[[OsdplReconciler, FakeCluster], Awaitable[None]]) -> None:
    async def main() -> None:
        cluster = FakeCluster()
        reconciler = OsdplReconciler(Runtime("osdpl", catalog, Settings(retry_max_seconds=20)), cluster)
        await reconciler.start()
        try:
            await scenario(reconciler, cluster)
        finally:
            await reconciler.stop()
    asyncio.run(asyncio.wait_for(main(), timeout=30))


def test_a_deployment_gets_a_bundle_and_values_per_service_its_finalizer_and_the_namespace(catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog)
        assert await osdpl.reconcile(KEY) is None
        services = {b["spec"]["service"] for b in cluster.bundles.values()}
        assert services and services == set(load_osdpl(catalog, cluster.osdpls[KEY]).spec.enabled_services(catalog))
        assert all(b["metadata"]["finalizers"] == [BUNDLE_FINALIZER] for b in cluster.bundles.values())
        assert {name for _, name in cluster.secrets} == {values_secret_name(NAME, s) for s in services}
        # values before bundles: a bundle never points at values that are not there yet
        first_bundle = min(i for i, w in enumerate(cluster.writes) if w.startswith("bundle"))
        assert all(w.startswith("secret") for w in cluster.writes[:first_bundle])
        assert cluster.osdpls[KEY]["metadata"]["finalizers"] == [FINALIZER]
        assert cluster.claims[NAMESPACE]["spec"]["holderIdentity"] == NAME
        # Keystone's key Secrets exist before its first install (the chart's own pre-install hooks are off).
        assert cluster.kept == ["keystone-fernet-keys", "keystone-credential-keys"]
        assert cluster.osdpls[KEY]["status"]["observedGeneration"] == 3
        assert cluster.conditions()["Ready"][0] == "False"

        cluster.deployed()  # the bundles' statuses: mirrored on the osdpl; Ready waits for the workloads' health
        await osdpl.reconcile(KEY)
        children = cluster.osdpls[KEY]["status"]["children"]
        assert set(children) == services and all(r["state"] == "deployed" for c in children.values()
                                                   for r in c.values())
        assert cluster.conditions()["Ready"] == ("False", "HealthPending")
    run(catalog, scenario)


def test_a_generation_is_rendered_once_unless_a_bundle_drifted(catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog)
        await osdpl.reconcile(KEY)
        assert cluster.credential_reads == 1 and cluster.writes
        cluster.writes.clear()
        cluster.deployed()
        await osdpl.reconcile(KEY)  # the status-only reconcile of the same generation: no render, no write
        assert cluster.credential_reads == 1 and cluster.writes == []

        identity = cluster.bundle_of("identity")
        identity["spec"]["releases"][0]["fingerprint"] = "edited-by-hand"
        await osdpl.reconcile(KEY)
        assert cluster.credential_reads == 2 and cluster.writes == [f"bundle {bundle_name(NAME, 'identity')}"]
        assert cluster.bundle_of("identity")["spec"]["releases"][0]["fingerprint"] != "edited-by-hand"

        cluster.osdpls[KEY]["metadata"]["generation"] = 4
        await osdpl.reconcile(KEY)
        assert cluster.credential_reads == 3  # a new generation is always rendered
    run(catalog, scenario)


def test_a_release_change_moves_one_service_at_a_time_recorded_on_the_status_before_its_write(
        catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog)
        await osdpl.reconcile(KEY)
        cluster.deployed()
        await osdpl.reconcile(KEY)
        assert cluster.osdpls[KEY]["status"]["openstack_version"] == "epoxy"
        before = copy.deepcopy(cluster.bundles)
        cluster.writes.clear()
        cluster.osdpls[KEY]["spec"]["openstack_version"] = "flamingo"
        cluster.osdpls[KEY]["metadata"]["generation"] = 4
        await osdpl.reconcile(KEY)
        first = catalog.upgrade_order[0]
        assert cluster.writes[0].startswith("status upgrade")  # recorded before anything it moves is written
        assert cluster.writes[1:] == [f"secret {values_secret_name(NAME, first)}", f"bundle {bundle_name(NAME, first)}"]
        assert [key for key, b in cluster.bundles.items() if b["spec"] != before[key]["spec"]] == \
            [(NAMESPACE, bundle_name(NAME, first))]
        upgrade = cluster.osdpls[KEY]["status"]["upgrade"]
        assert (upgrade["from"], upgrade["to"]) == ("epoxy", "flamingo")
        assert cluster.osdpls[KEY]["status"]["openstack_version"] == "epoxy"  # until every service moved
        assert KEY not in osdpl.applier.rendered  # not applied: the next look renders again
    run(catalog, scenario)


def test_lost_credentials_stop_every_write_even_for_a_generation_already_applied(catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog)
        await osdpl.reconcile(KEY)
        written = copy.deepcopy(cluster.bundles)
        cluster.writes.clear()
        cluster.osdpls[KEY]["status"]["credentials"].update(
            {"state": "Lost", "message": "Secret osh-dev-credentials: changed glance_db"})
        cluster.bundle_of("identity")["spec"]["releases"][0]["fingerprint"] = "edited-by-hand"  # not repaired now
        await osdpl.reconcile(KEY)
        assert cluster.writes == [] and cluster.bundles != written
        assert cluster.conditions()["Degraded"] == ("True", "CredentialsLost")
        assert "changed glance_db" in str(cluster.osdpls[KEY]["status"]["conditions"])
    run(catalog, scenario)


def test_nothing_is_written_until_the_secrets_process_vetted_every_credential(catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog)
        recorded = cluster.osdpls[KEY]["status"]["credentials"]["digests"]
        del recorded[sorted(recorded)[0]]  # one the secrets process has not recorded (yet)
        await osdpl.reconcile(KEY)
        assert cluster.bundles == {} and cluster.secrets == {}
        assert cluster.conditions()["Ready"] == ("False", "WaitingForCredentials")
        assert "osh-dev-credentials" in str(cluster.osdpls[KEY]["status"]["conditions"])
    run(catalog, scenario)


def test_an_rbd_backend_without_features_ceph_writes_nothing_until_the_charts_ceph_wiring_exists(
        catalog: Catalog) -> None:
    """cinder's rbd backend (and nova and libvirt with it) mounts ceph-etc and pvc-ceph-client-key: their pods
    could never start without them, so nothing is written, the status names what is missing, and a recheck comes."""
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog, preset="compute")
        assert await osdpl.reconcile(KEY) == CEPH_WIRING_RECHECK_SECONDS
        assert cluster.bundles == {} and cluster.secrets == {}
        assert cluster.conditions()["Ready"] == ("False", "WaitingForCephWiring")
        message = str(cluster.osdpls[KEY]["status"]["conditions"])
        assert "cinder, libvirt, nova use Ceph" in message
        assert f"ConfigMap {NAMESPACE}/ceph-etc and Secret {NAMESPACE}/pvc-ceph-client-key" in message
        cluster.foreign.add((NAMESPACE, "ConfigMap", "ceph-etc"))
        await osdpl.reconcile(KEY)
        assert cluster.bundles == {} and "ConfigMap" not in str(cluster.osdpls[KEY]["status"]["conditions"])
        cluster.foreign.add((NAMESPACE, "Secret", "pvc-ceph-client-key"))
        assert await osdpl.reconcile(KEY) is None
        assert "block-storage" in {b["spec"]["service"] for b in cluster.bundles.values()}
    run(catalog, scenario)


def test_the_key_managers_vault_approle_comes_from_the_referenced_secret_never_from_the_spec(
        catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog, features={"services": ["key-manager"],
                                                  "barbican": {"backends": {"vault": VAULT}}})
        assert await osdpl.reconcile(KEY) == Settings().references_recheck_seconds
        assert cluster.bundles == {} and cluster.secrets == {}
        assert cluster.conditions()["Ready"] == ("False", "WaitingForReferencedSecrets")
        assert f"Secret {NAMESPACE}/vault-approle with a text value at key role_id" in str(
            cluster.osdpls[KEY]["status"]["conditions"])
        cluster.user_secrets[(NAMESPACE, "vault-approle")] = {"role_id": "role-1", "secret_id": "secret-1"}
        assert await osdpl.reconcile(KEY) == Settings().references_recheck_seconds  # looked at again: no watch on it
        values = cluster.secrets[(NAMESPACE, values_secret_name(NAME, "key-manager"))]["data"]
        assert "secret-1" in str(values) and "secret-1" not in str(cluster.osdpls[KEY])
        cluster.writes.clear()
        assert await osdpl.reconcile(KEY) == Settings().references_recheck_seconds
        assert cluster.writes == []  # unchanged: nothing rendered or written again
        cluster.user_secrets[(NAMESPACE, "vault-approle")]["secret_id"] = "secret-2"
        await osdpl.reconcile(KEY)
        assert "secret-2" in str(cluster.secrets[(NAMESPACE, values_secret_name(NAME, "key-manager"))]["data"])
    run(catalog, scenario)


def test_the_lvm_backend_needs_no_ceph_wiring(catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog, preset="compute", features={"cinder": {"backend": "lvm"}})
        assert await osdpl.reconcile(KEY) is None
        assert "block-storage" in {b["spec"]["service"] for b in cluster.bundles.values()}
    run(catalog, scenario)


def test_a_second_deployment_in_a_namespace_writes_nothing_and_says_why(catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog)
        await osdpl.reconcile(KEY)
        before = len(cluster.bundles)
        cluster.add_deployment(catalog, name="second")
        assert await osdpl.reconcile((NAMESPACE, "second")) is None
        assert len(cluster.bundles) == before and not any("second" in n for _, n in cluster.bundles)
        assert cluster.conditions("second")["Degraded"] == ("True", "NamespaceInUse")
        assert [reason for reason, _ in cluster.events] == ["NamespaceInUse"]
        await osdpl.reconcile((NAMESPACE, "second"))  # the condition did not change: no second Event
        assert len(cluster.events) == 1
    run(catalog, scenario)


def test_a_draft_writes_nothing(catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog, draft=True)
        await osdpl.reconcile(KEY)
        assert cluster.bundles == {} and cluster.secrets == {}
        assert cluster.conditions()["Progressing"] == ("False", "Draft")
    run(catalog, scenario)


def test_a_refused_write_is_reported_and_retried_with_growing_delays_until_it_succeeds(catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog)
        refused = bundle_name(NAME, "identity")
        cluster.refused.add(refused)
        delays = [await osdpl.reconcile(KEY) for _ in range(4)]
        assert all(d is not None and 0 < d <= 20 for d in delays)
        assert delays[3] is not None and delays[0] is not None and delays[3] > delays[0]
        assert cluster.conditions()["Degraded"] == ("True", "Forbidden")
        assert [reason for reason, _ in cluster.events] == ["Forbidden"]  # once, not per attempt
        assert refused in str(cluster.osdpls[KEY]["status"]["conditions"])
        cluster.refused.clear()
        assert await osdpl.reconcile(KEY) is None
        assert cluster.conditions()["Degraded"][0] == "False" and KEY not in osdpl.refusals
    run(catalog, scenario)


def test_deletion_uninstalls_every_release_then_removes_the_bundles_values_claim_and_finalizer(
        catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        cluster.add_deployment(catalog)
        await osdpl.reconcile(KEY)
        cluster.deployed()
        services = {b["spec"]["service"] for b in cluster.bundles.values()}
        cluster.osdpls[KEY]["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
        assert await osdpl.reconcile(KEY) is None  # the bundles' events bring it back
        assert all(b["spec"].get("uninstall") for b in cluster.bundles.values())
        assert cluster.conditions()["Ready"][0] == "False" and KEY in cluster.osdpls
        await osdpl.reconcile(KEY)
        assert len(cluster.bundles) == len(services)  # not uninstalled yet: nothing deleted

        cluster.deployed()  # now every release reports uninstalled
        assert await osdpl.reconcile(KEY) == BUNDLES_GONE_POLL_SECONDS
        assert cluster.bundles == {} and cluster.secrets == {}
        cluster.secrets[(NAMESPACE, "orphaned")] = {"data": {}, "labels": {OSDPL_LABEL: NAME, "x": "y"}}
        cluster.secrets[(NAMESPACE, values_secret_name(NAME, "leftover"))] = {
            "data": {}, "labels": {OSDPL_LABEL: NAME, "openstack.osop.dev/service": "leftover"}}
        assert await osdpl.reconcile(KEY) is None
        assert list(cluster.secrets) == [(NAMESPACE, "orphaned")]  # only the values Secrets go
        assert NAMESPACE not in cluster.claims and KEY not in cluster.osdpls  # the finalizer was the last
    run(catalog, scenario)


def test_only_changes_that_matter_queue_a_reconcile_and_health_changes_are_coalesced(catalog: Catalog) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        def event(kind: str = "MODIFIED", key: Key = KEY) -> None:  # as the watch delivers the stored object
            osdpl.observe_osdpl(kind, copy.deepcopy(cluster.osdpls[key]))

        cluster.add_deployment(catalog)
        event("ADDED")
        assert osdpl.queue.depth() == 1  # due now
        await osdpl.queue.join()
        assert cluster.bundles  # a worker reconciled it
        event()  # our finalizer is on it now: one more look
        await osdpl.queue.join()
        event()  # only our own status writes since
        assert osdpl.queue.pending() == set()

        # the node process's inventory: a node that only runs pods of other roles changes no render
        nodes = {"hosts": {"cmp-9": {"roles": ["compute"], "components": ["nova/compute"]}}}
        cluster.osdpls[KEY]["status"]["nodes"] = nodes
        event()
        assert osdpl.queue.pending() == set()
        # a new controller node (neutron's L3 agent): octavia's bootstrap makes its ports, the render lists it
        nodes["hosts"]["ctl-9"] = {"roles": ["network"], "components": ["neutron/l3-agent"]}
        event()
        assert osdpl.queue.depth() == 1
        await osdpl.queue.join()

        cluster.osdpls[KEY]["status"]["certificate"] = {"state": "Expiring"}  # the secrets process's verdict
        event()
        assert osdpl.queue.pending() == {KEY} and osdpl.queue.depth() == 0  # coalesced: due a moment later
        await osdpl.queue.join()
        cluster.osdpls[KEY]["metadata"]["generation"] = 4
        event()
        assert osdpl.queue.depth() == 1
        await osdpl.queue.join()
        osdpl.observe_bundle(Bundle.from_api({"metadata": {"namespace": NAMESPACE, "labels": {OSDPL_LABEL: NAME}}}))
        assert osdpl.queue.pending() == {KEY} and osdpl.queue.depth() == 0
        await osdpl.queue.join()

        cluster.add_deployment(catalog, name="second")
        event("ADDED", (NAMESPACE, "second"))
        await osdpl.queue.join()
        assert cluster.conditions("second")["Degraded"] == ("True", "NamespaceInUse")
        osdpl.observe_osdpl("DELETED", cluster.osdpls.pop(KEY))
        assert osdpl.queue.pending() == {(NAMESPACE, "second")} and KEY not in osdpl.seen  # it may hold it now
    run(catalog, scenario)


@pytest.mark.parametrize("gone", [True, False])
def test_a_deleted_osdpl_is_not_reconciled(catalog: Catalog, gone: bool) -> None:
    async def scenario(osdpl: OsdplReconciler, cluster: FakeCluster) -> None:
        if not gone:
            cluster.add_deployment(catalog)
            cluster.osdpls[KEY]["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"  # never had our finalizer
        assert await osdpl.reconcile(KEY) is None
        assert cluster.writes == [] and cluster.bundles == {}
    run(catalog, scenario)
