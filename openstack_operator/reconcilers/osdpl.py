"""osdpl process: from an OpenStackDeployment to one HelmBundle per enabled service, and the osdpl's status.

A reconcile renders every service first and writes only after everything rendered, so a spec that cannot be
rendered changes nothing (reconcilers.osdpl_apply). It then writes what differs (values Secrets, bundles), retires
bundles of disabled services (their releases are uninstalled, then the bundle goes), and patches the status fields
that changed. It runs when the osdpl's generation, deletion state or reapply request changes (never for its own
status writes), when one of its values Secrets is deleted (written again) and, coalesced, when one of its bundles
changes (to mirror release states into `status.children`) or
the health process wrote new workload health (Ready needs every release deployed and every workload ready).

Credentials and Ceph keys come from the secrets process (reconcilers.secrets): a credential is rendered only if its
digest matches that process's record on `status.credentials`, so until it is there, or while the Secret is lost,
nothing is written and the status says why (WaitingForCredentials, CredentialsLost, WaitingForCephKeys,
WaitingForCephWiring).

One deployment per namespace (core.releases.bundles.namespace_holder): a second osdpl gets `Degraded`
(NamespaceInUse) and writes nothing. A write the API server refuses (permissions, quota, admission) is a condition
naming the object and an Event, retried after the runtime's retry delay. Deletion uninstalls every release whatever
the propagation policy: this finalizer asks each bundle to uninstall and waits; the helmbundle process's own
finalizer on every bundle covers foreground deletion, where the garbage collector deletes the bundles first.

Every call to the cluster goes through the gateway (`OsdplCluster`, kube.gateways.osdpl); this code runs on Kopf's
event loop and keeps its state there (kube.process, the threading rule).
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any, Mapping, Protocol

from openstack_operator.core.apigroup import GROUP
from openstack_operator.core.errors import ApiWriteError, OperatorError
from openstack_operator.core.models.bundle import Bundle
from openstack_operator.core.models.osdpl_status import (OSDPL, CephView, CertificateView, CredentialsView,
                                                         HealthView, section_patch)
from openstack_operator.core.releases.bundles import (OSDPL_LABEL, REAPPLY_ANNOTATION, SERVICE_LABEL, all_uninstalled,
                                                      bundle_name, namespace_holder, tempest_run)
from openstack_operator.core.rendering.load_balancer import controller_hosts
from openstack_operator.core.runtime.workqueue import WorkQueue
from openstack_operator.core.schema.manifest import InvalidManifest
from openstack_operator.core.status.conditions import (CONDITION_TYPES, Observed, bounded, compute_status,
                                                       condition_states, failing_releases, problems_message)
from openstack_operator.core.upgrades.guard import version_problem
from openstack_operator.core.upgrades.rollout import STUCK, UPGRADE_STUCK
from openstack_operator.kube import metrics
from openstack_operator.kube.process import Runtime
from openstack_operator.reconcilers.osdpl_apply import (Bundles, CredentialsUnavailable, Key, OsdplApply,
                                                        OsdplWrites, now)

log = logging.getLogger("osop.osdpl")
FINALIZER = f"osdpl.{GROUP}/uninstall-releases"

CLAIM_RETRY_SECONDS = 0.5
BUNDLES_GONE_POLL_SECONDS = 2.0  # deleting: how often to look whether the deleted bundles are gone
STATUS_COALESCE_SECONDS = 0.25  # bundle events within this window cost one status reconcile
WORKERS = 4

__all__ = ["CredentialsUnavailable", "FINALIZER", "OsdplCluster", "OsdplReconciler"]


class OsdplCluster(OsdplWrites, Protocol):
    """The osdpl process's gateway (kube.gateways.osdpl): the apply step's calls (OsdplWrites), and these."""

    async def read_osdpl(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def list_osdpls(self, namespace: str) -> list[dict[str, Any]]: ...

    async def list_bundles(self, namespace: str) -> list[Bundle]: ...

    async def secret_names(self, namespace: str, selector: str) -> list[str]: ...

    async def namespace_claim(self, namespace: str) -> dict[str, Any] | None: ...

    async def claim_namespace(self, namespace: str, osdpl: str, current: Mapping[str, Any] | None,
                              labels: Mapping[str, str]) -> bool: ...

    async def release_namespace(self, namespace: str, osdpl: str) -> None: ...

    async def set_finalizers(self, osdpl: Mapping[str, Any], finalizers: list[str]) -> None: ...

    async def post_event(self, osdpl: Mapping[str, Any], kind: str, reason: str, message: str) -> None: ...


def _describe(key: Key) -> str:
    return f"osdpl {key[0]}/{key[1]}"


class OsdplReconciler:
    def __init__(self, runtime: Runtime, cluster: OsdplCluster) -> None:
        self.runtime = runtime
        self.catalog = runtime.catalog
        self.cluster = cluster
        self.applier = OsdplApply(runtime.catalog, cluster, runtime.settings.references_recheck_seconds)
        self.seen: dict[Key, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}  # essence (see observe_osdpl), health
        self.refusals: dict[Key, int] = {}  # refused writes in a row per osdpl, for the retry backoff
        self.queue: WorkQueue[Key] = runtime.queue(self.reconcile, WORKERS, _describe)

    async def start(self) -> None:
        pass  # the watches' events start the work

    async def stop(self) -> None:
        self.queue.close()

    # -- events (on the loop, never blocking) ---------------------------------------------------------------------
    def observe_osdpl(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        metadata = body["metadata"]
        key = (metadata["namespace"], metadata["name"])
        export_state(key, None if event_type == "DELETED" else body.get("status") or {})
        if event_type == "DELETED":
            self.seen.pop(key, None)
            self.applier.rendered.pop(key, None)
            self.refusals.pop(key, None)
            for other in [k for k in self.seen if k[0] == key[0]]:  # one of them may hold the namespace now
                self.queue.add(other)
            return
        # Our own status writes change none of this, so they do not re-trigger a reconcile. The health process's
        # writes change the health part: the conditions are recomputed from it, coalesced like bundle events.
        essence: tuple[Any, ...] = (metadata.get("uid"), metadata.get("generation"),
                                    bool(metadata.get("deletionTimestamp")),
                                    FINALIZER in (metadata.get("finalizers") or []),
                                    (metadata.get("annotations") or {}).get(REAPPLY_ANNOTATION), tempest_run(body))
        status = body.get("status") or {}
        credentials, ceph = CredentialsView.of(status), CephView.of(status)
        essence += (credentials.state, credentials.revision, ceph.digest)  # the secrets process's word
        essence += (controller_hosts(status),)  # the node process's: octavia's bootstrap makes their ports
        # compared, never mutated; the secrets process's verdicts on the Ceph keys and the certificate count too
        health = (HealthView.of(status), ceph.state, CertificateView.of(status).state)
        seen = self.seen.get(key)
        self.seen[key] = (essence, health)
        if seen is None or seen[0] != essence:
            self.queue.add(key)
        elif seen[1] != health:
            self.queue.add(key, STATUS_COALESCE_SECONDS)

    def observe_values_secret(self, event_type: str | None, namespace: str, osdpl: str) -> None:
        """A values Secret (labelled with its osdpl and service) deleted, by hand or by a retire: the osdpl is
        rendered and written again now (only what is missing is written), not at its next spec change."""
        key = (namespace, osdpl)
        if event_type != "DELETED" or key not in self.seen:
            return
        self.applier.rendered.pop(key, None)
        self.queue.add(key, STATUS_COALESCE_SECONDS)

    def observe_bundle(self, bundle: Bundle) -> None:
        osdpl = bundle.labels.get(OSDPL_LABEL)
        if osdpl:
            self.queue.add((bundle.namespace, osdpl), STATUS_COALESCE_SECONDS)

    # -- reconcile (the queue's work: returns when to look again, None: only on the next event) --------------------
    async def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        body = await self.cluster.read_osdpl(namespace, name)
        if body is None:
            return None
        in_namespace = await self.cluster.list_bundles(namespace)
        # Ours by label and name (a controller reference goes with orphan propagation); a hand-written bundle of
        # another name is not (the helmbundle process refuses it).
        bundles = {b.spec.service: b for b in in_namespace
                   if b.labels.get(OSDPL_LABEL) == name and b.name == bundle_name(name, b.spec.service)}
        if body["metadata"].get("deletionTimestamp"):
            try:
                return await self._finalize(body, bundles)
            except ApiWriteError as error:
                return await self._refused(key, body, bundles, error)
        if FINALIZER not in (body["metadata"].get("finalizers") or []):
            await self.cluster.set_finalizers(body, [*(body["metadata"].get("finalizers") or []), FINALIZER])
        claimed, again = await self._claim(body, in_namespace)
        if not claimed or await self._paused(body, bundles):
            return again
        return await self._apply(key, body, bundles)

    async def _claim(self, body: Mapping[str, Any], in_namespace: list[Bundle]) -> tuple[bool, float | None]:
        """Whether this osdpl holds its namespace (claiming it if nobody does); if not, when to look again. One
        held by another osdpl is reported on the status (NamespaceInUse) and nothing is done."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        claim = await self.cluster.namespace_claim(namespace)
        claimed_by = (claim.get("spec") or {}).get("holderIdentity") if claim is not None else None
        holder = namespace_holder(name, await self.cluster.list_osdpls(namespace),
                                  [b.labels.get(OSDPL_LABEL, "") for b in in_namespace],
                                  claimed_by)
        if not holder and claimed_by != name and \
                not await self.cluster.claim_namespace(namespace, name, claim, {OSDPL_LABEL: name}):
            return False, CLAIM_RETRY_SECONDS  # another osdpl claimed it at the same moment: look again
        if holder:
            reconciled = (body.get("status") or {}).get("observedGeneration")
            if await self._write_status(body, self._observed(body, reconciled, {}, blocked_by=holder)):
                log.warning("osdpl %s/%s: namespace held by osdpl %s; nothing done", namespace, name, holder)
                await self.cluster.post_event(
                    body, "Warning", "NamespaceInUse", f"namespace {namespace} already holds the deployment "
                    f"{holder}: nothing is deployed for {name} while {holder} exists")
            return False, None
        return True, None

    async def _paused(self, body: Mapping[str, Any], bundles: Bundles) -> bool:
        """A draft, or a release change the operator holds: the status says so and nothing is written."""
        status = body.get("status") or {}
        reconciled = status.get("observedGeneration")
        if body["spec"].get("draft"):
            await self._write_status(body, self._observed(body, reconciled, bundles, draft=True))
            return True
        # Where the admission policy is not installed, the operator holds a release change that cannot follow the
        # deployed release: the releases keep what they run.
        held = version_problem(self.catalog, body["spec"]["openstack_version"], status)
        if held:
            if await self._write_status(body, self._observed(body, reconciled, bundles, upgrade_held=held)):
                log.warning("osdpl %s/%s: %s", body["metadata"]["namespace"], body["metadata"]["name"], held[1])
                await self.cluster.post_event(body, "Warning", held[0], held[1])
            return True
        return False

    async def _apply(self, key: Key, body: dict[str, Any], bundles: Bundles) -> float | None:
        """The apply step (reconcilers.osdpl_apply), then the status it leads to."""
        status = body.get("status") or {}  # as read: the apply step may record a rollout step on the object
        reconciled = status.get("observedGeneration")
        try:
            desired, rollout, recheck = await self.applier.apply(body, bundles)
        except OperatorError as error:  # the spec cannot be rendered: nothing was written
            message = problems_message([str(p) for p in error.problems] if isinstance(error, InvalidManifest)
                                       else [str(error)])
            log.warning("osdpl %s/%s: %s", *key, message)
            if await self._write_status(body, self._observed(body, reconciled, bundles, spec_error=message)):
                await self.cluster.post_event(body, "Warning", "InvalidSpec", message)
            return None
        except ApiWriteError as error:  # nothing after the refused write was written; retried
            return await self._refused(key, body, bundles, error)
        except CredentialsUnavailable as waiting:  # the secrets process's status change brings us back, or a recheck
            await self._write_status(body, self._observed(body, reconciled, bundles,
                                                          credentials_problem=(waiting.reason, str(waiting))))
            return waiting.recheck_seconds
        self.refusals.pop(key, None)
        applied = self.applier.rendered.get(key)
        observed = Observed(generation=body["metadata"]["generation"],
                            reconciled_generation=body["metadata"]["generation"], draft=False,
                            openstack_version=body["spec"]["openstack_version"], desired=desired, bundles=bundles,
                            previous=status, upgrade=rollout,
                            applied_credentials=applied.credentials if applied is not None else None)
        if await self._write_status(body, observed) and rollout and rollout["phase"] == STUCK:
            await self.cluster.post_event(body, "Warning", UPGRADE_STUCK,
                                          f"upgrade to {rollout['to']} stopped at {rollout['message']}")
        return recheck

    async def _refused(self, key: Key, body: Mapping[str, Any], bundles: Bundles, error: ApiWriteError) -> float:
        """A write the API server refused: a condition and an Event naming it; returns when to try again."""
        refusals = self.refusals[key] = self.refusals.get(key, 0) + 1
        log.warning("osdpl %s/%s: %s (retry %d)", *key, error, refusals)
        observed = self._observed(body, (body.get("status") or {}).get("observedGeneration"), bundles,
                                  deleting=bool(body["metadata"].get("deletionTimestamp")),
                                  api_error=(error.reason, str(error)))
        if await self._write_status(body, observed):
            await self.cluster.post_event(body, "Warning", error.reason, bounded(str(error)))
        return self.runtime.retry_delay(refusals)

    async def _finalize(self, body: Mapping[str, Any], bundles: Bundles) -> float | None:
        """Deletion: uninstall every service (dependents first, see core.releases.helmwork), delete the bundles,
        and let the osdpl go once they are gone. Returns when to look again."""
        finalizers = body["metadata"].get("finalizers") or []
        if FINALIZER not in finalizers:
            return None
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        # Bundles the garbage collector is deleting (foreground propagation) uninstall under their own finalizer.
        to_retire = [s for s, b in bundles.items() if not b.spec.uninstall and not b.deleting]
        done = [s for s, b in bundles.items() if b.spec.uninstall and all_uninstalled(b)]
        await self.applier.retire(namespace, name, to_retire, [s for s in done if not bundles[s].deleting])
        remaining = {s: b for s, b in bundles.items() if s not in done}
        if remaining:
            status = body.get("status") or {}
            observed = self._observed(body, status.get("observedGeneration"), remaining, deleting=True)
            await self._write_status(body, observed)
            return None
        if bundles:  # deleted, gone once the helmbundle process lets them go (their DELETED events, or this poll)
            return BUNDLES_GONE_POLL_SECONDS
        # Values Secrets whose bundle was already gone (orphan propagation leaves them without an owner).
        for secret in await self.cluster.secret_names(namespace, f"{OSDPL_LABEL}={name},{SERVICE_LABEL}"):
            await self.cluster.delete_secret(namespace, secret)
        await self.cluster.release_namespace(namespace, name)
        await self.cluster.set_finalizers(body, [f for f in finalizers if f != FINALIZER])
        log.info("osdpl %s/%s: every release uninstalled; finalizer removed", namespace, name)
        return None

    @staticmethod
    def _observed(body: Mapping[str, Any], reconciled: int | None, bundles: Bundles,
                  draft: bool = False, spec_error: str = "", upgrade_held: tuple[str, str] | None = None,
                  deleting: bool = False, blocked_by: str = "",
                  api_error: tuple[str, str] | None = None,
                  credentials_problem: tuple[str, str] | None = None) -> Observed:
        """What to report when this reconcile wrote no bundles: the releases the bundles ask for."""
        desired = {s: {r.name: r.fingerprint for r in b.spec.releases} for s, b in bundles.items()
                   if deleting or not b.spec.uninstall}
        return Observed(generation=body["metadata"]["generation"], reconciled_generation=reconciled, draft=draft,
                        openstack_version=body["spec"]["openstack_version"], desired=desired, bundles=bundles,
                        spec_error=spec_error, upgrade_held=upgrade_held, deleting=deleting, blocked_by=blocked_by,
                        api_error=api_error, credentials_problem=credentials_problem,
                        previous=body.get("status") or {})

    async def _write_status(self, body: Mapping[str, Any], observed: Observed) -> bool:
        """Patch what changed; returns whether a condition changed (callers post an Event only then)."""
        patch = section_patch(OSDPL, body.get("status") or {}, compute_status(observed, now()))
        if patch:
            await self.cluster.patch_status(body["metadata"]["namespace"], body["metadata"]["name"], patch)
        return "conditions" in patch


def export_state(key: Key, status: Mapping[str, Any] | None) -> None:
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
