"""The osdpl process's apply step (reconcilers.osdpl): render every service, then write what differs.

A render is complete before anything is written, so a spec that cannot be rendered changes nothing. Values Secrets
are written before the bundles that point at them; bundles of disabled services are retired (uninstalled, then
deleted). During a change of OpenStack release only what its rollout moves now is written (core.upgrades.rollout).
A generation already applied, whose bundles still say so, is not rendered again: a bundle status or health change
only needs the status recomputed.

Credentials and Ceph keys come from the secrets process: a credential is rendered only if its digest matches that
process's record on `status.credentials`; until it does, nothing is written (CredentialsUnavailable).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.apigroup import GROUP
from openstack_operator.core.models.osdpl_status import (OSDPL, CephView, CredentialsView, HealthView, SectionPatch,
                                                         section_patch)
from openstack_operator.core.models.bundle import Bundle, BundleSpec
from openstack_operator.core.models.spec import DeploymentSpec
from openstack_operator.core.releases.bundles import (OSDPL_LABEL, REAPPLY_ANNOTATION, SERVICE_LABEL, bundle_name,
                                                      bundle_spec, plan_bundles, values_secret_data,
                                                      tempest_run, values_secret_name, with_requests)
from openstack_operator.core.rendering.load_balancer import ControlPlane, control_plane
from openstack_operator.core.rendering.renderer import Renderer
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.secrets.ceph import (CHART_WIRING, CephExchange, chart_wiring_readers, consumers,
                                                  keys_source)
from openstack_operator.core.secrets.credentials import (Credential, Stored, credentials_secret_name, digest,
                                                         required_credentials)
from openstack_operator.core.secrets.references import digest as references_digest
from openstack_operator.core.secrets.references import references as secret_references
from openstack_operator.core.status import reasons
from openstack_operator.core.status.conditions import release_states
from openstack_operator.core.upgrades.rollout import COMPLETED, ORDERED, Step, advance, begin

log = logging.getLogger("osop.osdpl")
CEPH_WIRING_RECHECK_SECONDS = 15.0  # nothing tells the operator when someone creates the charts' Ceph wiring
BUNDLE_FINALIZER = f"helmbundle.{GROUP}/uninstall-releases"  # the helmbundle process's (see there)
Key = tuple[str, str]  # namespace, osdpl name
Bundles = Mapping[str, Bundle]  # service -> its bundle, as listed


class OsdplWrites(Protocol):
    """The part of the osdpl process's gateway (kube.gateways.osdpl) the apply step uses. `owner`: the osdpl's
    body, which the written objects get an owner reference to."""

    async def read_credentials(self, namespace: str, osdpl: str) -> tuple[Stored | None, bool]: ...

    async def read_ceph_copy(self, namespace: str, osdpl: str) -> CephExchange | None: ...

    async def missing_objects(self, namespace: str, refs: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
        """Those of `refs` ((kind, name): ConfigMap or Secret) that do not exist in `namespace`."""

    async def read_secret_keys(self, namespace: str, refs: Mapping[str, tuple[str, str]]) -> dict[str, str]:
        """For each entry of `refs` (any label -> a Secret's name and key in `namespace`) whose Secret has that key,
        the label -> its decoded value; the others are left out."""

    async def ensure_kept_secrets(self, namespace: str, names: list[str], labels: Mapping[str, str]) -> None: ...

    async def apply_secret(self, namespace: str, name: str, data: Mapping[str, str], labels: Mapping[str, str],
                           owner: Mapping[str, Any], sensitive: list[str]) -> bool: ...

    async def apply_bundle(self, namespace: str, name: str, spec: BundleSpec, labels: Mapping[str, str],
                           owner: Mapping[str, Any], current: Bundle | None, finalizers: list[str]) -> bool: ...

    async def retire_bundle(self, namespace: str, name: str) -> None: ...

    async def delete_bundle(self, namespace: str, name: str) -> None: ...

    async def delete_secret(self, namespace: str, name: str) -> None: ...

    async def patch_status(self, namespace: str, name: str, patch: SectionPatch) -> None:
        """Merge-patch the osdpl process's section of the osdpl's status (core.models.osdpl_status)."""


class CredentialsUnavailable(Exception):
    """The credentials the enabled services need are not (all) vetted by the secrets process, or the Ceph objects
    they mount are not there: nothing is written. `recheck_seconds`: when to look again, for what no status change
    of the secrets process brings back."""

    def __init__(self, reason: str, message: str, recheck_seconds: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.recheck_seconds = recheck_seconds


@dataclass(frozen=True)
class Applied:
    """What a reconcile wrote for one generation of an osdpl: bundle specs and release fingerprints."""
    uid: str
    generation: int
    reapply: str  # the osdpl's reapply annotation the bundles were written with
    credentials: int  # the revision of the credentials rendered (status.credentials.revision)
    ceph: str  # the digest of the Ceph keys rendered (status.ceph.digest), empty without
    references: str  # the digest of the spec's Secret references' values rendered
    tempest_run: str  # the osdpl's tempest run request rendered
    load_balancer: str  # the digest of what octavia's bootstrap reported and the controller nodes rendered
    specs: Mapping[str, BundleSpec]
    desired: dict[str, dict[str, str]]

    def basis(self) -> tuple[str, int, str, int, str, str, str, str]:
        return self.uid, self.generation, self.reapply, self.credentials, self.ceph, self.references, \
            self.tempest_run, self.load_balancer


@dataclass(frozen=True)
class Rendering:
    """One render of an osdpl, not written yet: each service's values Secret data and bundle spec."""
    body: dict[str, Any]
    bundles: Bundles
    spec: DeploymentSpec
    values: dict[str, dict[str, str]]
    specs: dict[str, BundleSpec]
    desired: dict[str, dict[str, str]]  # service -> release -> fingerprint
    sensitive: list[str]  # the credentials' passwords: cut from any error message

    @property
    def key(self) -> Key:
        return self.body["metadata"]["namespace"], self.body["metadata"]["name"]


Outcome = tuple[dict[str, dict[str, str]], dict[str, Any] | None, float | None]


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class OsdplApply:
    """Renders and writes; remembers per osdpl the generation it last applied (`rendered`)."""

    def __init__(self, catalog: Catalog, cluster: OsdplWrites, references_recheck_seconds: float) -> None:
        self.catalog = catalog
        self.cluster = cluster
        # nothing tells the operator when a Secret the spec references is created or changes: it looks again
        self.references_recheck_seconds = references_recheck_seconds
        self.renderer = Renderer(catalog)
        self.rendered: dict[Key, Applied] = {}

    async def apply(self, body: dict[str, Any], bundles: Bundles) -> Outcome:
        """Render, then write what differs, or during a release change what its rollout moves now. Returns service
        -> release -> fingerprint, the rollout (None: no release change) and when to look again."""
        key: Key = (body["metadata"]["namespace"], body["metadata"]["name"])
        status = body.get("status") or {}
        report = CredentialsView.of(status)  # the secrets process's section
        if report.lost:  # even for a generation already applied: the status must say so
            raise CredentialsUnavailable("CredentialsLost", report.message or "credentials lost")
        # From the stored spec (the API server filled in its defaults): loading it costs too much for every event.
        referenced = await self._referenced(key[0], body["spec"].get("features") or {})
        # A spec's Secret references are read at every reconcile and looked at again now and then: a changed
        # value renders again, like a new generation.
        recheck = self.references_recheck_seconds if referenced else None
        load_balancer = control_plane(status, bundles.values())
        basis = (body["metadata"]["uid"], body["metadata"]["generation"],
                 (body["metadata"].get("annotations") or {}).get(REAPPLY_ANNOTATION, ""),
                 report.revision, CephView.of(status).digest, references_digest(referenced), tempest_run(body),
                 load_balancer.digest())
        done = self.rendered.get(key)
        if done and done.basis() == basis:
            plan = plan_bundles(done.specs, bundles)
            if not (plan.write or plan.retire or plan.delete):
                # This generation is applied and the bundles still say so: a bundle status or health change
                # only needs the status recomputed, not a render.
                return done.desired, None, recheck
        rendering = await self._render(body, bundles, referenced, load_balancer)
        rollout = begin(body.get("status") or {}, rendering.spec.openstack_version, list(self.catalog.releases),
                        self.catalog.upgrade_order, [s for s in bundles if s in rendering.specs], now())
        if rollout is not None:  # a release change: what its rollout moves now, and nothing else
            step = await self._step(rendering, rollout)
            await self._move(rendering, step, rollout)
            rollout = step.rollout
            if step.recheck_in is not None:
                recheck = min(step.recheck_in, recheck or step.recheck_in)
            if rollout["phase"] != COMPLETED:  # nothing else is written until every service moved
                self.rendered.pop(key, None)
                return rendering.desired, rollout, recheck
        await self._write(rendering)
        self.rendered[key] = Applied(*basis, specs=rendering.specs, desired=rendering.desired)
        return rendering.desired, rollout, recheck

    async def _render(self, body: dict[str, Any], bundles: Bundles, referenced: Mapping[str, str],
                      load_balancer: ControlPlane) -> Rendering:
        """Every enabled service rendered (raises OperatorError if one cannot be, CredentialsUnavailable while the
        secrets process has not provided what they need), and the Secrets a chart's Jobs fill created."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        osdpl = load_osdpl(self.catalog, body)
        enabled = osdpl.spec.enabled_services(self.catalog)
        credentials = await self._vetted_credentials(body, required_credentials(self.catalog, enabled))
        ceph = await self._ceph_keys(body, osdpl.spec, enabled)
        services = self.renderer.render(osdpl.spec, credentials, namespace, ceph=ceph, references=referenced,
                                        tempest_run=tempest_run(body),
                                        load_balancer=load_balancer)
        values = {service.name: values_secret_data(name, service) for service in services}  # all fit, or none
        await self.cluster.ensure_kept_secrets(
            namespace, [secret for service in enabled for chart in self.catalog.services[service].charts
                        for secret in chart.kept_secrets], {OSDPL_LABEL: name})
        specs = {service.name: with_requests(bundle_spec(name, service, osdpl.spec.charts_url),
                                             bundles.get(service.name), body) for service in services}
        return Rendering(body, bundles, osdpl.spec, values, specs,
                         {s.name: {r.name: r.fingerprint for r in s.releases} for s in services},
                         [c.password for c in credentials.values()] + list(referenced.values()))

    async def _move(self, rendering: Rendering, step: Step, rollout: Mapping[str, Any]) -> None:
        """The services the rollout's step moves: their values, and their bundles where they differ."""
        for service in step.write:
            await self._write_values(rendering, service)
            if rendering.bundles[service].spec != rendering.specs[service]:
                log.info("osdpl %s/%s: %s -> %s: moving service %s", *rendering.key, rollout["from"],
                         rollout["to"], service)
                await self._write_bundle(rendering, service)

    async def _write(self, rendering: Rendering) -> None:
        # Values first: a bundle never points at values that are not there yet. Each Secret is read, not assumed:
        # one deleted by hand (or with an earlier osdpl of the same name) is written again.
        for service in rendering.values:
            await self._write_values(rendering, service)
        plan = plan_bundles(rendering.specs, rendering.bundles)
        for service in plan.write:
            await self._write_bundle(rendering, service)
        await self.retire(*rendering.key, plan.retire, plan.delete)

    async def _write_values(self, rendering: Rendering, service: str) -> None:
        namespace, name = rendering.key
        await self.cluster.apply_secret(namespace, values_secret_name(name, service), rendering.values[service],
                                        {OSDPL_LABEL: name, SERVICE_LABEL: service}, rendering.body,
                                        rendering.sensitive)

    async def _write_bundle(self, rendering: Rendering, service: str) -> None:
        namespace, name = rendering.key
        await self.cluster.apply_bundle(namespace, bundle_name(name, service), rendering.specs[service],
                                        {OSDPL_LABEL: name, SERVICE_LABEL: service}, rendering.body,
                                        rendering.bundles.get(service), [BUNDLE_FINALIZER])

    async def retire(self, namespace: str, name: str, retire: list[str], remove: list[str]) -> None:
        """Ask the bundles of `retire` to uninstall their releases; delete those of `remove` and their values."""
        for service in retire:
            log.info("osdpl %s/%s: service %s disabled: uninstalling its releases", namespace, name, service)
            await self.cluster.retire_bundle(namespace, bundle_name(name, service))
        for service in remove:
            await self.cluster.delete_bundle(namespace, bundle_name(name, service))
            await self.cluster.delete_secret(namespace, values_secret_name(name, service))
            log.info("osdpl %s/%s: service %s removed", namespace, name, service)

    async def _step(self, rendering: Rendering, rollout: Mapping[str, Any]) -> Step:
        """One look at the rollout, recorded on the status before any bundle or values it moves is written (see
        core.upgrades.rollout: a SIGKILL after this write resumes with the service's step; before it, none of them
        was)."""
        body, specs = rendering.body, rendering.specs
        status = body.get("status") or {}
        states = release_states(rendering.desired, rendering.bundles)
        settings = rendering.spec.features.get("upgrade") or {}
        timeouts = {service: float(settings.get("service_timeout_seconds")
                                   or sum(r.timeout_seconds for r in spec.releases))
                    for service, spec in specs.items()}
        health = HealthView.of(status)  # the health process's section
        step = advance(rollout, specs, rendering.bundles, states, health.health, health.checked(states), timeouts,
                       settings.get("strategy", ORDERED) == ORDERED, now())
        recorded: dict[str, Any] = {"upgrade": step.rollout}
        if step.rollout["phase"] == COMPLETED:  # in the same write: a restart must not see it done but not deployed
            recorded["openstack_version"] = step.rollout["to"]
        patch = section_patch(OSDPL, status, recorded)
        if patch:
            await self.cluster.patch_status(*rendering.key, patch)
            body["status"] = {**status, **recorded}
        return step

    async def _vetted_credentials(self, body: Mapping[str, Any], needed: list[str]) -> dict[str, Credential]:
        """The credentials of `needed`, as the secrets process recorded them (status.credentials.digests); raises
        CredentialsUnavailable while one is missing, or differs from the record (lost, or a write in flight)."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        recorded = CredentialsView.of(body.get("status") or {}).digests
        stored, deleting = await self.cluster.read_credentials(namespace, name)
        current = stored.current if stored is not None and not deleting else {}
        waiting = [n for n in needed if n not in current or digest(current[n]) != recorded.get(n)]
        if waiting:
            raise CredentialsUnavailable("WaitingForCredentials",
                                         f"waiting for the secrets process to provide {len(waiting)} credentials in "
                                         f"Secret {credentials_secret_name(name)}: "
                                         f"{', '.join(waiting[:5])}{' and more' if len(waiting) > 5 else ''}")
        return {n: current[n] for n in needed}

    async def _referenced(self, namespace: str, features: Mapping[str, Any]) -> dict[str, str]:
        """The values of the spec's Secret references in use, by field path; raises CredentialsUnavailable while
        one is missing (a GitOps sync may create the Secret after the osdpl)."""
        refs = secret_references(features, "spec.features")
        if not refs:
            return {}
        found = await self.cluster.read_secret_keys(namespace, {path: (r.name, r.key) for path, r in refs.items()})
        missing = [f"{path}: Secret {namespace}/{refs[path].name} with a text value at key {refs[path].key}"
                   for path in refs if path not in found]
        if missing:
            raise CredentialsUnavailable(reasons.WAITING_FOR_REFERENCED_SECRETS,
                                         "waiting for " + "; ".join(missing),
                                         recheck_seconds=self.references_recheck_seconds)
        return found

    async def _ceph_keys(self, body: Mapping[str, Any], spec: DeploymentSpec,
                         enabled: list[str]) -> CephExchange | None:
        """The Ceph keys as the secrets process copied them, if a chart reads them; raises CredentialsUnavailable
        before the first copy, and while an rbd chart without features.ceph would mount a missing object of the
        charts' own wiring (its pods would never start)."""
        namespace = body["metadata"]["namespace"]
        wired = chart_wiring_readers(spec.features, enabled)
        missing = await self.cluster.missing_objects(namespace, CHART_WIRING) if wired else []
        if missing:
            raise CredentialsUnavailable(
                reasons.WAITING_FOR_CEPH_WIRING,
                f"{', '.join(sorted(wired))} use Ceph through the charts' own wiring (spec.features.ceph.enabled is "
                f"false), which needs {' and '.join(f'{kind} {namespace}/{name}' for kind, name in missing)} "
                f"(ceph-adapter-rook creates them): create them, or set spec.features.ceph.enabled, or choose "
                f"glance.backend pvc and cinder.backend lvm", recheck_seconds=CEPH_WIRING_RECHECK_SECONDS)
        if not consumers(spec.features, enabled):
            return None
        exchange = await self.cluster.read_ceph_copy(body["metadata"]["namespace"], body["metadata"]["name"])
        if exchange is None:
            report = CephView.of(body.get("status") or {})
            raise CredentialsUnavailable("WaitingForCephKeys", str(report.message or (
                f"waiting for the secrets process to copy the Ceph keys of {keys_source(spec.features)}")))
        return exchange
