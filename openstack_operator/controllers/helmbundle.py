"""helmbundle process: makes Helm releases match HelmBundle objects, and reports per release on the bundle status.

Level-triggered: every bundle event queues that bundle (and, when its deployed/uninstalled state flipped, the
bundles of the same osdpl that may wait for it); a worker reads the bundle fresh, asks core.helmwork what to do, does
one Helm step and records the outcome. Independent bundles run in parallel, up to OSOP_HELM_CONCURRENCY at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Mapping

import kopf
import pykube
import yaml

from openstack_operator.core.bundles import OSDPL_LABEL, all_uninstalled
from openstack_operator.core.crd import GROUP, VERSION
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.helmwork import (CHART_UNAVAILABLE, UNINSTALL_TARGET, attempts_after_failure, decide,
                                              is_deployed, retry_delay)
from openstack_operator.core.redact import redact, sensitive_strings
from openstack_operator.core.render import fingerprint, yaml_problem
from openstack_operator.core.workqueue import WorkQueue
from openstack_operator.kube.client import HelmBundle
from openstack_operator.kube.helm import ChartSource, ChartUnavailable, Helm, HelmError
from openstack_operator.kube.objects import decode_secret, get_or_none, patch_status
from openstack_operator.kube.operator import new_registry

log = logging.getLogger("osop.helmbundle")
REGISTRY = new_registry("helmbundle")
Key = tuple[str, str]  # namespace, bundle name

VALUES_NOT_READY_RETRY = 2.0  # seconds: the osdpl process writes a values Secret just before its bundle
MAX_ERROR_CHARS = 1000  # Helm may dump whole objects; the start says what failed


class ValuesNotReady(Exception):
    pass


class BundleController:
    def __init__(self, helm: Helm, concurrency: int) -> None:
        self.helm = helm
        self.bundles: dict[Key, dict[str, Any]] = {}  # last seen, from watch events and our own writes
        self.queue: WorkQueue[Key] = WorkQueue(self.reconcile, concurrency, self._log_error)

    @staticmethod
    def _log_error(key: Key, error: BaseException) -> None:
        log.error("bundle %s/%s: %s: %s", *key, type(error).__name__, error)

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if event_type == "DELETED":
            self.bundles.pop(key, None)
            self._wake_peers(key, body)
            return
        self._remember(key, dict(body))
        self.queue.add(key)

    def _remember(self, key: Key, body: dict[str, Any]) -> None:
        """Keep the newest view of a bundle; wake its peers when it reached or left what they wait for."""
        before = self.bundles.get(key)
        self.bundles[key] = body
        if before is None or _milestones(before) != _milestones(body):
            self._wake_peers(key, body)

    def _wake_peers(self, key: Key, body: Mapping[str, Any]) -> None:
        for peer in self.peers_of(key, body):
            self.queue.add(peer)

    def peers_of(self, key: Key, body: Mapping[str, Any]) -> dict[Key, dict[str, Any]]:
        osdpl = (body["metadata"].get("labels") or {}).get(OSDPL_LABEL)
        return {k: b for k, b in self.bundles.items()
                if k != key and k[0] == key[0] and (b["metadata"].get("labels") or {}).get(OSDPL_LABEL) == osdpl}

    async def reconcile(self, key: Key) -> float | None:
        current = await asyncio.to_thread(get_or_none, HelmBundle, *key)
        if current is None:
            self.bundles.pop(key, None)
            return None
        bundle: dict[str, Any] = current.obj
        self._remember(key, bundle)
        peers = {b["spec"]["service"]: b for b in self.peers_of(key, bundle).values()}
        now = time.time()
        decision = decide(bundle, peers, now)
        if decision.retry_at is not None:
            return decision.retry_at - now
        if not decision.steps:
            return None
        step = decision.steps[0]
        try:
            if step.action == "install":
                outcome = await self.install(bundle, step.release)
            else:
                outcome = await self.uninstall(bundle, step.release)
        except ValuesNotReady as waiting:
            log.info("bundle %s/%s: %s", *key, waiting)
            return VALUES_NOT_READY_RETRY
        patch = {"observedGeneration": bundle["metadata"].get("generation"),
                 "releases": {step.release["name"]: outcome}}
        self._remember(key, await asyncio.to_thread(patch_status, HelmBundle, *key, patch))
        return 0.0  # decide again: the next release, a retry time, or done

    async def install(self, bundle: Mapping[str, Any], release: Mapping[str, Any]) -> dict[str, Any]:
        values = await asyncio.to_thread(self._values, bundle, release)
        name, target = release["name"], release["fingerprint"]
        started = time.time()
        try:
            installed = await self.helm.install(name, release["namespace"], release["chart"],
                                                release.get("version", ""), values, target,
                                                int(release.get("timeout_seconds", 600)),
                                                digest=release.get("digest", ""),
                                                repository=release.get("repository", ""))
        except HelmError as error:
            # A chart that could not be fetched or verified is retried without limit (core.helmwork).
            reason = CHART_UNAVAILABLE if isinstance(error, ChartUnavailable) else ""
            attempts = attempts_after_failure(bundle, name, target, reason)
            log.warning("release %s failed (attempt %d)%s", name, attempts,
                        f": {error}" if reason else "")  # chart messages hold no values, Helm's may
            return {"state": "failed", "reason": reason or None, "target": target, "attempts": attempts,
                    "last_attempt_at": started,
                    "last_error": redact(str(error), sensitive_strings(values))[:MAX_ERROR_CHARS]}
        log.info("release %s %s at revision %d", name, "already current" if installed.skipped else "deployed",
                 installed.revision)
        return {"state": "deployed", "reason": None, "fingerprint": target, "target": target,
                "revision": installed.revision, "chart_version": installed.chart_version, "attempts": None,
                "last_attempt_at": started, "last_error": None}

    async def uninstall(self, bundle: Mapping[str, Any], release: Mapping[str, Any]) -> dict[str, Any]:
        name = release["name"]
        started = time.time()
        try:
            await self.helm.uninstall(name, release["namespace"], int(release.get("timeout_seconds", 600)))
        except HelmError as error:
            attempts = attempts_after_failure(bundle, name, UNINSTALL_TARGET)
            log.warning("uninstall of %s failed (attempt %d); next try in %.0fs", name, attempts,
                        retry_delay(attempts))
            return {"state": "failed", "reason": None, "target": UNINSTALL_TARGET, "attempts": attempts,
                    "last_attempt_at": started, "last_error": str(error)[:MAX_ERROR_CHARS]}
        log.info("release %s uninstalled", name)
        return {"state": "uninstalled", "reason": None, "fingerprint": None, "target": None, "revision": None,
                "attempts": None, "last_attempt_at": started, "last_error": None}

    @staticmethod
    def _values(bundle: Mapping[str, Any], release: Mapping[str, Any]) -> dict[str, Any]:
        """The release's values from its Secret, checked against the fingerprint the bundle asks for."""
        ref = release["values_from"]
        secret = get_or_none(pykube.Secret, bundle["metadata"]["namespace"], ref["secret_name"])
        text = decode_secret(secret).get(ref["key"]) if secret is not None else None
        if text is None:
            raise ValuesNotReady(f"values Secret {ref['secret_name']} has no key {ref['key']} yet")
        try:
            values: dict[str, Any] = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise ValuesNotReady(f"values Secret {ref['secret_name']} key {ref['key']}: {yaml_problem(error)}") \
                from None
        if fingerprint(release["chart"], release.get("version", ""), release.get("digest", ""), release["namespace"],
                       values) != release["fingerprint"]:
            raise ValuesNotReady(f"values Secret {ref['secret_name']} is not at the bundle's fingerprint yet")
        return values


