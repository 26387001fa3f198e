"""The helmbundle process's reconciler (reconcilers.helmbundle) against an in-memory cluster and a fake Helm: what
it installs and records on the bundle status, what it refuses, how a Helm failure is recorded and retried, and an
uninstall."""

from __future__ import annotations

import asyncio
import copy
from typing import Any, Awaitable, Callable, Mapping, TypeVar

import pytest
import yaml

from openstack_operator.core.apigroup import API_VERSION
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.models.bundle import Bundle, BundleOwner, ReleaseStatus
from openstack_operator.core.releases.bundles import OSDPL_LABEL
from openstack_operator.core.rendering.renderer import fingerprint
from openstack_operator.core.settings import Settings
from openstack_operator.kube.gateways.helmbundle import release_patch
from openstack_operator.kube.helm import ChartUnavailable, HelmError, Installed
from openstack_operator.kube.process import Runtime
from openstack_operator.reconcilers.helmbundle import FINALIZER, VALUES_NOT_READY_RETRY, HelmBundleReconciler

from .merge_patch import merged

NS, OSDPL, OSDPL_UID = "cloud", "osdpl", "0b5e55ed-0000-4000-8000-000000000001"
RELEASE, CHART, VERSION = "openstack-mariadb", "mariadb", "2026.1.0"
DIGEST = "sha256:f28160dfa623bcb33d06133078f42b7b38586c784b2e4403c8b81c236f379ba2"  # the catalog's
PASSWORD = "Db0password0that0must0never0show"
VALUES = {"endpoints": {"oslo_db": {"auth": {"admin": {"password": PASSWORD}}}}, "pod": {"replicas": {"server": 1}}}
T0 = 1_800_000_000.0

T = TypeVar("T")


class Conflict(Exception):
    """409: the object changed since it was read."""


