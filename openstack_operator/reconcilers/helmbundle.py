"""helmbundle process: makes Helm releases match HelmBundle objects, and reports per release on the bundle status.

Level-triggered: every bundle event queues that bundle (and, when its deployed/uninstalled state flipped, the
bundles of the same osdpl that may wait for it); a worker reads the bundle fresh, asks core.releases.helmwork what to
do, does one Helm step and records the outcome. Independent bundles run in parallel, up to OSOP_HELM_CONCURRENCY at
once per namespace (one deployment each): a deployment whose hooks hang holds only its own slots, never another's.

Every bundle carries this process's finalizer: when it is deleted with its deployment (the osdpl deleted with
foreground propagation, its namespace deleted), its releases are uninstalled, dependents first, before it goes; a
bundle deleted by hand while its deployment stays lets go of its releases and is written again by the osdpl process.
A failure is recorded with the time of the next attempt and, when it is new, an Event on the osdpl
(core.releases.helmwork: failures are retried without limit). On start, `helm` processes a killed predecessor left
running are ended first (kube.children), so there is never more than one Helm operation per release.

Trust boundary (core.releases.bundles.trust_problem): a bundle that is not as the osdpl of its namespace writes it
(the catalog's chart, version and digest, the osdpl's chart repository and values Secret), or that names a release
in another namespace, is refused with the condition `Refused` and an Event, and nothing of it is done. The namespace
has one deployment (the osdpl process's namespace claim), whose osdpl process alone writes trusted bundles. A bundle
of an osdpl that is gone or was re-created (its controller reference names another uid) never uninstalls: deleted,
it loses its finalizer without Helm being run (Event `ReleasesKept`), as the releases of that name may be the
current osdpl's.

The cluster is reached through a HelmBundleCluster (kube.gateways.helmbundle) and Helm through a HelmReleases
(kube.helm.Helm): both are given, so tests use fakes. Bundles are core.models.bundle models here, and each release
record is built by core.releases.helmwork; the gateway turns them into API objects and back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

import yaml

from openstack_operator.core.apigroup import API_VERSION, GROUP
from openstack_operator.core.models.bundle import BUNDLE_KIND, Bundle, BundleOwner, BundleRelease, ReleaseStatus
from openstack_operator.core.releases.bundles import OSDPL_LABEL, all_uninstalled, trust_problem
from openstack_operator.core.releases.helmwork import (CHART_UNAVAILABLE, UNINSTALL_TARGET, Step, decide,
                                                       deployed_record, failure_record, intent_record, is_deployed,
                                                       is_new_failure, is_removing, uninstalled_record)
from openstack_operator.core.errors import ApiWriteError
from openstack_operator.core.releases.summaries import STATE_REPORTS, UNKNOWN, parse_summary, summary_job, usable
from openstack_operator.core.rendering.renderer import fingerprint, yaml_problem
from openstack_operator.core.secrets.redact import redact, sensitive_strings
from openstack_operator.core.status.conditions import refusal_conditions
from openstack_operator.kube import metrics
from openstack_operator.kube.helm import ChartUnavailable, HelmError, Installed

if TYPE_CHECKING:
    from openstack_operator.kube.process import Runtime

log = logging.getLogger("osop.helmbundle")
FINALIZER = f"helmbundle.{GROUP}/uninstall-releases"  # the osdpl process creates bundles with it
Key = tuple[str, str]  # namespace, bundle name

VALUES_NOT_READY_RETRY = 2.0  # seconds: the osdpl process writes a values Secret just before its bundle
MAX_ERROR_CHARS = 1000  # Helm may dump whole objects; the start says what failed


class HelmBundleCluster(Protocol):
    """What the reconciler reads and writes in the cluster (kube.gateways.helmbundle.HelmBundleGateway)."""

    async def bundle(self, namespace: str, name: str) -> Bundle | None: ...

    async def osdpl(self, namespace: str, name: str) -> BundleOwner | None: ...

    async def namespace_terminating(self, namespace: str) -> bool: ...

    async def set_finalizers(self, bundle: Bundle, finalizers: list[str]) -> Bundle: ...

    async def record_release(self, namespace: str, name: str, release: str, status: ReleaseStatus,
                             observed_generation: int | None = None) -> Bundle: ...

    async def set_conditions(self, namespace: str, name: str, conditions: list[dict[str, Any]]) -> Bundle: ...

    async def post_event(self, involved: Mapping[str, Any], kind: str, reason: str, message: str) -> None: ...

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None: ...

    async def delete_release_leftovers(self, release: str, namespace: str) -> list[str]: ...

    async def job_report(self, namespace: str, job: str) -> str | None: ...

    async def end_orphaned_helm(self) -> None: ...


class HelmReleases(Protocol):
    """Helm's two operations (kube.helm.Helm): failures are HelmError, ChartUnavailable when Helm did not run."""

    async def install(self, name: str, namespace: str, chart: str, version: str, values: Mapping[str, Any],
                      fingerprint: str, timeout_seconds: int, *, digest: str = "", repository: str = "",
                      force: bool = False) -> Installed: ...

    async def uninstall(self, name: str, namespace: str, timeout_seconds: int, *, hooks: bool = True) -> bool: ...


