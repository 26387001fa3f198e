"""End to end, each process's /metrics as Prometheus scrapes it: after a change to the shared deployment, the
counters and gauges of every process moved as the work done says; and where no work is due, the write counter does
not move."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from openstack_operator.core.releases.bundles import REAPPLY_ANNOTATION

from .conftest import AuditLog, Deployment, Helm, Kubectl, Operators, wait_for


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_every_process_serves_metrics_that_follow_a_change(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    before = {name: _samples(operators.metrics(name)) for name in operators.PROCESSES}
    revision = int(helm.releases(deployment.namespace)["openstack-keystone"]["revision"])
    deployment.merge_patch({"spec": {"services": {"identity": {"keystone": {"values": {"pod": {"replicas": {
        "api": 2}}}}}}}})
    wait_for("keystone upgraded", lambda: int(helm.releases(deployment.namespace)["openstack-keystone"]["revision"])
             == revision + 1, operators)
    wait_for("Ready at the new generation", deployment.ready_at_generation, operators)
    after = {name: _samples(operators.metrics(name)) for name in operators.PROCESSES}

    for name in operators.PROCESSES:  # every process reconciled something, and nothing waits now
        assert _value(after[name], "osop_reconcile_duration_seconds_count", process=name) > \
            _value(before[name], "osop_reconcile_duration_seconds_count", process=name), name
        assert ("osop_workqueue_depth", frozenset({("process", name)})) in after[name]
    bundle = after["helmbundle"], before["helmbundle"]
    assert _value(bundle[0], "osop_helm_operations_total", action="install", result="deployed") >= \
        _value(bundle[1], "osop_helm_operations_total", action="install", result="deployed") + 1
    assert _value(bundle[0], "osop_helm_operation_duration_seconds_count", action="install") > 0
    bundles = kubectl.json("-n", deployment.namespace, "get", "helmbundles")["items"]
    assert _value(bundle[0], "osop_watched_objects", process="helmbundle", kind="HelmBundle") >= len(bundles) > 0
    assert _value(after["osdpl"], "osop_api_writes_total", verb="create", kind="HelmBundle") + \
        _value(after["osdpl"], "osop_api_writes_total", verb="patch", kind="HelmBundle") > 0
    assert _value(after["health"], "osop_watched_objects", process="health", kind="workloads") > 0
    age = _value(after["secrets"], "osop_credentials_age_seconds", namespace=deployment.namespace,
                 osdpl=deployment.name)
    assert 0 < age < 24 * 3600


def test_a_removed_reapply_annotation_writes_nothing(
        deployment: Deployment, operators: Operators, kubectl: Kubectl, audit_log: AuditLog | None) -> None:
    """The write counter's delta: once the releases are applied again, removing the annotation costs no write (a
    merge patch cannot remove the bundles' `reapply`, so a spec without it was patched again on every reconcile)."""
    namespace, token = deployment.namespace, f"e2e-{time.time_ns()}"

    def bundles() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = kubectl.json("-n", namespace, "get", "helmbundles")["items"]
        return items

    def reapplied() -> bool:
        return all(b["spec"].get("reapply") == token and all(
            (b.get("status") or {}).get("releases", {}).get(r["name"], {}).get("applied_reapply") == token
            for r in b["spec"]["releases"]) for b in bundles())

    def bundle_writes() -> float:
        samples = _samples(operators.metrics("osdpl"))
        return sum(_value(samples, "osop_api_writes_total", verb=verb, kind="HelmBundle")
                   for verb in ("create", "patch", "update", "delete"))

    try:
        kubectl.run("-n", namespace, "annotate", "osdpl", deployment.name, f"{REAPPLY_ANNOTATION}={token}",
                    "--overwrite")
        wait_for("every release applied again", reapplied, operators)
        wait_for("Ready", deployment.ready_at_generation, operators)
        time.sleep(2)  # the last status writes of the re-apply land
        before, since = bundle_writes(), time.time()
        kubectl.run("-n", namespace, "annotate", "osdpl", deployment.name, f"{REAPPLY_ANNOTATION}-")
        time.sleep(8)  # the osdpl process reconciles the removal at once (the annotation is part of what it watches)
        assert bundle_writes() == before
        assert all(b["spec"].get("reapply") == token for b in bundles())  # no new re-apply asked for
        if audit_log is not None:
            names = [b["metadata"]["name"] for b in bundles()]
            assert audit_log.writes(namespace, "helmbundles", names, since) == 0
    finally:
        kubectl.run("-n", namespace, "annotate", "osdpl", deployment.name, f"{REAPPLY_ANNOTATION}-", check=False)