def _milestones(bundle: Mapping[str, Any]) -> tuple[bool, bool]:
    """What peers wait for: deployed (dependents may start) and all uninstalled (dependencies may go)."""
    return is_deployed(bundle), bool(bundle["spec"].get("uninstall")) and all_uninstalled(bundle)


_controller: BundleController | None = None


@kopf.on.startup(registry=REGISTRY)
def start(**_: Any) -> None:
    global _controller
    # Releases that name no repository of their own (spec.artifacts.charts_url unset) come from here.
    location = os.environ.get("OSOP_CHART_SOURCE") or Catalog.load().chart_set.repository
    try:
        helm = Helm(ChartSource(location))
    except HelmError as error:  # a source that is neither a directory nor an http(s) URL; no helm binary
        raise kopf.PermanentError(str(error)) from None
    log.info("chart source %s, chart cache %s", helm.source, helm.cache.directory)
    _controller = BundleController(helm, int(os.environ.get("OSOP_HELM_CONCURRENCY", "4")))


@kopf.on.cleanup(registry=REGISTRY)
def stop(**_: Any) -> None:
    if _controller is not None:
        _controller.queue.close()


@kopf.on.event(GROUP, VERSION, "helmbundles", registry=REGISTRY)
async def bundle_event(event: Mapping[str, Any], **_: Any) -> None:
    assert _controller is not None  # set at startup, before any watch starts
    _controller.observe(event.get("type"), event["object"])
