"""osdpl process: from an OpenStackDeployment to one HelmBundle per enabled service, and the osdpl's status.

A reconcile renders every service first and writes only after everything rendered, so a spec that cannot be
rendered changes nothing. It then writes what differs (values Secrets, bundles), retires bundles of disabled
services (their releases are uninstalled, then the bundle goes), and patches the status fields that changed.
It runs when the osdpl's generation, deletion state or reapply request changes (never for its own status writes)
and, coalesced, when one of its bundles changes (to mirror release states into `status.children`) or the health
process wrote new workload health (Ready needs every release deployed and every workload ready).

Credentials and Ceph keys come from the secrets process (controllers/secrets.py): a credential is rendered only if
its digest matches that process's record on `status.credentials`, so until it is there, or while the Secret is lost,
nothing is written and the status says why (WaitingForCredentials, CredentialsLost, WaitingForCephKeys).

One deployment per namespace (core.releases.bundles.namespace_holder): a second osdpl gets `Degraded` (NamespaceInUse) and
writes nothing. A write the API server refuses (permissions, quota, admission) is a condition naming the object and
an Event, retried with backoff. Deletion uninstalls every release whatever the propagation policy: this finalizer
asks each bundle to uninstall and waits; the helmbundle process's own finalizer on every bundle covers foreground
deletion, where the garbage collector deletes the bundles first.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
import datetime
import logging
from dataclasses import dataclass
from typing import Any, Mapping

import kopf
import pykube

from openstack_operator.core.releases.bundles import (OSDPL_LABEL, REAPPLY_ANNOTATION, SERVICE_LABEL, all_uninstalled,
                                             bundle_name, bundle_spec, namespace_holder, plan_bundles,
                                             values_secret_data, values_secret_name, with_requests)
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.ceph import CephExchange, consumers, keys_source
from openstack_operator.core.secrets.credentials import Credential, digest, required_credentials
from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.models.spec import DeploymentSpec
from openstack_operator.core.rendering.renderer import Renderer
from openstack_operator.core.health.workloads import release_basis
from openstack_operator.core.upgrades.rollout import COMPLETED, ORDERED, STUCK, UPGRADE_STUCK, Step, advance, begin
from openstack_operator.core.status.conditions import (CONDITION_TYPES, Observed, compute_status, condition_states,
                                            failing_releases, release_states, status_patch)
from openstack_operator.core.upgrades.guard import version_problem
from openstack_operator.core.runtime.workqueue import WorkQueue
from openstack_operator.kube import metrics
from openstack_operator.kube.client import HelmBundle, OpenStackDeployment, api, count_write, owner_reference
from openstack_operator.core.releases.helmwork import retry_delay
from openstack_operator.kube.ceph import read_ceph_copy
from openstack_operator.kube.credentials import credentials_secret_name, ensure_kept_secrets, read_credentials
from openstack_operator.kube.events import post_event
from openstack_operator.kube.objects import (ApiWriteError, apply_bundle, apply_secret, claim_namespace, delete,
                                             get_or_none, namespace_claim, patch_spec, patch_status, release_namespace)
from openstack_operator.kube.operator import new_registry, retry_cap_seconds

log = logging.getLogger("osop.osdpl")
REGISTRY = new_registry("osdpl")
FINALIZER = f"osdpl.{GROUP}/uninstall-releases"
BUNDLE_FINALIZER = f"helmbundle.{GROUP}/uninstall-releases"  # the helmbundle process's (see there)
Key = tuple[str, str]  # namespace, osdpl name

RETRY_CAP_SECONDS = retry_cap_seconds()  # between two attempts at a write the API server refused
CLAIM_RETRY_SECONDS = 0.5
BUNDLES_GONE_POLL_SECONDS = 2.0  # deleting: how often to look whether the deleted bundles are gone
STATUS_COALESCE_SECONDS = 0.25  # bundle events within this window cost one status reconcile
WORKERS = 4


class CredentialsUnavailable(Exception):
    """The credentials the enabled services need are not (all) vetted by the secrets process: nothing is written."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Applied:
    """What a reconcile wrote for one generation of an osdpl: bundle specs and release fingerprints."""
    uid: str
    generation: int
    reapply: str  # the osdpl's reapply annotation the bundles were written with
    credentials: int  # the revision of the credentials rendered (status.credentials.revision)
    ceph: str  # the digest of the Ceph keys rendered (status.ceph.digest), empty without
    specs: Mapping[str, Mapping[str, Any]]
    desired: dict[str, dict[str, str]]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class OsdplController:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.renderer = Renderer(catalog)
        self.seen: dict[Key, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}  # essence (see observe_osdpl), health
        self.rendered: dict[Key, Applied] = {}  # the last generation applied per osdpl
        self.refusals: dict[Key, int] = {}  # refused writes in a row per osdpl, for the retry backoff
        self.queue: WorkQueue[Key] = WorkQueue(self._work, WORKERS, self._log_error,
                                               metrics.reconcile_observer("osdpl"))
        metrics.watch_queue("osdpl", self.queue)

    @staticmethod
    def _log_error(key: Key, error: BaseException) -> None:
        log.error("osdpl %s/%s: %s: %s", *key, type(error).__name__, error)

    def observe_osdpl(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        metadata = body["metadata"]
        key = (metadata["namespace"], metadata["name"])
        _export_state(key, None if event_type == "DELETED" else body.get("status") or {})
        if event_type == "DELETED":
            self.seen.pop(key, None)
            self.rendered.pop(key, None)
            self.refusals.pop(key, None)
            for other in [k for k in self.seen if k[0] == key[0]]:  # one of them may hold the namespace now
                self.queue.add(other)
            return
        # Our own status writes change none of this, so they do not re-trigger a reconcile. The health process's
        # writes change the health part: the conditions are recomputed from it, coalesced like bundle events.
        essence: tuple[Any, ...] = (metadata.get("uid"), metadata.get("generation"), bool(metadata.get("deletionTimestamp")),
                   FINALIZER in (metadata.get("finalizers") or []),
                   (metadata.get("annotations") or {}).get(REAPPLY_ANNOTATION))
        status = body.get("status") or {}
        credentials = status.get("credentials") or {}
        essence += (credentials.get("state"), credentials.get("revision"),  # the secrets process's word
                    (status.get("ceph") or {}).get("digest"))
        # compared, never mutated; the secrets process's verdicts on the Ceph keys and the certificate count too
        health = (status.get("health"), status.get("health_basis"), (status.get("ceph") or {}).get("state"),
                  (status.get("certificate") or {}).get("state"))
        seen = self.seen.get(key)
        self.seen[key] = (essence, health)
        if seen is None or seen[0] != essence:
            self.queue.add(key)
        elif seen[1] != health:
            self.queue.add(key, STATUS_COALESCE_SECONDS)

    def observe_bundle(self, body: Mapping[str, Any]) -> None:
        osdpl = (body["metadata"].get("labels") or {}).get(OSDPL_LABEL)
        if osdpl:
            self.queue.add((body["metadata"]["namespace"], osdpl), STATUS_COALESCE_SECONDS)

    async def _work(self, key: Key) -> float | None:
        return await asyncio.to_thread(self.reconcile, key)

    # -- reconcile (blocking API calls: runs in a worker thread) --------------------------------------------------
    def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        current = get_or_none(OpenStackDeployment, namespace, name)
        if current is None:
            return None
        body: dict[str, Any] = current.obj
        in_namespace = [b.obj for b in HelmBundle.objects(api(), namespace=namespace)]
        # Ours by label and name (a controller reference goes with orphan propagation); a hand-written bundle of
        # another name is not (the helmbundle process refuses it).
        bundles = {b["spec"]["service"]: b for b in in_namespace
                   if (b["metadata"].get("labels") or {}).get(OSDPL_LABEL) == name
                   and b["metadata"]["name"] == bundle_name(name, b["spec"]["service"])}
        if body["metadata"].get("deletionTimestamp"):
            try:
                return self._finalize(body, bundles)
            except ApiWriteError as error:
                return self._refused(key, body, bundles, error)
        if FINALIZER not in (body["metadata"].get("finalizers") or []):
            self._set_finalizers(body, [*(body["metadata"].get("finalizers") or []), FINALIZER])
        status = body.get("status") or {}
        reconciled = status.get("observedGeneration")
        claim = namespace_claim(namespace)
        claimed_by = ((claim.obj.get("spec") or {}).get("holderIdentity") if claim is not None else None)
        holder = namespace_holder(name, [o.obj for o in OpenStackDeployment.objects(api(), namespace=namespace)],
                                  [(b["metadata"].get("labels") or {}).get(OSDPL_LABEL, "") for b in in_namespace],
                                  claimed_by)
        if not holder and claimed_by != name and not claim_namespace(namespace, name, claim, {OSDPL_LABEL: name}):
            return CLAIM_RETRY_SECONDS  # another osdpl claimed it at the same moment: look again
        if holder:
            if self._write_status(body, self._observed(body, reconciled, {}, blocked_by=holder)):
                log.warning("osdpl %s/%s: namespace held by osdpl %s; nothing done", namespace, name, holder)
                post_event(body, "Warning", "NamespaceInUse",
                           f"namespace {namespace} already holds the deployment {holder}: nothing is deployed for "
                           f"{name} while {holder} exists")
            return None
        if body["spec"].get("draft"):
            self._write_status(body, self._observed(body, reconciled, bundles, draft=True))
            return None
        # Where the admission policy is not installed, the operator holds a release change that cannot follow the
        # deployed release: the releases keep what they run.
        held = version_problem(self.catalog, body["spec"]["openstack_version"], status)
        if held:
            if self._write_status(body, self._observed(body, reconciled, bundles, upgrade_held=held)):
                log.warning("osdpl %s/%s: %s", namespace, name, held[1])
                post_event(body, "Warning", held[0], held[1])
            return None
        try:
            desired, rollout, recheck = self._apply(body, bundles)
        except OperatorError as error:  # the spec cannot be rendered: nothing was written
            log.warning("osdpl %s/%s: %s", namespace, name, error)
            self._write_status(body, self._observed(body, reconciled, bundles, spec_error=str(error)))
            return None
        except ApiWriteError as error:  # nothing after the refused write was written; retried
            return self._refused(key, body, bundles, error)
        except CredentialsUnavailable as waiting:  # the secrets process's status change brings us back
            self._write_status(body, self._observed(body, reconciled, bundles,
                                                    credentials_problem=(waiting.reason, str(waiting))))
            return None
        self.refusals.pop(key, None)
        observed = Observed(generation=body["metadata"]["generation"], reconciled_generation=body["metadata"]["generation"],
                            draft=False, openstack_version=body["spec"]["openstack_version"], desired=desired,
                            bundles=bundles, previous=status, upgrade=rollout,
                            applied_credentials=self.rendered[key].credentials if key in self.rendered else None)
        if self._write_status(body, observed) and rollout and rollout["phase"] == STUCK:
            post_event(body, "Warning", UPGRADE_STUCK, f"upgrade to {rollout['to']} stopped at {rollout['message']}")
        return recheck

    def _refused(self, key: Key, body: Mapping[str, Any], bundles: Mapping[str, Mapping[str, Any]],
                 error: ApiWriteError) -> float:
        """A write the API server refused: a condition and an Event naming it; returns when to try again."""
        refusals = self.refusals[key] = self.refusals.get(key, 0) + 1
        log.warning("osdpl %s/%s: %s (retry %d)", *key, error, refusals)
        observed = self._observed(body, (body.get("status") or {}).get("observedGeneration"), bundles,
                                  deleting=bool(body["metadata"].get("deletionTimestamp")),
                                  api_error=(error.reason, str(error)))
        if self._write_status(body, observed):
            post_event(body, "Warning", error.reason, str(error))
        return retry_delay(refusals, RETRY_CAP_SECONDS)

    def _apply(self, body: dict[str, Any], bundles: dict[str, dict[str, Any]]) \
            -> tuple[dict[str, dict[str, str]], dict[str, Any] | None, float | None]:
        """Render, then write what differs, or during a release change what its rollout moves now (core.upgrades.rollout).
        Returns service -> release -> fingerprint, the rollout (None: no release change) and when to look again."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        reapply = (body["metadata"].get("annotations") or {}).get(REAPPLY_ANNOTATION, "")
        report = (body.get("status") or {}).get("credentials") or {}
        if report.get("state") == "Lost":  # even for a generation already applied: the status must say so
            raise CredentialsUnavailable("CredentialsLost", str(report.get("message", "credentials lost")))
        revision = int(report.get("revision") or 0)
        ceph_digest = ((body.get("status") or {}).get("ceph") or {}).get("digest", "")
        done = self.rendered.get((namespace, name))
        if done and (done.uid, done.generation, done.reapply, done.credentials, done.ceph) == (
                body["metadata"]["uid"], body["metadata"]["generation"], reapply, revision, ceph_digest):
            plan = plan_bundles(done.specs, bundles)
            if not (plan.write or plan.retire or plan.delete):
                # This generation is applied and the bundles still say so: a bundle status or health change
                # only needs the status recomputed, not a render.
                return done.desired, None, None
        osdpl = load_osdpl(self.catalog, body)
        enabled = osdpl.spec.enabled_services(self.catalog)
        labels = {OSDPL_LABEL: name}
        credentials = self._vetted_credentials(body, required_credentials(self.catalog, enabled))
        services = self.renderer.render(osdpl.spec, credentials, namespace, ceph=self._ceph_keys(body, osdpl.spec))
        values = {service.name: values_secret_data(name, service) for service in services}  # all fit, or none
        ensure_kept_secrets(namespace, [secret for service in enabled for chart in self.catalog.services[service].charts
                                        for secret in chart.kept_secrets], labels)
        owner = owner_reference(body)
        specs = {service.name: with_requests(bundle_spec(name, service, osdpl.spec.charts_url),
                                             bundles.get(service.name), body) for service in services}
        desired = {s.name: {r.name: r.fingerprint for r in s.releases} for s in services}
        rollout = begin(body.get("status") or {}, osdpl.spec.openstack_version, list(self.catalog.releases),
                        self.catalog.upgrade_order, [s for s in bundles if s in specs], _now())
        sensitive = [c.password for c in credentials.values()]

        # Values first: a bundle never points at values that are not there yet. Each Secret is read, not assumed:
        # one deleted by hand (or with an earlier osdpl of the same name) is written again.
        def write_values(service_name: str) -> None:
            apply_secret(namespace, values_secret_name(name, service_name), values[service_name],
                         {**labels, SERVICE_LABEL: service_name}, owner, sensitive=sensitive)

        def write_bundle(service_name: str) -> None:
            apply_bundle(namespace, bundle_name(name, service_name), specs[service_name],
                         {**labels, SERVICE_LABEL: service_name}, owner, bundles.get(service_name),
                         [BUNDLE_FINALIZER])

        recheck = None
        if rollout is not None:  # a release change: what its rollout moves now, and nothing else
            step = self._step(body, rollout, specs, desired, bundles, osdpl.spec.features)
            for service_name in step.write:
                write_values(service_name)
                if bundles[service_name].get("spec") != specs[service_name]:
                    log.info("osdpl %s/%s: %s -> %s: moving service %s", namespace, name, rollout["from"],
                             rollout["to"], service_name)
                    write_bundle(service_name)
            rollout, recheck = step.rollout, step.recheck_in
            if rollout["phase"] != COMPLETED:  # nothing else is written until every service moved
                self.rendered.pop((namespace, name), None)
                return desired, rollout, recheck
        for service in services:
            write_values(service.name)
        plan = plan_bundles(specs, bundles)
        for service_name in plan.write:
            write_bundle(service_name)
        self._retire(namespace, name, bundles, plan.retire, plan.delete)
        self.rendered[(namespace, name)] = Applied(body["metadata"]["uid"], body["metadata"]["generation"], reapply,
                                                   revision, ceph_digest, specs, desired)
        return desired, rollout, recheck

    @staticmethod
    def _step(body: dict[str, Any], rollout: Mapping[str, Any], specs: Mapping[str, Mapping[str, Any]],
              desired: Mapping[str, Mapping[str, str]], bundles: Mapping[str, Mapping[str, Any]],
              features: Mapping[str, Any]) -> Step:
        """One look at the rollout, recorded on the status before any bundle or values it moves is written (see
        core.upgrades.rollout: a SIGKILL after this write resumes with the service's step; before it, none of them was)."""
        status = body.get("status") or {}
        states = release_states(desired, bundles)
        settings = features.get("upgrade") or {}
        timeouts = {service: float(settings.get("service_timeout_seconds")
                                   or sum(r.get("timeout_seconds", 0) for r in spec["releases"]))
                    for service, spec in specs.items()}
        step = advance(rollout, specs, bundles, states, status.get("health") or {},
                       status.get("health_basis") == release_basis(states), timeouts,
                       settings.get("strategy", ORDERED) == ORDERED, _now())
        recorded: dict[str, Any] = {"upgrade": step.rollout}
        if step.rollout["phase"] == COMPLETED:  # in the same write: a restart must not see it done but not deployed
            recorded["openstack_version"] = step.rollout["to"]
        patch = status_patch(status, recorded)
        if patch:
            patch_status(OpenStackDeployment, body["metadata"]["namespace"], body["metadata"]["name"], patch)
            body["status"] = {**status, **recorded}
        return step

    def _vetted_credentials(self, body: Mapping[str, Any], needed: list[str]) -> dict[str, Credential]:
        """The credentials of `needed`, as the secrets process recorded them (status.credentials.digests); raises
        CredentialsUnavailable while one is missing, or differs from the record (lost, or a write in flight)."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        recorded = ((body.get("status") or {}).get("credentials") or {}).get("digests") or {}
        secret = read_credentials(self.catalog, namespace, name)
        current = secret.stored.current if secret.stored is not None and not secret.deleting else {}
        waiting = [n for n in needed if n not in current or digest(current[n]) != recorded.get(n)]
        if waiting:
            raise CredentialsUnavailable("WaitingForCredentials",
                                         f"waiting for the secrets process to provide {len(waiting)} credentials in "
                                         f"Secret {credentials_secret_name(name)}: {', '.join(waiting[:5])}"
                                         f"{' and more' if len(waiting) > 5 else ''}")
        return {n: current[n] for n in needed}

    @staticmethod
    def _ceph_keys(body: Mapping[str, Any], spec: DeploymentSpec) -> CephExchange | None:
        """The Ceph keys as the secrets process copied them, if a chart reads them; raises CredentialsUnavailable
        before the first copy."""
        if not consumers(spec.features):
            return None
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        exchange = read_ceph_copy(namespace, name)
        if exchange is None:
            report = (body.get("status") or {}).get("ceph") or {}
            raise CredentialsUnavailable("WaitingForCephKeys", str(report.get("message") or (
                f"waiting for the secrets process to copy the Ceph keys of {keys_source(spec.features)}")))
        return exchange

    def _retire(self, namespace: str, name: str, bundles: Mapping[str, Mapping[str, Any]], retire: list[str],
                remove: list[str]) -> None:
        for service in retire:
            log.info("osdpl %s/%s: service %s disabled: uninstalling its releases", namespace, name, service)
            patch_spec(HelmBundle, namespace, bundle_name(name, service), {"uninstall": True})
        for service in remove:
            delete(HelmBundle, namespace, bundle_name(name, service))
            delete(pykube.Secret, namespace, values_secret_name(name, service))
            log.info("osdpl %s/%s: service %s removed", namespace, name, service)

    def _finalize(self, body: Mapping[str, Any], bundles: dict[str, dict[str, Any]]) -> float | None:
        """Deletion: uninstall every service (dependents first, see core.releases.helmwork), delete the bundles, and let the
        osdpl go once they are gone. Returns when to look again."""
        finalizers = body["metadata"].get("finalizers") or []
        if FINALIZER not in finalizers:
            return None
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        # Bundles the garbage collector is deleting (foreground propagation) uninstall under their own finalizer.
        to_retire = [s for s, b in bundles.items() if not b["spec"].get("uninstall")
                     and not b["metadata"].get("deletionTimestamp")]
        done = [s for s, b in bundles.items() if b["spec"].get("uninstall") and all_uninstalled(b)]
        self._retire(namespace, name, bundles, to_retire,
                     [s for s in done if not bundles[s]["metadata"].get("deletionTimestamp")])
        remaining = {s: b for s, b in bundles.items() if s not in done}
        if remaining:
            status = body.get("status") or {}
            observed = self._observed(body, status.get("observedGeneration"), remaining, deleting=True)
            self._write_status(body, observed)
            return None
        if bundles:  # deleted, gone once the helmbundle process lets them go (their DELETED events, or this poll)
            return BUNDLES_GONE_POLL_SECONDS
        # Values Secrets whose bundle was already gone (orphan propagation leaves them without an owner).
        values_selector = f"{OSDPL_LABEL}={name},{SERVICE_LABEL}"
        for secret in pykube.Secret.objects(api(), namespace=namespace).filter(selector=values_selector):
            delete(pykube.Secret, namespace, secret.name)
        release_namespace(namespace, name)
        self._set_finalizers(body, [f for f in finalizers if f != FINALIZER])
        log.info("osdpl %s/%s: every release uninstalled; finalizer removed", namespace, name)
        return None

    @staticmethod
    def _observed(body: Mapping[str, Any], reconciled: int | None, bundles: Mapping[str, Mapping[str, Any]],
                  draft: bool = False, spec_error: str = "", upgrade_held: tuple[str, str] | None = None,
                  deleting: bool = False, blocked_by: str = "",
                  api_error: tuple[str, str] | None = None,
                  credentials_problem: tuple[str, str] | None = None) -> Observed:
        """What to report when this reconcile wrote no bundles: the releases the bundles ask for."""
        desired = {s: {r["name"]: r.get("fingerprint", "") for r in b["spec"]["releases"]} for s, b in bundles.items()
                   if deleting or not b["spec"].get("uninstall")}
        return Observed(generation=body["metadata"]["generation"], reconciled_generation=reconciled, draft=draft,
                        openstack_version=body["spec"]["openstack_version"], desired=desired, bundles=bundles,
                        spec_error=spec_error, upgrade_held=upgrade_held, deleting=deleting, blocked_by=blocked_by,
                        api_error=api_error,
                        credentials_problem=credentials_problem, previous=body.get("status") or {})

    @staticmethod
    def _write_status(body: Mapping[str, Any], observed: Observed) -> bool:
        """Patch what changed; returns whether a condition changed (callers post an Event only then)."""
        previous = body.get("status") or {}
        patch = status_patch(previous, compute_status(observed, _now()))
        if patch:
            patch_status(OpenStackDeployment, body["metadata"]["namespace"], body["metadata"]["name"], patch)
        return "conditions" in patch

    @staticmethod
    def _set_finalizers(body: Mapping[str, Any], finalizers: list[str]) -> None:
        # With the resourceVersion: if someone else changed finalizers meanwhile, this fails and is retried.
        handle = OpenStackDeployment(api(), {"apiVersion": OpenStackDeployment.version, "kind": OpenStackDeployment.kind,
                                             "metadata": {"name": body["metadata"]["name"],
                                                          "namespace": body["metadata"]["namespace"]}})
        handle.patch({"metadata": {"finalizers": finalizers,
                                   "resourceVersion": body["metadata"]["resourceVersion"]}})
        count_write("patch", OpenStackDeployment.kind)


def _export_state(key: Key, status: Mapping[str, Any] | None) -> None:
    """The osdpl's conditions and failing releases as gauges (the operator chart's alerts); None: it is gone."""
    if status is None:
        with suppress(KeyError):  # never exported (deleted before this process saw it)
            for kind in CONDITION_TYPES:
                metrics.DEPLOYMENT_CONDITION.remove(*key, kind)
            metrics.RELEASES_FAILING.remove(*key)
        return
    for kind, true in condition_states(status).items():
        metrics.DEPLOYMENT_CONDITION.labels(*key, kind).set(int(true))
    metrics.RELEASES_FAILING.labels(*key).set(failing_releases(status))


_controller: OsdplController | None = None


@kopf.on.startup(registry=REGISTRY)
def start(memo: kopf.Memo, **_: Any) -> None:
    global _controller
    _controller = OsdplController(memo.catalog)


@kopf.on.cleanup(registry=REGISTRY)
def stop(**_: Any) -> None:
    if _controller is not None:
        _controller.queue.close()


@kopf.on.event(GROUP, VERSION, "openstackdeployments", registry=REGISTRY)
async def osdpl_event(event: Mapping[str, Any], **_: Any) -> None:
    assert _controller is not None  # set at startup, before any watch starts
    _controller.observe_osdpl(event.get("type"), event["object"])


@kopf.on.event(GROUP, VERSION, "helmbundles", labels={OSDPL_LABEL: kopf.PRESENT}, registry=REGISTRY)
async def bundle_event(event: Mapping[str, Any], **_: Any) -> None:
    assert _controller is not None
    _controller.observe_bundle(event["object"])