class ValuesNotReady(Exception):
    pass


class HelmBundleReconciler:
    def __init__(self, runtime: Runtime, cluster: HelmBundleCluster, helm: HelmReleases,
                 clock: Callable[[], float] = time.time) -> None:
        self.runtime, self.cluster, self.helm, self.clock = runtime, cluster, helm, clock
        self.catalog = runtime.catalog
        self.bundles: dict[Key, Bundle] = {}  # last seen, from watch events and our own writes
        # The Helm step running per bundle: release, target (fingerprint or UNINSTALL_TARGET), the bundle generation
        # it was decided on, its task.
        self.running: dict[Key, tuple[str, str, int, asyncio.Task[ReleaseStatus]]] = {}
        # Slots per namespace: a stuck hook (a step may last a release's whole timeout) holds up its deployment only.
        self.queue = runtime.queue(self.reconcile, runtime.settings.helm_concurrency, _describe, group=_namespace)
        metrics.count_watched(runtime.process, BUNDLE_KIND, lambda: len(self.bundles))

    async def start(self) -> None:
        await self.cluster.end_orphaned_helm()  # before any Helm work: a predecessor's `helm` must not run beside ours

    async def stop(self) -> None:
        self.queue.close()

    # -- events ----------------------------------------------------------------------------------------------------
    def observe(self, event_type: str | None, bundle: Bundle) -> None:
        key = (bundle.namespace, bundle.name)
        if event_type == "DELETED":
            self.bundles.pop(key, None)
            self._wake_peers(key, bundle)
            return
        self._remember(key, bundle)
        self._supersede(key, bundle)
        self.queue.add(key)

    def _supersede(self, key: Key, bundle: Bundle) -> None:
        """Stop a Helm step whose target the bundle no longer wants (new values, the service disabled, the bundle
        deleted): a step that waits on a stuck hook would otherwise hold the fix back until its timeout. Helm marks
        the release failed as it stops; the next step starts from there."""
        if key not in self.running:
            return
        release, target, generation, task = self.running[key]
        if bundle.generation <= generation:
            return  # an event the step already knew (or older): watch events may lag the read the step began with
        if _target(bundle, release) != target and not task.done():
            log.info("release %s: the bundle no longer asks for this %s; stopping Helm", release,
                     "uninstall" if target == UNINSTALL_TARGET else "version of its values")
            task.cancel()

    def _remember(self, key: Key, bundle: Bundle) -> None:
        """Keep the newest view of a bundle; wake its peers when it reached or left what they wait for."""
        before = self.bundles.get(key)
        self.bundles[key] = bundle
        if before is None or _milestones(before) != _milestones(bundle):
            self._wake_peers(key, bundle)

    def _wake_peers(self, key: Key, bundle: Bundle) -> None:
        for peer in self.peers_of(key, bundle):
            self.queue.add(peer)

    def peers_of(self, key: Key, bundle: Bundle) -> dict[Key, Bundle]:
        osdpl = bundle.labels.get(OSDPL_LABEL)
        return {k: b for k, b in self.bundles.items()
                if k != key and k[0] == key[0] and b.labels.get(OSDPL_LABEL) == osdpl}

    # -- one reconcile ---------------------------------------------------------------------------------------------
    async def reconcile(self, key: Key) -> float | None:
        """One look at the bundle: at most one Helm step. Returns when to look again (None: at its next event)."""
        current = await self.cluster.bundle(*key)
        if current is None:
            self.bundles.pop(key, None)
            return None
        bundle = await self._admit(key, current)
        if bundle is None:
            return None
        self._remember(key, bundle)
        peers = {b.spec.service: b for b in self.peers_of(key, bundle).values()}
        now = self.clock()
        decision = decide(bundle, peers, now)
        if decision.retry_at is not None:
            return decision.retry_at - now
        if not decision.steps:
            await self._let_go_when_uninstalled(key, bundle)
            return None if bundle.deleting else await self._reread_reports(key, bundle)
        return await self._step(key, bundle, decision.steps[0])

    async def _admit(self, key: Key, bundle: Bundle) -> Bundle | None:
        """The bundle to act on, with this process's finalizer; None when nothing of it is to be done: refused (and
        reported), or deleted by hand while its deployment stays (its releases kept)."""
        finalizers = list(bundle.finalizers)
        deleting = bundle.deleting
        owner = await self._owner(bundle)
        # Only where it matters (a removal without its osdpl): one read less for every other bundle.
        terminating = owner is None and (deleting or bundle.spec.uninstall) \
            and await self.cluster.namespace_terminating(bundle.namespace)
        problem = trust_problem(bundle, owner, self.catalog, namespace_terminating=terminating)
        if problem is not None and deleting and FINALIZER in finalizers:
            # Never acted on, or a leftover of an earlier osdpl: Helm is not touched, the releases stay. The bundle
            # goes with its finalizer, so the Event is the report (a condition would go with it).
            await self.cluster.set_finalizers(bundle, [f for f in finalizers if f != FINALIZER])
            log.warning("bundle %s/%s deleted, releases kept: %s", *key, problem)
            await self.cluster.post_event(_bundle_ref(bundle), "Warning", "ReleasesKept",
                                          f"bundle deleted without uninstalling its releases: {problem}")
            return None
        bundle = await self._report_refusal(bundle, problem)  # as stored: the writes below must not conflict
        if problem is not None:
            return None
        if not deleting and FINALIZER not in finalizers:
            return await self.cluster.set_finalizers(bundle, [*finalizers, FINALIZER])
        if deleting and FINALIZER in finalizers and not bundle.spec.uninstall \
                and await self._deployment_stays(bundle):
            # Deleted by hand while its deployment stays: the cloud keeps running. The osdpl process writes the
            # bundle again, and the new one finds its releases already at their fingerprints.
            await self.cluster.set_finalizers(bundle, [f for f in finalizers if f != FINALIZER])
            log.warning("bundle %s/%s deleted while its deployment stays: releases kept", *key)
            return None
        return bundle

    async def _let_go_when_uninstalled(self, key: Key, bundle: Bundle) -> None:
        """Nothing left to do: a deleted bundle whose releases are all uninstalled loses its finalizer."""
        finalizers = list(bundle.finalizers)
        if bundle.deleting and FINALIZER in finalizers and all_uninstalled(bundle):
            await self.cluster.set_finalizers(bundle, [f for f in finalizers if f != FINALIZER])
            log.info("bundle %s/%s: every release uninstalled; finalizer removed", *key)

    async def _step(self, key: Key, bundle: Bundle, step: Step) -> float | None:
        """One Helm step: the values read, the intent recorded, Helm run, its outcome recorded."""
        install = step.action == "install"
        name = step.release.name
        target = step.release.fingerprint if install else UNINSTALL_TARGET
        try:
            values = await self._values(bundle, step.release) if install else {}
        except ValuesNotReady as waiting:
            log.info("bundle %s/%s: %s", *key, waiting)
            return VALUES_NOT_READY_RETRY
        intent = intent_record(bundle.release_status(name), step.action, target, self.clock())
        stored = await self.cluster.record_release(*key, name, intent)
        self._remember(key, stored)
        if _target(stored, name) != target:
            return 0.0  # the spec changed since it was read: decide again on the newer one
        task = asyncio.ensure_future(self.install(bundle, step.release, values) if install
                                     else self.uninstall(bundle, step.release))
        self.running[key] = (name, target, stored.generation, task)
        try:
            outcome = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this process is stopping
            return 0.0  # superseded (see _supersede): decide again on the newer bundle
        except Exception as error:  # noqa: BLE001 - recorded like a Helm failure, so that the status shows it
            outcome = failure_record(bundle, name, target, "",
                                     redact(f"{type(error).__name__}: {error}", sensitive_strings(values))
                                     [:MAX_ERROR_CHARS], self.clock(), self.runtime.settings.retry_max_seconds)
        finally:
            self.running.pop(key, None)
        await self._record(key, bundle, name, outcome)
        return 0.0  # decide again: the next release, a retry time, or done

    async def _record(self, key: Key, bundle: Bundle, name: str, outcome: ReleaseStatus) -> None:
        """A step's outcome on the bundle status, with an Event when a release fails anew or recovers."""
        previous = bundle.release_status(name)
        if outcome.state == "failed" and is_new_failure(bundle, name, outcome):
            await self.cluster.post_event(_reported_on(bundle), "Warning", _failure_reason(outcome),
                                          f"release {name}: {outcome.last_error}")
        elif outcome.state != "failed" and previous.last_error:
            attempts = previous.attempts if previous.attempts is not None else 1
            await self.cluster.post_event(_reported_on(bundle), "Normal", "ReleaseRecovered",
                                          f"release {name} {outcome.state} after {attempts} failed attempts")
        self._remember(key, await self.cluster.record_release(*key, name, outcome, bundle.generation))

    # -- Helm ------------------------------------------------------------------------------------------------------
    async def install(self, bundle: Bundle, release: BundleRelease, values: Mapping[str, Any]) -> ReleaseStatus:
        name, target = release.name, release.fingerprint
        reapply = bundle.spec.reapply or None
        started = self.clock()
        try:
            installed = await self.helm.install(name, release.namespace, release.chart, release.version, values,
                                                target, release.timeout_seconds, digest=release.digest,
                                                repository=release.repository,
                                                force=reapply != bundle.release_status(name).applied_reapply)
        except HelmError as error:
            reason = CHART_UNAVAILABLE if isinstance(error, ChartUnavailable) else ""
            message = redact(str(error), sensitive_strings(values))[:MAX_ERROR_CHARS]
            record = failure_record(bundle, name, target, reason, message, started,
                                    self.runtime.settings.retry_max_seconds)
            self._count_helm("install", "failed", started)
            log.warning("release %s failed (attempt %d, next at %s)%s", name, record.attempts,
                        time.strftime("%H:%M:%S", time.localtime(record.next_attempt_at)),
                        f": {error}" if reason else "")  # chart messages hold no values, Helm's may
            return record
        self._count_helm("install", "unchanged" if installed.skipped else "deployed", started)
        log.info("release %s %s at revision %d", name, "already current" if installed.skipped else "deployed",
                 installed.revision)
        return deployed_record(target, installed.revision, installed.chart_version, installed.workloads, reapply,
                               started, await self._summary(bundle, release, installed))

    async def _summary(self, bundle: Bundle, release: BundleRelease, installed: Installed) -> dict[str, Any] | None:
        """What the release's test run reported (core.releases.summaries): read after a deploy, whose hooks ran
        it; a release already current keeps the summary it has."""
        job = summary_job(release.chart, release.name)
        if job is None:
            return None
        previous = bundle.release_status(release.name).summary
        kept = dict(previous) if previous is not None else None
        if installed.skipped:
            return kept
        summary = await self._read_report(release, job)
        if release.chart in STATE_REPORTS and not usable(summary) and usable(previous):
            return kept  # what the last report named is still there: the render keeps using it
        return summary

    async def _read_report(self, release: BundleRelease, job: str) -> dict[str, Any]:
        try:
            message = await self.cluster.job_report(release.namespace, job)
        except Exception as error:  # noqa: BLE001 - a report that cannot be read leaves the release deployed
            return {"result": UNKNOWN, "job": job,
                    "message": f"Job {job}'s pod could not be read: {str(error)[:200]}"}
        return parse_summary(job, message, release.chart)

    async def _reread_reports(self, key: Key, bundle: Bundle) -> float | None:
        """A deployed release whose report the next render needs (STATE_REPORTS) but that has none usable yet: its
        Job's pod is read again now and then (a report can reach the pod's status after Helm returned)."""
        waiting = False
        for release in bundle.spec.releases:
            status = bundle.release_status(release.name)
            job = summary_job(release.chart, release.name)
            if release.chart not in STATE_REPORTS or job is None or status.state != "deployed" \
                    or status.fingerprint != release.fingerprint or usable(status.summary):
                continue
            summary = await self._read_report(release, job)
            if usable(summary):
                log.info("bundle %s/%s: release %s: Job %s reported", *key, release.name, job)
                self._remember(key, await self.cluster.record_release(
                    *key, release.name, dataclasses.replace(status, summary=summary), bundle.generation))
            else:
                waiting = True
        return self.runtime.settings.report_recheck_seconds if waiting else None

    async def uninstall(self, bundle: Bundle, release: BundleRelease) -> ReleaseStatus:
        name, namespace = release.name, release.namespace
        started = self.clock()
        # In a namespace being deleted nothing can be created: the chart's delete hooks (Jobs) would fail forever.
        hooks = not await self.cluster.namespace_terminating(namespace)
        try:
            found = await self.helm.uninstall(name, namespace, release.timeout_seconds, hooks=hooks)
            if not found:  # Helm's record went first (a namespace deletion): its cluster-wide objects are ours to end
                leftovers = await self.cluster.delete_release_leftovers(name, namespace)
                if leftovers:
                    log.info("release %s had no Helm record left; deleted %s", name, ", ".join(leftovers))
        except (HelmError, ApiWriteError) as error:
            record = failure_record(bundle, name, UNINSTALL_TARGET, "", str(error)[:MAX_ERROR_CHARS], started,
                                    self.runtime.settings.retry_max_seconds)
            self._count_helm("uninstall", "failed", started)
            log.warning("uninstall of %s failed (attempt %d): %s", name, record.attempts, error)
            return record
        self._count_helm("uninstall", "uninstalled", started)
        log.info("release %s uninstalled%s", name, "" if hooks else " (without hooks: its namespace is deleted)")
        return uninstalled_record(bundle.release_status(name), started)

    def _count_helm(self, action: str, result: str, started: float) -> None:
        metrics.HELM_OPERATIONS.labels(action, result).inc()
        metrics.HELM_SECONDS.labels(action).observe(max(self.clock() - started, 0.0))

    # -- reads -----------------------------------------------------------------------------------------------------
    async def _values(self, bundle: Bundle, release: BundleRelease) -> dict[str, Any]:
        """The release's values from its Secret, checked against the fingerprint the bundle asks for."""
        ref = release.values_from
        text = await self.cluster.secret_value(bundle.namespace, ref.secret_name, ref.key)
        if text is None:
            raise ValuesNotReady(f"values Secret {ref.secret_name} has no key {ref.key} yet")
        try:
            values: dict[str, Any] = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise ValuesNotReady(f"values Secret {ref.secret_name} key {ref.key}: {yaml_problem(error)}") from None
        if fingerprint(release.chart, release.version, release.digest, release.namespace, values) \
                != release.fingerprint:
            raise ValuesNotReady(f"values Secret {ref.secret_name} is not at the bundle's fingerprint yet")
        return values

    async def _owner(self, bundle: Bundle) -> BundleOwner | None:
        """The osdpl in the bundle's namespace that its label names, None if there is none."""
        name = bundle.labels.get(OSDPL_LABEL)
        return await self.cluster.osdpl(bundle.namespace, name) if name else None

    async def _deployment_stays(self, bundle: Bundle) -> bool:
        """Whether the osdpl of a deleted bundle is neither gone nor being deleted, nor its namespace (a namespace
        deletion marks the namespace before it deletes what is inside)."""
        name = bundle.labels.get(OSDPL_LABEL, "")
        osdpl = await self.cluster.osdpl(bundle.namespace, name) if name else None
        return osdpl is not None and not osdpl.deleting \
            and not await self.cluster.namespace_terminating(bundle.namespace)

    async def _report_refusal(self, bundle: Bundle, problem: str | None) -> Bundle:
        """The bundle's `Refused` condition, written when it changes, with a Warning Event when the bundle is
        refused; returns the bundle as stored."""
        conditions = refusal_conditions(bundle.conditions, problem, bundle.generation,
                                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock())))
        if conditions is None:
            return bundle
        stored = await self.cluster.set_conditions(bundle.namespace, bundle.name, conditions)
        if problem:
            log.warning("bundle %s/%s refused: %s", bundle.namespace, bundle.name, problem)
            await self.cluster.post_event(_bundle_ref(bundle), "Warning", "BundleRefused", problem)
        return stored


