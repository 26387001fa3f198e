"""The HelmBundle models (core.models.bundle): a bundle as stored reads and writes back unchanged, and every kind of
release record (core.releases.helmwork) is written with exactly the keys and values the helmbundle process has
always written."""

from __future__ import annotations

import json
from typing import Any

from openstack_operator.core.models.bundle import Bundle, BundleOwner, BundleRelease, BundleSpec, ReleaseStatus, ValuesRef
from openstack_operator.core.releases.helmwork import (UNINSTALL_TARGET, deployed_record, failure_record,
                                                       intent_record, uninstalled_record)
from openstack_operator.kube.gateways.helmbundle import release_patch

STORED: dict[str, Any] = {
    "apiVersion": "openstack.osop.dev/v1alpha1", "kind": "HelmBundle",
    "metadata": {"name": "cloud-identity", "namespace": "openstack", "uid": "b-1", "generation": 4,
                 "resourceVersion": "812", "labels": {"openstack.osop.dev/osdpl": "cloud",
                                                      "openstack.osop.dev/service": "identity"},
                 "ownerReferences": [{"apiVersion": "openstack.osop.dev/v1alpha1", "kind": "OpenStackDeployment",
                                      "name": "cloud", "uid": "u-1", "controller": True,
                                      "blockOwnerDeletion": False}],
                 "finalizers": ["helmbundle.openstack.osop.dev/uninstall-releases"]},
    "spec": {"service": "identity", "depends_on": ["database", "messaging"], "uninstall": False, "releases": [
        {"name": "openstack-keystone", "chart": "keystone", "version": "2026.1.0", "namespace": "openstack",
         "values_from": {"secret_name": "cloud-identity-values", "key": "openstack-keystone"},
         "fingerprint": "k1", "timeout_seconds": 900, "digest": "sha256:" + "a" * 64,
         "repository": "https://charts.example/osh"},
        {"name": "openstack-keystone-extra", "chart": "keystone-extra", "version": "2026.1.0",
         "namespace": "openstack", "values_from": {"secret_name": "cloud-identity-values",
                                                   "key": "openstack-keystone-extra"},
         "fingerprint": "x1", "timeout_seconds": 600}],
        "retry": "3", "reapply": "now"},
    "status": {"observedGeneration": 4,
               "conditions": [{"type": "Refused", "status": "False", "reason": "Trusted", "message": "ok",
                               "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 4}],
               "releases": {
                   "openstack-keystone": {"state": "deployed", "fingerprint": "k1", "target": "k1", "revision": 3,
                                          "chart_version": "2026.1.0", "last_attempt_at": 1800000000.5,
                                          "applied_reapply": "now", "workloads": ["keystone/api/Deployment/k"]},
                   "openstack-keystone-extra": {"state": "failed", "reason": "ChartUnavailable", "target": "x1",
                                                "attempts": 2, "last_attempt_at": 1800000001,
                                                "next_attempt_at": 1800000005.25, "last_error": "boom",
                                                "retry": "3", "reapply": "now", "workloads": []}}},
}


def test_a_stored_bundle_reads_and_writes_back_byte_identical() -> None:
    bundle = Bundle.from_api(STORED)
    assert json.dumps(bundle.to_api()) == json.dumps(STORED)
    assert bundle.spec.releases[0].values_from == ValuesRef("cloud-identity-values", "openstack-keystone")
    assert bundle.release_status("openstack-keystone").workloads == ("keystone/api/Deployment/k",)
    assert bundle.release_status("openstack-keystone-extra").workloads == ()  # recorded empty, not unset
    assert bundle.release_status("not-there") == ReleaseStatus()


def test_a_spec_leaves_unset_optional_keys_out() -> None:
    release = BundleRelease(name="r", chart="c", version="1", namespace="n", values_from=ValuesRef("s", "r"),
                            fingerprint="f", timeout_seconds=600)
    assert list(BundleSpec(service="s", releases=(release,)).to_api()) == ["service", "depends_on", "uninstall",
                                                                            "releases"]
    assert list(release.to_api()) == ["name", "chart", "version", "namespace", "values_from", "fingerprint",
                                      "timeout_seconds"]


def _bundle(previous: dict[str, Any], retry: str = "", reapply: str = "") -> Bundle:
    spec: dict[str, Any] = {"service": "identity", "releases": [{"name": "r", "fingerprint": "k2"}]}
    spec.update({key: value for key, value in (("retry", retry), ("reapply", reapply)) if value})
    return Bundle.from_api({"metadata": {"name": "cloud-identity", "namespace": "openstack", "generation": 2},
                            "spec": spec, "status": {"releases": {"r": previous}}})


DEPLOYED = {"state": "deployed", "fingerprint": "k1", "target": "k1", "revision": 3, "chart_version": "2026.1.0",
            "last_attempt_at": 50.0, "applied_reapply": "a", "workloads": ["keystone/api/Deployment/k"]}


def test_each_kind_of_record_writes_the_keys_it_always_wrote() -> None:
    bundle = _bundle(DEPLOYED)
    previous = bundle.release_status("r")
    assert release_patch("r", intent_record(previous, "install", "k2", 100.0)) == \
        {"releases": {"r": {"state": "installing", "target": "k2", "last_attempt_at": 100.0}}}
    assert intent_record(previous, "uninstall", UNINSTALL_TARGET, 1.0).to_patch() == \
        {"state": "uninstalling", "target": UNINSTALL_TARGET, "last_attempt_at": 1.0}

    failed = failure_record(_bundle(DEPLOYED, retry="7"), "r", "k2", "", "boom", 100.0)
    assert failed.next_attempt_at is not None
    assert release_patch("r", failed, 2) == {"observedGeneration": 2, "releases": {"r": {
        "state": "failed", "reason": None, "target": "k2", "attempts": 1, "last_attempt_at": 100.0,
        "next_attempt_at": failed.next_attempt_at, "last_error": "boom", "retry": "7", "reapply": None}}}
    # What the last success recorded stays on the record (the patch leaves it).
    assert (failed.revision, failed.fingerprint, failed.workloads) == (3, "k1", ("keystone/api/Deployment/k",))

    assert deployed_record("k2", 4, "2026.2.0", (), "a", 100.0).to_patch() == {
        "state": "deployed", "reason": None, "fingerprint": "k2", "target": "k2", "revision": 4,
        "chart_version": "2026.2.0", "attempts": None, "last_attempt_at": 100.0, "next_attempt_at": None,
        "last_error": None, "retry": None, "reapply": None, "applied_reapply": "a", "workloads": [], "summary": None}

    uninstalled = uninstalled_record(previous, 100.0)
    assert uninstalled.to_patch() == {
        "state": "uninstalled", "reason": None, "fingerprint": None, "target": None, "revision": None,
        "attempts": None, "last_attempt_at": 100.0, "next_attempt_at": None, "last_error": None, "retry": None,
        "reapply": None, "applied_reapply": None, "workloads": None, "summary": None}
    assert uninstalled.to_api() == {"state": "uninstalled", "chart_version": "2026.1.0", "last_attempt_at": 100.0}


def test_a_record_written_over_the_stored_one_is_the_record() -> None:
    """Each record is the stored release status after its patch: what the reconciler holds is what is stored."""
    for previous in ({}, DEPLOYED, {**DEPLOYED, "state": "failed", "attempts": 2, "last_error": "x", "target": "k2"}):
        bundle = _bundle(previous, reapply="b")
        status = bundle.release_status("r")
        for record in (intent_record(status, "install", "k2", 9.0), failure_record(bundle, "r", "k2", "C", "e", 9.0),
                       deployed_record("k2", 5, "v", ("w",), "b", 9.0), uninstalled_record(status, 9.0)):
            stored = dict(previous)
            for key, value in record.to_patch().items():
                if value is None:
                    stored.pop(key, None)
                else:
                    stored[key] = value
            assert ReleaseStatus.from_api(stored) == record, record.state


def test_the_owner_a_trust_check_reads_from_an_osdpl_as_served() -> None:
    body = {"metadata": {"name": "cloud", "uid": "u-1", "deletionTimestamp": "2026-12-04T00:00:00Z"},
            "spec": {"artifacts": {"charts_url": "https://charts.mirror.example/osh"}}}
    assert BundleOwner.from_api(body) == BundleOwner(name="cloud", uid="u-1",
                                                     charts_url="https://charts.mirror.example/osh", deleting=True)
    # No artifacts (the schema defaults them to {}; a body read before defaulting may lack them): no repository.
    assert BundleOwner.from_api({"metadata": {"name": "cloud", "uid": "u-1"}, "spec": {}}) == \
        BundleOwner(name="cloud", uid="u-1")
