"""Workload health from the workloads' own status, per component, and the basis that ties it to releases."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from openstack_operator.core.health.workloads import (MISSING_REASON, PROGRESSING, READY, UNHEALTHY, Assessment, Workload,
                                            assess, component_health, health_progress, listed_generations,
                                            missing_workloads, release_basis, resync_gone, scheduled_run, with_grace,
                                            workload_release)


def _workload(kind: str, spec: dict[str, Any], status: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": "w", "namespace": "n", "generation": generation},
            "spec": spec, "status": status}


def _deployment(wanted: int = 2, **status: Any) -> dict[str, Any]:
    return _workload("Deployment", {"replicas": wanted}, {"observedGeneration": 1, **status})


@pytest.mark.parametrize("body, expected", [
    (_workload("Deployment", {"replicas": 1}, {"observedGeneration": 1}, generation=2),
     (PROGRESSING, "change not yet seen by its controller")),
    (_deployment(updatedReplicas=1, replicas=2, availableReplicas=2), (PROGRESSING, "1/2 replicas updated")),
    (_deployment(updatedReplicas=2, replicas=3, availableReplicas=2), (PROGRESSING, "1 old replicas terminating")),
    (_deployment(updatedReplicas=2, replicas=2, availableReplicas=1), (PROGRESSING, "1/2 replicas available")),
    (_deployment(updatedReplicas=2, replicas=2, availableReplicas=2), (READY, "2/2 replicas available")),
    (_deployment(wanted=0), (READY, "0/0 replicas available")),
    (_deployment(updatedReplicas=2, replicas=2, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "w-1" has timed out progressing.'}]),
     (UNHEALTHY, 'progress deadline exceeded: ReplicaSet "w-1" has timed out progressing.')),
    (_deployment(conditions=[{"type": "ReplicaFailure", "status": "True", "message": "exceeded quota"}]),
     (UNHEALTHY, "replica failure: exceeded quota")),
    (_workload("StatefulSet", {"replicas": 3}, {"observedGeneration": 1, "currentRevision": "a",
                                                "updateRevision": "b", "updatedReplicas": 1, "readyReplicas": 3}),
     (PROGRESSING, "1/3 replicas updated")),
    (_workload("StatefulSet", {"replicas": 3, "updateStrategy": {"type": "OnDelete"}},
               {"observedGeneration": 1, "currentRevision": "a", "updateRevision": "b", "readyReplicas": 3}),
     (READY, "3/3 replicas ready")),
    (_workload("StatefulSet", {"replicas": 3}, {"observedGeneration": 1, "readyReplicas": 2}),
     (PROGRESSING, "2/3 replicas ready")),
    (_workload("DaemonSet", {}, {"observedGeneration": 1, "desiredNumberScheduled": 5,
                                 "updatedNumberScheduled": 4, "numberAvailable": 5}),
     (PROGRESSING, "4/5 nodes updated")),
    (_workload("DaemonSet", {}, {"observedGeneration": 1, "desiredNumberScheduled": 5,
                                 "updatedNumberScheduled": 5, "numberAvailable": 3}),
     (PROGRESSING, "3/5 nodes available")),
    (_workload("DaemonSet", {}, {"observedGeneration": 1, "desiredNumberScheduled": 2,
                                 "updatedNumberScheduled": 2, "numberAvailable": 2}),
     (READY, "2/2 nodes available")),
    (_workload("Job", {}, {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                           "message": "Job has reached the specified backoff limit"}]}),
     (UNHEALTHY, "failed: BackoffLimitExceeded: Job has reached the specified backoff limit")),
    (_workload("Job", {}, {"conditions": [{"type": "Complete", "status": "True"}]}), (READY, "completed")),
    (_workload("Job", {}, {"active": 1, "ready": 1, "failed": 2}),
     (PROGRESSING, "running, 2 failed attempts", False, True)),
    (_workload("Job", {}, {"active": 1}), (PROGRESSING, "running", False, True)),  # before `ready` existed
    (_workload("Job", {}, {"active": 1, "ready": 0}), (PROGRESSING, "pods not running yet")),
    (_workload("Job", {}, {}), (PROGRESSING, "pods not running yet")),
    (_workload("Job", {"suspend": True}, {}), (PROGRESSING, "suspended", False)),
])
def test_a_workload_state_comes_from_its_own_status(body: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert assess(body) == Assessment(*expected)


def test_a_long_controller_message_is_cut_short() -> None:
    body = _deployment(conditions=[{"type": "ReplicaFailure", "status": "True", "message": "x" * 1000}])
    assert len(assess(body).reason) == 200


def test_no_progress_for_longer_than_the_grace_period_is_unhealthy_except_for_a_job_at_work() -> None:
    rolling = Assessment(PROGRESSING, "0/1 replicas updated")
    assert with_grace(rolling, unchanged_since=100.0, now=104.9, grace=5) == rolling
    assert with_grace(rolling, unchanged_since=100.0, now=105.0, grace=5) == \
        Assessment(UNHEALTHY, "no progress for more than 5s: 0/1 replicas updated")
    running_job = assess(_workload("Job", {}, {"active": 1, "ready": 1}))
    assert with_grace(running_job, 0.0, 1e6, 5) == running_job
    stuck_job = assess(_workload("Job", {}, {"active": 1, "ready": 0}))
    assert with_grace(stuck_job, 0.0, 1e6, 5) == Assessment(UNHEALTHY, "no progress for more than 5s: pods not "
                                                                       "running yet")
    assert with_grace(Assessment(READY, "2/2"), 0.0, 1e6, 5).state == READY


def _w(kind: str, name: str, component: str, state: str, reason: str = "r") -> Workload:
    return Workload(f"uid-{name}", 1, kind, name, "keystone", component, "openstack-keystone", Assessment(state, reason))


def test_a_component_takes_its_worst_workload_and_names_it() -> None:
    health = component_health([
        _w("Deployment", "keystone-api", "api", READY, "1/1 replicas available"),
        _w("Job", "keystone-db-sync-1", "db-sync", READY, "completed"),
        _w("Job", "keystone-db-sync-2", "db-sync", UNHEALTHY, "failed: BackoffLimitExceeded: x"),
    ])
    assert health == {"keystone": {
        "api": {"state": READY, "reason": "1/1 replicas available"},
        "db-sync": {"state": UNHEALTHY, "reason": "Job keystone-db-sync-2: failed: BackoffLimitExceeded: x"}}}
    assert health_progress(health) == "1/2"
    assert health_progress({}) == "0/0"


def test_the_basis_changes_with_deployed_revisions_only() -> None:
    children = {"identity": {"openstack-keystone": {"state": "deployed", "revision": 2}},
                "dashboard": {"openstack-horizon": {"state": "failed", "revision": 1, "attempts": 1}}}
    basis = release_basis(children)
    assert release_basis({**children, "dashboard": {"openstack-horizon": {"state": "failed", "attempts": 2}}}) == basis
    assert release_basis({**children, "identity": {"openstack-keystone": {"state": "deployed", "revision": 3}}}) \
        != basis


def test_a_workload_belongs_to_the_release_helm_annotated_it_with() -> None:
    annotated = {"metadata": {"annotations": {"meta.helm.sh/release-name": "openstack-keystone"},
                              "labels": {"release_group": "other"}}}
    assert workload_release(annotated) == "openstack-keystone"
    assert workload_release({"metadata": {"labels": {"release_group": "openstack-glance"}}}) == "openstack-glance"
    assert workload_release({"metadata": {}}) == ""


def _job_of(owner_kind: str | None, annotations: dict[str, str] | None = None, kind: str = "Job") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "j", "uid": f"uid-{owner_kind}", "generation": 1,
                                "labels": {"application": "keystone", "component": "fernet-rotate",
                                           "release_group": "openstack-keystone"},
                                "annotations": annotations or {}}
    if owner_kind:
        metadata["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": owner_kind, "name": "o", "uid": "u"}]
    return {"kind": kind, "metadata": metadata, "spec": {}, "status": {}}


def test_a_job_a_cronjob_created_is_no_step_of_the_deployment() -> None:
    assert scheduled_run(_job_of("CronJob"))
    # orphaned (the CronJob deleted, its Jobs kept): the CronJob controller's annotation still tells
    assert scheduled_run(_job_of(None, {"batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-01-01T00:00:00Z"}))
    assert not scheduled_run(_job_of(None))  # a Helm-made Job: db-sync, bootstrap, ...
    assert not scheduled_run(_job_of("Deployment"))


def test_a_fresh_list_is_compared_without_the_jobs_of_cronjobs() -> None:
    # The health process indexes no CronJob Job: the LIST it compares its indexes with must not expect one.
    listed = listed_generations([_job_of(None), _job_of("CronJob")])
    assert listed == {"uid-None": (1, "openstack-keystone")}
    # Items of a LIST carry no `kind`: a CronJob's Job is still recognised (else Ready would wait for it forever).
    items = [_job_of(None), _job_of("CronJob"), _job_of(None, {"batch.kubernetes.io/cronjob-scheduled-timestamp": "t"})]
    for item in items:
        del item["kind"]
    assert listed_generations(items) == {"uid-None": (1, "openstack-keystone")}


def test_what_a_deployed_release_has_and_the_cluster_lacks_is_missing() -> None:
    children: dict[str, dict[str, dict[str, Any]]] = {
        "identity": {"openstack-keystone": {"state": "deployed", "revision": 1, "workloads": [
            "keystone/api/Deployment/keystone-api", "keystone/api/Deployment/keystone-api-admin",
            "keystone/fernet/StatefulSet/keystone-fernet", "not/an/entry"]}},
        "image": {"openstack-glance": {"state": "failed", "workloads": ["glance/api/Deployment/glance-api"]}},
        "compute": {"openstack-nova": {"state": "deployed", "revision": 1}},  # recorded before `workloads` existed
    }
    present = [_w("Deployment", "keystone-api", "api", READY),
               # the same kind and name, of another release: not this one's
               replace(_w("StatefulSet", "keystone-fernet", "fernet", READY), release="someone-elses")]
    missing = missing_workloads(children, present)
    assert missing == [
        Workload("", 0, "Deployment", "keystone-api-admin", "keystone", "api", "openstack-keystone",
                 Assessment(UNHEALTHY, MISSING_REASON)),
        Workload("", 0, "StatefulSet", "keystone-fernet", "keystone", "fernet", "openstack-keystone",
                 Assessment(UNHEALTHY, MISSING_REASON))]
    health = component_health(present[:1] + missing)
    assert health["keystone"]["api"] == {"state": UNHEALTHY,
                                         "reason": f"Deployment keystone-api-admin: {MISSING_REASON}"}
    assert health_progress(health) == "0/2"


def test_indexed_workloads_a_later_list_lacks_are_gone_until_the_index_drops_them() -> None:
    snapshot = {"uid-a": "ns1", "uid-b": "ns1", "uid-c": "ns2"}
    # uid-d was created after the snapshot: in the index now, not in the snapshot, whether listed or not
    gone, newly = resync_gone(set(), snapshot, listed={"uid-a"}, indexed={"uid-a", "uid-b", "uid-c", "uid-d"})
    assert gone == {"uid-b", "uid-c"}
    assert newly == {"uid-b": "ns1", "uid-c": "ns2"}
    # the next round: nothing new; uid-c left the index (Kopf did see it go)
    gone, newly = resync_gone(gone, {**snapshot, "uid-d": "ns1"}, listed={"uid-a", "uid-d"},
                              indexed={"uid-a", "uid-b", "uid-d"})
    assert (gone, newly) == ({"uid-b"}, {})
