"""What the helmbundle operator decides: order inside a bundle, dependencies, backoff, retries, uninstall order."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openstack_operator.core.models.bundle import Bundle, BundleRelease, BundleSpec, ReleaseStatus, ValuesRef
from openstack_operator.core.runtime.retry import MAX_RETRY_SECONDS, retry_delay
from openstack_operator.core.releases.helmwork import (CHART_UNAVAILABLE, UNINSTALL_TARGET, decide,
                                              failure_record, is_deployed, is_new_failure, long_running_workloads,
                                              intent_record, jobs_to_recreate)


def _bundle(service: str, releases: dict[str, str], status: dict[str, ReleaseStatus] | None = None,
            depends_on: tuple[str, ...] = (), uninstall: bool = False) -> Bundle:
    spec = BundleSpec(service=service, depends_on=depends_on, uninstall=uninstall, releases=tuple(
        BundleRelease(name=n, chart=n, namespace="openstack", values_from=ValuesRef("values", n), fingerprint=f)
        for n, f in releases.items()))
    return Bundle(name=f"cloud-{service}", namespace="openstack", spec=spec, releases=status or {})


def _recorded(bundle: Bundle, name: str, status: ReleaseStatus) -> Bundle:
    """`bundle` with `status` recorded for release `name`, as the helmbundle process writes it."""
    return replace(bundle, releases={**bundle.releases, name: status})


def _spec(bundle: Bundle, **changes: Any) -> Bundle:
    return replace(bundle, spec=replace(bundle.spec, **changes))


def _deployed(fingerprint: str) -> ReleaseStatus:
    return ReleaseStatus(state="deployed", fingerprint=fingerprint)


DEPLOYED_DB = _bundle("database", {"mariadb": "f1"}, {"mariadb": _deployed("f1")})


def test_a_bundle_waits_for_its_dependencies_to_deploy() -> None:
    keystone = _bundle("identity", {"keystone": "k1"}, depends_on=("database",))
    pending_db = _bundle("database", {"mariadb": "f1"})
    assert decide(keystone, {"database": pending_db}, 0).waiting_for == "dependencies to deploy: database"
    assert decide(keystone, {}, 0).waiting_for == "dependencies to deploy: database"
    step = decide(keystone, {"database": DEPLOYED_DB}, 0).steps[0]
    assert (step.action, step.release.name) == ("install", "keystone")


def test_releases_of_a_bundle_install_in_order_and_only_when_not_current() -> None:
    bundle = _bundle("networking", {"openvswitch": "o2", "neutron": "n1"},
                     {"openvswitch": _deployed("o1"), "neutron": _deployed("n1")})
    assert [s.release.name for s in decide(bundle, {}, 0).steps] == ["openvswitch"]
    bundle = _recorded(bundle, "openvswitch", _deployed("o2"))
    assert decide(bundle, {}, 0).steps == ()


def test_a_failed_release_waits_for_its_next_attempt_time_and_is_never_given_up() -> None:
    bundle = _bundle("identity", {"keystone": "k2"})
    record = failure_record(bundle, "keystone", "k2", "", "boom", started=100.0)
    assert record.attempts == 1 and record.next_attempt_at is not None
    assert 100.0 + 1.6 <= record.next_attempt_at <= 100.0 + 2.4
    bundle = _recorded(bundle, "keystone", record)
    for _ in range(40):  # far past any attempt limit: still retried, the delay capped
        due = decide(bundle, {}, 0.0).retry_at
        assert due is not None and due == record.next_attempt_at
        assert decide(bundle, {}, due).steps[0].action == "install"
        record = failure_record(bundle, "keystone", "k2", "", "boom", started=due)
        bundle = _recorded(bundle, "keystone", record)
    assert record.attempts == 41 and record.next_attempt_at is not None and record.last_attempt_at is not None
    assert record.next_attempt_at - record.last_attempt_at <= MAX_RETRY_SECONDS
    # A new fingerprint (the user fixed the manifest) starts over at once, and counts from one.
    bundle = _spec(bundle, releases=(replace(bundle.spec.releases[0], fingerprint="k3"),))
    assert decide(bundle, {}, 0.0).steps[0].action == "install"
    assert failure_record(bundle, "keystone", "k3", "", "boom", 1.0).attempts == 1


def test_a_new_retry_token_retries_at_once_and_the_backoff_resumes_after() -> None:
    bundle = _bundle("identity", {"keystone": "k1"})
    bundle = _recorded(bundle, "keystone", failure_record(bundle, "keystone", "k1", "", "boom", started=100.0))
    assert decide(bundle, {}, 100.0).retry_at is not None
    bundle = _spec(bundle, retry="7")
    assert decide(bundle, {}, 100.0).steps[0].action == "install"
    bundle = _recorded(bundle, "keystone", failure_record(bundle, "keystone", "k1", "", "boom", started=101.0))
    assert bundle.release_status("keystone").retry == "7"
    assert decide(bundle, {}, 101.0).retry_at is not None
    bundle = _spec(bundle, reapply="please")
    assert decide(bundle, {}, 101.0).steps[0].action == "install"


def test_a_reapply_request_applies_a_deployed_release_again_once() -> None:
    bundle = _bundle("identity", {"keystone": "k1"}, {"keystone": _deployed("k1")})
    assert decide(bundle, {}, 0).steps == ()
    bundle = _spec(bundle, reapply="2026-11-23T17:00")
    assert decide(bundle, {}, 0).steps[0].action == "install"
    # A failed attempt records the request it failed under (its backoff), not that the request was applied.
    bundle = _recorded(bundle, "keystone", failure_record(bundle, "keystone", "k1", "", "boom", 1.0))
    assert bundle.release_status("keystone").reapply == "2026-11-23T17:00"
    assert decide(bundle, {}, 1.0).retry_at is not None
    assert decide(bundle, {}, 1000.0).steps[0].action == "install"
    bundle = _recorded(bundle, "keystone", replace(bundle.release_status("keystone"), state="deployed",
                                                   applied_reapply="2026-11-23T17:00"))
    assert decide(bundle, {}, 0).steps == ()


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    assert [retry_delay(n, draw=0.5) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert retry_delay(1, draw=0.0) == 1.6 and retry_delay(1, draw=0.999999) < 2.4
    assert retry_delay(50) == MAX_RETRY_SECONDS and retry_delay(50, cap=20.0) == 20.0


def test_only_a_changed_failure_is_new() -> None:
    bundle = _bundle("identity", {"keystone": "k1"})
    first = failure_record(bundle, "keystone", "k1", "", "quota exceeded", 1.0)
    assert is_new_failure(bundle, "keystone", first)
    bundle = _recorded(bundle, "keystone", first)
    assert not is_new_failure(bundle, "keystone", failure_record(bundle, "keystone", "k1", "", "quota exceeded", 2.0))
    assert is_new_failure(bundle, "keystone", failure_record(bundle, "keystone", "k1", "", "forbidden", 2.0))


def test_a_deleted_bundle_is_uninstalled_like_a_retired_one() -> None:
    bundle = _bundle("identity", {"keystone": "k1"}, {"keystone": _deployed("k1")})
    bundle = replace(bundle, deletion_timestamp="2026-11-23T00:00:00Z")
    assert [s.action for s in decide(bundle, {}, 0).steps] == ["uninstall"]
    assert not is_deployed(bundle)


def test_long_running_workloads_are_the_labelled_deployments_statefulsets_and_daemonsets() -> None:
    def obj(kind: str, name: str, **labels: str) -> dict[str, Any]:
        return {"kind": kind, "metadata": {"name": name, "labels": labels}}
    manifest: list[dict[str, Any] | None] = [obj("Deployment", "keystone-api", application="keystone", component="api"),
                obj("StatefulSet", "mariadb-server", application="mariadb", component="server"),
                obj("Job", "keystone-db-sync", application="keystone", component="db-sync"),
                None, obj("Deployment", "unlabelled"), obj("ConfigMap", "keystone-etc", application="keystone",
                                                     component="etc")]
    assert long_running_workloads(manifest) == ["keystone/api/Deployment/keystone-api",
                                                "mariadb/server/StatefulSet/mariadb-server"]


def test_uninstall_waits_for_dependents_then_goes_in_reverse_release_order() -> None:
    db = _bundle("database", {"mariadb": "f1"}, {"mariadb": _deployed("f1")}, uninstall=True)
    keystone = _bundle("identity", {"keystone": "k1"}, {"keystone": _deployed("k1")}, depends_on=("database",),
                       uninstall=True)
    assert decide(db, {"identity": keystone}, 0).waiting_for == "dependents to uninstall first: identity"
    keystone = _recorded(keystone, "keystone", ReleaseStatus(state="uninstalled"))
    assert [s.action for s in decide(db, {"identity": keystone}, 0).steps] == ["uninstall"]
    net = _bundle("networking", {"openvswitch": "o", "neutron": "n"}, uninstall=True)
    assert [s.release.name for s in decide(net, {}, 0).steps] == ["neutron", "openvswitch"]


def test_a_failed_uninstall_is_retried_with_backoff_without_limit() -> None:
    bundle = _bundle("database", {"mariadb": "f1"}, uninstall=True)
    failed = replace(failure_record(bundle, "mariadb", UNINSTALL_TARGET, "", "boom", 50.0), attempts=20)
    bundle = _recorded(bundle, "mariadb", failed)
    assert failed.next_attempt_at is not None and decide(bundle, {}, 50.0).retry_at == failed.next_attempt_at
    assert decide(bundle, {}, failed.next_attempt_at).steps[0].action == "uninstall"


def test_a_failure_recorded_before_next_attempt_times_waits_the_unjittered_delay() -> None:
    failed = ReleaseStatus(state="failed", reason=CHART_UNAVAILABLE, target="k1", attempts=12, last_attempt_at=50.0)
    bundle = _bundle("identity", {"keystone": "k1"}, {"keystone": failed})
    assert decide(bundle, {}, 60.0).retry_at == 50.0 + retry_delay(12, draw=0.5)


def test_a_step_that_never_reported_back_is_done_again_even_if_the_spec_went_back_to_the_deployed_values() -> None:
    # Deployed at k1, then a step towards k2 started (intent written) and the process died or the step was stopped;
    # the spec is back at k1. Helm may hold k2's objects half-applied: k1 is applied again.
    bundle = _bundle("identity", {"keystone": "k1"}, {"keystone": _deployed("k1")})
    bundle = _recorded(bundle, "keystone", intent_record(bundle.release_status("keystone"), "install", "k2", 5.0))
    assert decide(bundle, {}, 6.0).steps[0].action == "install"
    # Attempts at the same target keep counting across the intent.
    bundle = _recorded(bundle, "keystone", replace(bundle.release_status("keystone"), attempts=3))
    assert failure_record(bundle, "keystone", "k2", "", "boom", 7.0).attempts == 4


def test_before_an_upgrade_only_the_finished_plain_jobs_of_the_release_are_recreated() -> None:
    def job(name: str, release: str = "openstack-nova", hook: bool = False, done: str = "Complete") -> dict[str, Any]:
        annotations = {"meta.helm.sh/release-name": release, **({"helm.sh/hook": "post-upgrade"} if hook else {})}
        conditions = [{"type": done, "status": "True"}] if done else []
        return {"metadata": {"name": name, "annotations": annotations}, "status": {"conditions": conditions}}

    jobs = [job("nova-bootstrap"), job("nova-cell-setup", done="Failed"), job("nova-db-sync", hook=True),
            job("nova-running", done=""), job("glance-bootstrap", release="openstack-glance")]
    assert jobs_to_recreate(jobs, "openstack-nova") == ["nova-bootstrap", "nova-cell-setup"]