class FakeCluster:
    """HelmBundleCluster in memory: bundles (stored as the API server stores them, handed out as the gateway does),
    osdpls, values Secrets and namespaces, and the Events posted."""

    def __init__(self) -> None:
        self.bundles: dict[tuple[str, str], dict[str, Any]] = {}
        self.osdpls: dict[tuple[str, str], dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        self.terminating: set[str] = set()
        self.claims: dict[str, str] = {}  # namespace -> the osdpl its claim names
        self.events: list[tuple[str, str, str, str, str]] = []  # kind of the object, its name, type, reason, message
        self.orphans_ended = 0
        self.job_reports: dict[tuple[str, str], str] = {}  # (namespace, Job) -> its pod's termination message
        self._version = 0

    def _stored(self, body: dict[str, Any]) -> Bundle:
        self._version += 1
        body["metadata"]["resourceVersion"] = str(self._version)
        metadata = body["metadata"]
        if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
            self.bundles.pop((metadata["namespace"], metadata["name"]), None)  # the API server lets it go
        return Bundle.from_api(copy.deepcopy(body))

    def put(self, bundle: dict[str, Any]) -> None:
        self.bundles[(bundle["metadata"]["namespace"], bundle["metadata"]["name"])] = bundle
        self._stored(bundle)

    def stored(self, name: str) -> dict[str, Any]:
        return self.bundles[(NS, name)]

    async def bundle(self, namespace: str, name: str) -> Bundle | None:
        found = self.bundles.get((namespace, name))
        return Bundle.from_api(copy.deepcopy(found)) if found is not None else None

    async def osdpl(self, namespace: str, name: str) -> BundleOwner | None:
        found = self.osdpls.get((namespace, name))
        return BundleOwner.from_api(copy.deepcopy(found), self.claims.get(namespace)) if found is not None else None

    async def namespace_terminating(self, namespace: str) -> bool:
        return namespace in self.terminating

    async def set_finalizers(self, bundle: Bundle, finalizers: list[str]) -> Bundle:
        stored = self.bundles[(bundle.namespace, bundle.name)]
        if stored["metadata"]["resourceVersion"] != bundle.resource_version:
            raise Conflict(bundle.name)
        stored["metadata"]["finalizers"] = list(finalizers)
        return self._stored(stored)

    async def record_release(self, namespace: str, name: str, release: str, status: ReleaseStatus,
                             observed_generation: int | None = None) -> Bundle:
        return self._patch_status(namespace, name, release_patch(release, status, observed_generation))

    async def set_conditions(self, namespace: str, name: str, conditions: list[dict[str, Any]]) -> Bundle:
        return self._patch_status(namespace, name, {"conditions": conditions})

    def _patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> Bundle:
        stored = self.bundles[(namespace, name)]
        stored["status"] = merged(stored.get("status") or {}, patch)
        return self._stored(stored)

    async def post_event(self, involved: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        self.events.append((involved["kind"], involved["metadata"]["name"], kind, reason, message))

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        return self.secrets.get((namespace, name), {}).get(key)

    async def delete_release_leftovers(self, release: str, namespace: str) -> list[str]:
        return []

    async def job_report(self, namespace: str, job: str) -> str | None:
        return self.job_reports.get((namespace, job))

    async def end_orphaned_helm(self) -> None:
        self.orphans_ended += 1


class FakeHelm:
    """HelmReleases: records every call; `failures` are raised by the next installs, one each."""

    def __init__(self) -> None:
        self.installs: list[dict[str, Any]] = []
        self.uninstalls: list[tuple[str, str, bool]] = []
        self.failures: list[HelmError] = []
        self.revision = 0
        self.skip = False  # the release is already at the fingerprint asked for

    async def install(self, name: str, namespace: str, chart: str, version: str, values: Mapping[str, Any],
                      fingerprint: str, timeout_seconds: int, *, digest: str = "", repository: str = "",
                      force: bool = False) -> Installed:
        self.installs.append({"name": name, "namespace": namespace, "chart": chart, "version": version,
                              "values": dict(values), "fingerprint": fingerprint, "force": force})
        if self.failures:
            raise self.failures.pop(0)
        self.revision += 1
        return Installed(self.revision, version, skipped=self.skip, workloads=("StatefulSet/mariadb-server",))

    async def uninstall(self, name: str, namespace: str, timeout_seconds: int, *, hooks: bool = True) -> bool:
        self.uninstalls.append((name, namespace, hooks))
        return True


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _osdpl(**metadata: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "OpenStackDeployment",
            "metadata": {"name": OSDPL, "namespace": NS, "uid": OSDPL_UID, "generation": 1, **metadata}}


def _bundle(values: Mapping[str, Any] = VALUES, release_namespace: str = NS, **spec: Any) -> dict[str, Any]:
    """The database bundle as the osdpl process writes it (or, with `release_namespace`, not)."""
    return {
        "apiVersion": API_VERSION, "kind": "HelmBundle",
        "metadata": {"name": f"{OSDPL}-database", "namespace": NS, "generation": 1, "labels": {OSDPL_LABEL: OSDPL},
                     "ownerReferences": [{"apiVersion": API_VERSION, "kind": "OpenStackDeployment", "name": OSDPL,
                                          "uid": OSDPL_UID, "controller": True}]},
        "spec": {"service": "database", "depends_on": [], "uninstall": False, "releases": [{
            "name": RELEASE, "chart": CHART, "version": VERSION, "digest": DIGEST, "namespace": release_namespace,
            "values_from": {"secret_name": f"{OSDPL}-database-values", "key": RELEASE},
            "fingerprint": fingerprint(CHART, VERSION, DIGEST, release_namespace, values), "timeout_seconds": 600}],
            **spec},
    }


class World:
    def __init__(self, catalog: Catalog) -> None:
        self.cluster, self.helm, self.clock = FakeCluster(), FakeHelm(), Clock()
        self.cluster.osdpls[(NS, OSDPL)] = _osdpl()
        self.cluster.secrets[(NS, f"{OSDPL}-database-values")] = {RELEASE: yaml.safe_dump(VALUES)}
        runtime = Runtime("helmbundle", catalog, Settings(retry_max_seconds=60.0))
        self.reconciler = HelmBundleReconciler(runtime, self.cluster, self.helm, clock=self.clock)

    async def settle(self, name: str) -> float | None:
        """Reconcile the bundle until it asks for nothing more now; returns when it wants to be looked at again."""
        for _ in range(10):
            again = await self.reconciler.reconcile((NS, name))
            if again != 0.0:
                return again
        raise AssertionError(f"bundle {name} never settled")

    def release(self, name: str = f"{OSDPL}-database") -> dict[str, Any]:
        status: dict[str, Any] = self.cluster.stored(name)["status"]["releases"][RELEASE]
        return status


def _run(world: World, scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        try:
            return await asyncio.wait_for(scenario(), timeout=10)
        finally:
            await world.reconciler.stop()
    return asyncio.run(bounded())


@pytest.fixture
def world(catalog: Catalog) -> World:
    return World(catalog)


def test_an_install_is_recorded_on_the_bundle_status(world: World) -> None:
    world.cluster.put(_bundle())

    async def scenario() -> None:
        await world.reconciler.start()
        assert world.cluster.orphans_ended == 1  # before any Helm work
        world.reconciler.observe("ADDED", Bundle.from_api(world.cluster.stored(f"{OSDPL}-database")))
        await world.reconciler.queue.join()

    _run(world, scenario)
    assert [(i["name"], i["namespace"], i["chart"], i["version"], i["values"]) for i in world.helm.installs] == \
        [(RELEASE, NS, CHART, VERSION, VALUES)]
    stored = world.cluster.stored(f"{OSDPL}-database")
    assert FINALIZER in stored["metadata"]["finalizers"]
    assert stored["status"]["observedGeneration"] == 1
    release = world.release()
    assert release["state"] == "deployed" and release["revision"] == 1 and release["chart_version"] == VERSION
    assert release["fingerprint"] == release["target"] == _bundle()["spec"]["releases"][0]["fingerprint"]
    assert release["workloads"] == ["StatefulSet/mariadb-server"] and "attempts" not in release
    assert world.cluster.events == []  # nothing went wrong
    assert _run(world, lambda: world.settle(f"{OSDPL}-database")) is None  # current: Helm is not run again
    assert len(world.helm.installs) == 1


def test_values_not_yet_at_the_bundle_fingerprint_wait_without_helm(world: World) -> None:
    world.cluster.put(_bundle(values={**VALUES, "pod": {"replicas": {"server": 3}}}))
    assert _run(world, lambda: world.settle(f"{OSDPL}-database")) == VALUES_NOT_READY_RETRY
    assert world.helm.installs == []


@pytest.mark.parametrize("bundle, why", [
    (_bundle(release_namespace="kube-system"), "kube-system"),
    ({**_bundle(), "metadata": {**_bundle()["metadata"], "labels": {}}}, "not a bundle of an osdpl"),
])
def test_an_untrusted_bundle_is_refused_reported_and_not_installed(world: World, bundle: dict[str, Any],
                                                                     why: str) -> None:
    world.cluster.put(copy.deepcopy(bundle))
    assert _run(world, lambda: world.settle(f"{OSDPL}-database")) is None
    assert world.helm.installs == [] and world.helm.uninstalls == []
    stored = world.cluster.stored(f"{OSDPL}-database")
    assert not stored["metadata"].get("finalizers")  # nothing of it is done: nothing to undo
    refused = next(c for c in stored["status"]["conditions"] if c["type"] == "Refused")
    assert refused["status"] == "True" and refused["reason"] == "Untrusted" and why in refused["message"]
    assert [(kind, name, type_, reason) for kind, name, type_, reason, _ in world.cluster.events] == \
        [("HelmBundle", f"{OSDPL}-database", "Warning", "BundleRefused")]
    _run(world, lambda: world.settle(f"{OSDPL}-database"))  # looked at again: reported once
    assert len(world.cluster.events) == 1 and world.helm.installs == []


def test_a_forged_bundle_asking_to_uninstall_is_refused_when_its_osdpl_is_not_there(world: World) -> None:
    del world.cluster.osdpls[(NS, OSDPL)]
    world.cluster.put(_bundle(uninstall=True))
    _run(world, lambda: world.settle(f"{OSDPL}-database"))
    assert world.helm.uninstalls == [] and world.helm.installs == []
    refused = world.cluster.stored(f"{OSDPL}-database")["status"]["conditions"][0]
    assert refused["type"] == "Refused" and f"osdpl {OSDPL} does not exist" in refused["message"]


def test_a_helm_failure_is_recorded_with_its_attempts_and_retried_later(world: World) -> None:
    world.cluster.put(_bundle())
    world.helm.failures = [HelmError(f"pre-upgrade hooks failed: password {PASSWORD} refused"),
                           HelmError(f"pre-upgrade hooks failed: password {PASSWORD} refused")]

    again = _run(world, lambda: world.settle(f"{OSDPL}-database"))
    failed = world.release()
    assert (failed["state"], failed["attempts"]) == ("failed", 1) and "reason" not in failed
    assert failed["target"] == _bundle()["spec"]["releases"][0]["fingerprint"]
    assert PASSWORD not in failed["last_error"] and "pre-upgrade hooks failed" in failed["last_error"]
    assert failed["last_attempt_at"] == T0 and T0 + 1.6 <= failed["next_attempt_at"] <= T0 + 2.4
    assert again == pytest.approx(failed["next_attempt_at"] - T0)  # looked at again when the retry is due
    assert [(kind, name, reason) for kind, name, _, reason, _ in world.cluster.events] == \
        [("OpenStackDeployment", OSDPL, "ReleaseFailed")]  # on the osdpl, where users look
    assert PASSWORD not in world.cluster.events[0][4]

    world.clock.now = T0 + 1.0  # not due yet: Helm is not run
    assert _run(world, lambda: world.settle(f"{OSDPL}-database")) == pytest.approx(failed["next_attempt_at"] - T0 - 1)
    assert len(world.helm.installs) == 1

    world.clock.now = failed["next_attempt_at"]  # due: tried again, fails the same way
    again = _run(world, lambda: world.settle(f"{OSDPL}-database"))
    second = world.release()
    assert len(world.helm.installs) == 2 and second["attempts"] == 2
    assert 3.2 <= second["next_attempt_at"] - second["last_attempt_at"] <= 4.8  # the delay doubled
    assert again == pytest.approx(second["next_attempt_at"] - world.clock.now)
    assert len(world.cluster.events) == 1  # the same error again is no new Event

    world.clock.now = second["next_attempt_at"]  # due again: Helm works now
    assert _run(world, lambda: world.settle(f"{OSDPL}-database")) is None
    recovered = world.release()
    assert len(world.helm.installs) == 3 and recovered["state"] == "deployed"
    assert not {"attempts", "last_error", "next_attempt_at"} & set(recovered)
    assert world.cluster.events[-1][2:4] == ("Normal", "ReleaseRecovered")


def test_an_unavailable_chart_is_recorded_with_its_reason(world: World) -> None:
    world.cluster.put(_bundle())
    world.helm.failures = [ChartUnavailable(f"chart {CHART} {VERSION} from http://127.0.0.1:1: connection refused")]
    _run(world, lambda: world.settle(f"{OSDPL}-database"))
    failed = world.release()
    assert (failed["state"], failed["reason"], failed["attempts"]) == ("failed", "ChartUnavailable", 1)
    assert world.cluster.events[0][3] == "ChartUnavailable"


def _deployed(world: World, **spec: Any) -> None:
    world.cluster.put(_bundle())
    _run(world, lambda: world.settle(f"{OSDPL}-database"))
    assert world.release()["state"] == "deployed"
    stored = world.cluster.stored(f"{OSDPL}-database")
    stored["spec"] = merged(stored["spec"], spec)
    stored["metadata"]["generation"] += 1


def test_a_disabled_service_is_uninstalled(world: World) -> None:
    _deployed(world, uninstall=True)
    assert _run(world, lambda: world.settle(f"{OSDPL}-database")) is None
    assert world.helm.uninstalls == [(RELEASE, NS, True)]
    release = world.release()
    assert release["state"] == "uninstalled" and "fingerprint" not in release
    assert FINALIZER in world.cluster.stored(f"{OSDPL}-database")["metadata"]["finalizers"]  # not deleted: kept
    _run(world, lambda: world.settle(f"{OSDPL}-database"))
    assert len(world.helm.uninstalls) == 1


def test_a_bundle_deleted_with_its_namespace_is_uninstalled_without_hooks_then_let_go(world: World) -> None:
    _deployed(world)
    world.cluster.stored(f"{OSDPL}-database")["metadata"]["deletionTimestamp"] = "2027-01-15T08:00:00Z"
    world.cluster.terminating.add(NS)
    assert _run(world, lambda: world.settle(f"{OSDPL}-database")) is None
    assert world.helm.uninstalls == [(RELEASE, NS, False)]
    assert (NS, f"{OSDPL}-database") not in world.cluster.bundles  # finalizer removed: the API server let it go


def test_a_bundle_deleted_by_hand_while_its_deployment_stays_keeps_its_releases(world: World) -> None:
    _deployed(world)
    world.cluster.stored(f"{OSDPL}-database")["metadata"]["deletionTimestamp"] = "2027-01-15T08:00:00Z"
    assert _run(world, lambda: world.settle(f"{OSDPL}-database")) is None
    assert world.helm.uninstalls == []
    assert (NS, f"{OSDPL}-database") not in world.cluster.bundles


@pytest.mark.parametrize("release, why", [
    ({"chart": "evil"}, f"chart evil is not the catalog's {CHART}"),
    ({"version": "0.0.1"}, f"version 0.0.1 is not the catalog's {VERSION}"),
    ({"digest": ""}, f"digest (unset) is not the catalog's {DIGEST}"),
    ({"repository": "https://charts.evil.example"}, "repository is not spec.artifacts.charts_url of osdpl osdpl"),
    ({"values_from": {"secret_name": "forged-values", "key": RELEASE}}, "values_from Secret forged-values key"),
])
def test_a_forged_bundle_with_the_right_name_and_label_is_refused_and_nothing_is_run(
        world: World, release: dict[str, Any], why: str) -> None:
    forged = _bundle()
    forged["spec"]["releases"][0].update(release)
    world.cluster.secrets[(NS, "forged-values")] = {RELEASE: yaml.safe_dump(VALUES)}
    world.cluster.put(forged)
    assert _run(world, lambda: world.settle(f"{OSDPL}-database")) is None
    assert world.helm.installs == [] and world.helm.uninstalls == []
    refused = world.cluster.stored(f"{OSDPL}-database")["status"]["conditions"][0]
    assert (refused["type"], refused["status"]) == ("Refused", "True") and why in refused["message"]
    assert [(reason, why in message) for _, _, _, reason, message in world.cluster.events] == \
        [("BundleRefused", True)]


def test_a_bundle_of_an_osdpl_blocked_from_the_namespace_is_refused_and_nothing_is_run(world: World) -> None:
    world.cluster.claims[NS] = "holder"
    world.cluster.put(_bundle())
    assert _run(world, lambda: world.settle(f"{OSDPL}-database")) is None
    assert world.helm.installs == [] and world.helm.uninstalls == []
    refused = world.cluster.stored(f"{OSDPL}-database")["status"]["conditions"][0]
    assert (refused["type"], refused["status"]) == ("Refused", "True")
    assert f"is held by osdpl holder, not osdpl {OSDPL}" in refused["message"]


def test_a_bundle_names_the_chart_repository_its_osdpl_sets(world: World) -> None:
    mirror = "https://charts.mirror.example/osh"
    world.cluster.osdpls[(NS, OSDPL)]["spec"] = {"artifacts": {"charts_url": mirror}}
    world.cluster.put(_bundle())  # no repository: not what the osdpl writes now
    _run(world, lambda: world.settle(f"{OSDPL}-database"))
    assert world.helm.installs == []
    stored = world.cluster.stored(f"{OSDPL}-database")  # as the osdpl process writes it again
    stored["spec"]["releases"][0]["repository"] = mirror
    stored["metadata"]["generation"] += 1
    _run(world, lambda: world.settle(f"{OSDPL}-database"))
    assert len(world.helm.installs) == 1 and world.release()["state"] == "deployed"
    refused = world.cluster.stored(f"{OSDPL}-database")["status"]["conditions"][0]
    assert (refused["type"], refused["status"]) == ("Refused", "False")


def _leftover(world: World) -> None:
    """The deployed bundle deleted as the leftover of an osdpl no longer there."""
    _deployed(world)
    world.cluster.stored(f"{OSDPL}-database")["metadata"]["deletionTimestamp"] = "2027-01-15T08:00:00Z"
    world.cluster.events.clear()


def _kept(world: World, why: str) -> None:
    """Helm untouched, the finalizer dropped (the API server let the bundle go), and Events saying why."""
    assert world.helm.uninstalls == [] and len(world.helm.installs) == 1
    assert (NS, f"{OSDPL}-database") not in world.cluster.bundles
    assert [(kind, reason) for kind, _, _, reason, _ in world.cluster.events] == [("HelmBundle", "ReleasesKept")]
    assert why in world.cluster.events[0][4] and "left as they are" in world.cluster.events[0][4]


@pytest.mark.parametrize("osdpl_deleting", [False, True])
def test_a_leftover_bundle_of_an_earlier_osdpl_of_the_same_name_never_uninstalls_the_current_releases(
        world: World, osdpl_deleting: bool) -> None:
    """The osdpl was deleted and created again (another uid). Were it being deleted too, its own bundles uninstall
    its releases: never a leftover."""
    _leftover(world)
    deleting = {"deletionTimestamp": "2027-01-15T08:00:00Z"} if osdpl_deleting else {}
    world.cluster.osdpls[(NS, OSDPL)] = _osdpl(uid="0b5e55ed-0000-4000-8000-000000000002", **deleting)
    assert _run(world, lambda: world.settle(f"{OSDPL}-database")) is None
    _kept(world, "a bundle of an earlier osdpl")


def test_a_leftover_bundle_of_a_gone_osdpl_never_uninstalls_the_releases_of_the_osdpl_now_in_the_namespace(
        world: World) -> None:
    _leftover(world)
    del world.cluster.osdpls[(NS, OSDPL)]
    world.cluster.osdpls[(NS, "other")] = _osdpl(name="other", uid="0b5e55ed-0000-4000-8000-000000000003")
    assert _run(world, lambda: world.settle(f"{OSDPL}-database")) is None
    _kept(world, f"osdpl {OSDPL} does not exist")


def test_a_bundle_of_a_gone_osdpl_in_a_namespace_being_deleted_is_uninstalled(world: World) -> None:
    """Nothing can be created in a namespace being deleted: its releases are nobody else's (cluster-scoped objects
    of the charts would be left behind otherwise)."""
    _leftover(world)
    del world.cluster.osdpls[(NS, OSDPL)]
    world.cluster.terminating.add(NS)
    assert _run(world, lambda: world.settle(f"{OSDPL}-database")) is None
    assert world.helm.uninstalls == [(RELEASE, NS, False)]
    assert (NS, f"{OSDPL}-database") not in world.cluster.bundles


def test_a_retired_bundle_of_an_earlier_osdpl_does_not_uninstall(world: World) -> None:
    _deployed(world, uninstall=True)
    world.cluster.osdpls[(NS, OSDPL)] = _osdpl(uid="0b5e55ed-0000-4000-8000-000000000002")
    world.helm.uninstalls.clear()
    _run(world, lambda: world.settle(f"{OSDPL}-database"))
    assert world.helm.uninstalls == []
    refused = world.cluster.stored(f"{OSDPL}-database")["status"]["conditions"][0]
    assert refused["status"] == "True" and "a bundle of an earlier osdpl" in refused["message"]


def test_a_deployment_whose_helm_hangs_does_not_hold_up_another_deployment(catalog: Catalog) -> None:
    """One Helm slot (OSOP_HELM_CONCURRENCY=1), taken by a release of namespace `cloud` whose hooks hang: the
    release of namespace `cloud-2` is installed meanwhile (slots are per namespace)."""
    world = World(catalog)
    world.reconciler = HelmBundleReconciler(Runtime("helmbundle", catalog, Settings(helm_concurrency=1)),
                                            world.cluster, world.helm, clock=world.clock)
    hanging = asyncio.Event()
    install = world.helm.install

    async def hang_in_cloud(name: str, namespace: str, *args: Any, **kwargs: Any) -> Installed:
        if namespace == NS:
            await hanging.wait()
        return await install(name, namespace, *args, **kwargs)

    world.helm.install = hang_in_cloud  # type: ignore[method-assign]
    other = "cloud-2"
    second = _bundle(release_namespace=other)
    second["metadata"]["namespace"] = other
    world.cluster.osdpls[(other, OSDPL)] = {**_osdpl(), "metadata": {**_osdpl()["metadata"], "namespace": other}}
    world.cluster.secrets[(other, f"{OSDPL}-database-values")] = {RELEASE: yaml.safe_dump(VALUES)}
    world.cluster.put(_bundle())
    world.cluster.put(second)

    async def scenario() -> None:
        world.reconciler.observe("ADDED", Bundle.from_api(world.cluster.stored(f"{OSDPL}-database")))
        await asyncio.sleep(0.05)
        world.reconciler.observe("ADDED", Bundle.from_api(second))
        for _ in range(200):
            if world.helm.installs:
                break
            await asyncio.sleep(0.01)
        assert [(i["name"], i["namespace"]) for i in world.helm.installs] == [(RELEASE, other)]
        hanging.set()
        await world.reconciler.queue.join()

    _run(world, scenario)
    assert sorted(i["namespace"] for i in world.helm.installs) == [NS, other]


def _reporting_bundle(catalog: Catalog, service: str, chart_name: str) -> dict[str, Any]:
    """The bundle of a service whose chart has a Job that reports (tempest's run-tests, octavia's bootstrap)."""
    chart = catalog.charts[chart_name]
    bundle = _bundle()
    bundle["metadata"]["name"] = f"{OSDPL}-{service}"
    bundle["spec"]["service"] = service
    bundle["spec"]["releases"][0].update({
        "name": f"openstack-{chart_name}", "chart": chart_name, "digest": chart.digest,
        "values_from": {"secret_name": f"{OSDPL}-{service}-values", "key": f"openstack-{chart_name}"},
        "fingerprint": fingerprint(chart_name, VERSION, chart.digest, NS, VALUES)})
    return bundle


def _tempest_bundle(catalog: Catalog) -> dict[str, Any]:
    return _reporting_bundle(catalog, "tempest", "tempest")


@pytest.mark.parametrize("message, expected", [
    ('{"result": "Failed", "passed": 40, "failed": 1, "skipped": 3, "seconds": 95, "failed_tests": ["t.a.b"]}',
     {"result": "Failed", "job": "openstack-tempest-run-tests", "passed": 40, "failed": 1, "skipped": 3,
      "seconds": 95, "failed_tests": ["t.a.b"]}),
    (None, {"result": "Unknown", "job": "openstack-tempest-run-tests",
            "message": "Job openstack-tempest-run-tests's pod left no summary (termination message)"}),
    ('{"result": "Passed", "passed": "all"}', {"result": "Unknown", "job": "openstack-tempest-run-tests",
                                               "message": "Job openstack-tempest-run-tests's summary is not usable: "
                                                          "passed is not a count"}),
])
def test_a_deployed_test_release_records_what_its_run_reported(catalog: Catalog, world: World, message: str | None,
                                                               expected: dict[str, Any]) -> None:
    world.cluster.secrets[(NS, f"{OSDPL}-tempest-values")] = {"openstack-tempest": yaml.safe_dump(VALUES)}
    world.cluster.put(_tempest_bundle(catalog))
    if message is not None:
        world.cluster.job_reports[(NS, "openstack-tempest-run-tests")] = message
    _run(world, lambda: world.settle(f"{OSDPL}-tempest"))
    release = world.cluster.stored(f"{OSDPL}-tempest")["status"]["releases"]["openstack-tempest"]
    assert release["state"] == "deployed" and release["summary"] == expected


BOOTSTRAP_REPORT = ('{"result": "Ready", "network_id": "net-1", "amphora_secgroup_id": "sg-1", "flavor_id": "f-1", '
                    '"health_managers": {"net-0": "10.255.0.11"}}')


def test_a_bootstrap_report_is_kept_when_a_later_run_leaves_none_and_read_again_until_there_is_one(
        catalog: Catalog, world: World) -> None:
    world.cluster.secrets[(NS, f"{OSDPL}-load-balancer-values")] = {"openstack-octavia": yaml.safe_dump(VALUES)}
    world.cluster.put(_reporting_bundle(catalog, "load-balancer", "octavia"))
    name = f"{OSDPL}-load-balancer"

    def summary() -> dict[str, Any]:
        return dict(world.cluster.stored(name)["status"]["releases"]["openstack-octavia"]["summary"])

    again = _run(world, lambda: world.settle(name))
    assert summary()["result"] == "Unknown"
    assert again == Settings().report_recheck_seconds  # no report: the Job's pod is read again later
    world.cluster.job_reports[(NS, "octavia-bootstrap")] = BOOTSTRAP_REPORT  # reached the pod's status
    assert _run(world, lambda: world.settle(name)) is None and len(world.helm.installs) == 1  # read, not installed
    assert summary() == {"result": "Ready", "job": "octavia-bootstrap", "network_id": "net-1",
                         "amphora_secgroup_id": "sg-1", "flavor_id": "f-1",
                         "health_managers": [{"host": "net-0", "address": "10.255.0.11"}]}
    world.cluster.job_reports.clear()  # the next run (an upgrade) leaves none: what it named is still there
    world.cluster.put({**world.cluster.stored(name), "spec": {**world.cluster.stored(name)["spec"], "reapply": "1"}})
    _run(world, lambda: world.settle(name))
    assert len(world.helm.installs) == 2 and summary()["network_id"] == "net-1"


def test_a_test_release_already_current_keeps_its_summary_and_other_releases_have_none(
        catalog: Catalog, world: World) -> None:
    world.cluster.secrets[(NS, f"{OSDPL}-tempest-values")] = {"openstack-tempest": yaml.safe_dump(VALUES)}
    world.cluster.put(_tempest_bundle(catalog))
    world.cluster.job_reports[(NS, "openstack-tempest-run-tests")] = \
        '{"result": "Passed", "passed": 4, "failed": 0, "skipped": 0, "seconds": 9}'
    _run(world, lambda: world.settle(f"{OSDPL}-tempest"))
    world.cluster.job_reports.clear()  # no new run: Helm had nothing to do
    world.helm.skip = True
    world.cluster.put({**world.cluster.stored(f"{OSDPL}-tempest"), "spec": {
        **world.cluster.stored(f"{OSDPL}-tempest")["spec"], "reapply": "again"}})
    _run(world, lambda: world.settle(f"{OSDPL}-tempest"))
    assert len(world.helm.installs) == 2
    summary = world.cluster.stored(f"{OSDPL}-tempest")["status"]["releases"]["openstack-tempest"]["summary"]
    assert summary["result"] == "Passed" and summary["passed"] == 4
    world.cluster.put(_bundle())
    _run(world, lambda: world.settle(f"{OSDPL}-database"))
    assert "summary" not in world.release()