def _describe(key: Key) -> str:
    return f"bundle {key[0]}/{key[1]}"


def _namespace(key: Key) -> str:
    return key[0]


def _milestones(bundle: Bundle) -> tuple[bool, bool]:
    """What peers wait for: deployed (dependents may start) and all uninstalled (dependencies may go)."""
    return is_deployed(bundle), is_removing(bundle) and all_uninstalled(bundle)


def _target(bundle: Bundle, release: str) -> str:
    """What the bundle wants done with `release` now: its fingerprint, or UNINSTALL_TARGET."""
    if is_removing(bundle):
        return UNINSTALL_TARGET
    return next((r.fingerprint for r in bundle.spec.releases if r.name == release), UNINSTALL_TARGET)


def _bundle_ref(bundle: Bundle) -> dict[str, Any]:
    """The bundle as an Event's object."""
    return {"apiVersion": API_VERSION, "kind": BUNDLE_KIND,
            "metadata": {"name": bundle.name, "namespace": bundle.namespace, "uid": bundle.uid}}


def _reported_on(bundle: Bundle) -> dict[str, Any]:
    """The object a release's Events go to: the osdpl that owns the bundle (where users look), else the bundle."""
    owner = next((ref for ref in bundle.owner_references if ref.kind == "OpenStackDeployment"), None)
    if owner is None:
        return _bundle_ref(bundle)
    return {"apiVersion": owner.api_version, "kind": owner.kind,
            "metadata": {"name": owner.name, "namespace": bundle.namespace, "uid": owner.uid}}


def _failure_reason(record: ReleaseStatus) -> str:
    if record.reason == CHART_UNAVAILABLE:
        return CHART_UNAVAILABLE
    return "UninstallFailed" if record.target == UNINSTALL_TARGET else "ReleaseFailed"
