"""The osdpl status: conditions, children, progress, and patches that carry only what changed."""

from __future__ import annotations

from typing import Any

from openstack_operator.core.models.bundle import Bundle, BundleSpec
from openstack_operator.core.releases.bundles import plan_bundles
from openstack_operator.core.health.workloads import release_basis
from openstack_operator.core.status.conditions import Observed, children, compute_status, refusal_conditions, status_patch

NOW, LATER = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def _bundle(states: dict[str, dict[str, Any]], uninstall: bool = False) -> Bundle:
    """A bundle whose release statuses are `states`, as stored."""
    return Bundle.from_api({"spec": {"uninstall": uninstall, "releases": [{"name": n} for n in states]},
                            "status": {"releases": states}})


def _observed(bundles: dict[str, Any], **kwargs: Any) -> Observed:
    desired = {"database": {"mariadb": "f1"}, "identity": {"keystone": "k1"}}
    defaults: dict[str, Any] = dict(generation=3, reconciled_generation=3, draft=False, openstack_version="epoxy",
                                    desired=desired, bundles=bundles)
    return Observed(**{**defaults, **kwargs})


def _conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


DEPLOYED = {"database": _bundle({"mariadb": {"state": "deployed", "fingerprint": "f1", "revision": 1}}),
            "identity": _bundle({"keystone": {"state": "deployed", "fingerprint": "k1", "revision": 2}})}



def _health(keystone_api: str = "Ready", reason: str = "1/1 replicas available", basis: str = "") -> dict[str, Any]:
    """A status as the health process leaves it, checked against the DEPLOYED releases unless `basis` is given."""
    return {"health": {"keystone": {"api": {"state": keystone_api, "reason": reason}},
                       "mariadb": {"server": {"state": "Ready", "reason": "1/1 replicas ready"}}},
            "health_basis": basis or release_basis(children(_observed(DEPLOYED)))}


HEALTHY = _health()


def test_all_releases_at_their_fingerprint_and_healthy_workloads_is_ready() -> None:
    status = compute_status(_observed(DEPLOYED, previous=HEALTHY), NOW)
    assert _conditions(status) == {"Ready": ("True", "Deployed"), "Progressing": ("False", "Deployed"),
                                   "Degraded": ("False", "AsExpected"), "Stalled": ("False", "AsExpected")}
    assert "2 services deployed, 2/2 components ready" in status["conditions"][0]["message"]
    assert status["lcm_progress"] == "2/2" and status["observedGeneration"] == 3
    assert status["openstack_version"] == "epoxy"
    assert all(c["observedGeneration"] == 3 for c in status["conditions"])


def test_an_old_fingerprint_is_pending_not_deployed() -> None:
    observed = _observed(DEPLOYED, desired={"database": {"mariadb": "f2"}, "identity": {"keystone": "k1"}})
    status = compute_status(observed, NOW)
    assert status["children"]["database"]["mariadb"]["state"] == "pending"
    assert status["lcm_progress"] == "1/2"
    assert _conditions(status)["Ready"] == ("False", "Deploying")
    assert _conditions(status)["Progressing"] == ("True", "Deploying")


def test_a_failed_release_degrades_with_helms_message() -> None:
    bundles = {**DEPLOYED, "identity": _bundle({"keystone": {"state": "failed", "target": "k1", "attempts": 2,
                                                             "last_error": "UPGRADE FAILED: bad replicas"}})}
    status = compute_status(_observed(bundles), NOW)
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "ReleaseFailed")
    assert "identity/keystone: UPGRADE FAILED: bad replicas" in degraded["message"]

    # The fix is applied (new values, new fingerprint): the old failure no longer counts, the release is pending.
    fixed = compute_status(_observed(bundles, desired={"database": {"mariadb": "f1"}, "identity": {"keystone": "k2"}}),
                           NOW)
    assert fixed["children"]["identity"]["keystone"] == {"state": "pending"}
    assert _conditions(fixed)["Degraded"] == ("False", "AsExpected")


UNAVAILABLE = {"state": "failed", "reason": "ChartUnavailable", "target": "k1", "attempts": 9,
               "last_error": "chart keystone 2026.1.0 from https://charts.example/osh: chart \"keystone\" version "
                             "\"2026.1.0\" not found in https://charts.example/osh repository"}


def test_an_unavailable_chart_says_so_on_ready_and_degraded_and_is_never_given_up() -> None:
    bundles = {**DEPLOYED, "identity": _bundle({"keystone": UNAVAILABLE})}
    status = compute_status(_observed(bundles), NOW)
    # Nothing else moves: stalled until the chart source is fixed (retried meanwhile), not progressing.
    assert _conditions(status) == {"Ready": ("False", "ChartUnavailable"), "Progressing": ("False", "ChartUnavailable"),
                                   "Degraded": ("True", "ChartUnavailable"), "Stalled": ("True", "ChartUnavailable")}
    conditions = {c["type"]: c["message"] for c in status["conditions"]}
    expected = "identity/keystone: chart keystone 2026.1.0 from https://charts.example/osh: chart"
    assert conditions["Degraded"].startswith(expected)
    assert conditions["Ready"].startswith("chart not available: " + expected)
    assert status["children"]["identity"]["keystone"]["reason"] == "ChartUnavailable"


def test_an_unavailable_chart_comes_first_among_failures() -> None:
    mariadb = {"state": "failed", "target": "f1", "attempts": 1, "last_error": "UPGRADE FAILED: bad replicas"}
    bundles = {"database": _bundle({"mariadb": mariadb}), "identity": _bundle({"keystone": UNAVAILABLE})}
    degraded = next(c for c in compute_status(_observed(bundles), NOW)["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "ChartUnavailable"
    assert degraded["message"].index("identity/keystone: chart keystone") < \
        degraded["message"].index("database/mariadb: UPGRADE FAILED")


def test_a_release_that_fails_again_after_its_chart_came_back_is_a_release_failure() -> None:
    helm_failure = {"state": "failed", "target": "k1", "attempts": 1, "last_error": "UPGRADE FAILED: timed out"}
    status = compute_status(_observed({**DEPLOYED, "identity": _bundle({"keystone": helm_failure})}), NOW)
    assert _conditions(status)["Degraded"] == ("True", "ReleaseFailed")
    assert _conditions(status)["Ready"] == ("False", "ReleaseFailed")
    assert "reason" not in status["children"]["identity"]["keystone"]


def test_an_invalid_spec_and_draft_and_deletion_say_so() -> None:
    assert _conditions(compute_status(_observed(DEPLOYED, spec_error="spec.x: bad"), NOW))["Ready"] == \
        ("False", "InvalidSpec")
    assert _conditions(compute_status(_observed(DEPLOYED, draft=True), NOW))["Progressing"] == ("False", "Draft")
    deleting = compute_status(_observed(DEPLOYED, deleting=True), NOW)
    assert _conditions(deleting)["Ready"] == ("False", "Deleting")
    assert "uninstalling: database, identity" in next(c["message"] for c in deleting["conditions"]
                                                      if c["type"] == "Progressing")


def test_deployed_releases_are_not_ready_until_the_health_process_checked_them() -> None:
    for previous in ({}, _health(basis="checked-before-the-last-upgrade")):
        status = compute_status(_observed(DEPLOYED, previous=previous), NOW)
        assert _conditions(status)["Ready"] == ("False", "HealthPending")
        assert _conditions(status)["Progressing"] == ("True", "HealthPending")


def test_an_unhealthy_workload_makes_ready_false_and_degraded_naming_it() -> None:
    previous = _health("Unhealthy", "Deployment keystone-api: no progress for more than 5s: 0/1 replicas updated")
    status = compute_status(_observed(DEPLOYED, previous=previous), NOW)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "WorkloadsUnhealthy")
    assert ready["message"] == ("unhealthy: keystone/api (Deployment keystone-api: no progress for more than 5s: "
                                "0/1 replicas updated)")
    assert _conditions(status)["Degraded"] == ("True", "WorkloadsUnhealthy")


def test_health_checked_against_replaced_releases_degrades_nothing() -> None:
    stale = _health("Unhealthy", "Deployment keystone-api: no progress for more than 5s: 0/1 replicas updated",
                    basis="checked-before-the-fix")
    status = compute_status(_observed(DEPLOYED, previous=stale), NOW)
    assert _conditions(status)["Degraded"] == ("False", "AsExpected")
    assert _conditions(status)["Ready"] == ("False", "HealthPending")


def test_a_rolling_workload_is_progressing_not_ready() -> None:
    status = compute_status(_observed(DEPLOYED, previous=_health("Progressing", "1/2 replicas available")), NOW)
    assert _conditions(status) == {"Ready": ("False", "WorkloadsProgressing"),
                                   "Progressing": ("True", "WorkloadsProgressing"),
                                   "Degraded": ("False", "AsExpected"), "Stalled": ("False", "AsExpected")}
    # Components by name only: a rollout's changing counts do not rewrite the conditions.
    assert status["conditions"][0]["message"] == "not ready yet: keystone/api"


def test_a_long_list_of_unhealthy_components_is_cut_short() -> None:
    previous = {**HEALTHY, "health": {"nova": {f"c{i:02}": {"state": "Unhealthy", "reason": "r"} for i in range(25)}}}
    ready = compute_status(_observed(DEPLOYED, previous=previous), NOW)["conditions"][0]
    assert ready["message"].endswith("nova/c09 (r) and 15 more")


def test_transition_time_moves_only_when_the_condition_status_flips() -> None:
    first = compute_status(_observed(DEPLOYED, previous=HEALTHY), NOW)
    same = compute_status(_observed(DEPLOYED, previous={**HEALTHY, **first}), LATER)
    assert same == first and status_patch(first, same) == {}
    flipped = compute_status(_observed(DEPLOYED, previous={**HEALTHY, **first}, spec_error="spec.x: bad"), LATER)
    ready = next(c for c in flipped["conditions"] if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == LATER


def test_status_patch_removes_what_went_away_and_keeps_what_did_not_change() -> None:
    old = {"children": {"a": {"r": {"state": "failed", "attempts": 3, "last_error": "boom"}},
                        "b": {"s": {"state": "deployed"}}},
           "lcm_progress": "1/2", "health": {"x": 1}}
    new = {"children": {"a": {"r": {"state": "deployed", "revision": 2}}}, "lcm_progress": "1/1"}
    assert status_patch(old, new) == {
        "children": {"b": None, "a": {"r": {"state": "deployed", "revision": 2, "attempts": None,
                                            "last_error": None}}},
        "lcm_progress": "1/1"}


def test_plan_writes_changed_bundles_and_retires_then_deletes_disabled_ones() -> None:
    existing = {"database": Bundle.from_api({"spec": {"service": "database"}}),
                "dashboard": Bundle.from_api({"spec": {"uninstall": False, "releases": [{"name": "horizon"}]}}),
                "orchestration": Bundle.from_api({"spec": {"uninstall": True, "releases": [{"name": "heat"}]},
                                                  "status": {"releases": {"heat": {"state": "uninstalled"}}}})}
    plan = plan_bundles({"database": BundleSpec(service="database"), "identity": BundleSpec(service="identity")},
                        existing)
    assert (plan.write, plan.retire, plan.delete) == (["identity"], ["dashboard"], ["orchestration"])


def test_a_failing_release_shows_its_next_attempt_and_is_never_exhausted() -> None:
    failing = {"state": "failed", "target": "k1", "attempts": 40, "last_attempt_at": 1767225600.0,
               "next_attempt_at": 1767225900.0, "last_error": "boom"}
    status = compute_status(_observed({**DEPLOYED, "identity": _bundle({"keystone": failing})}), NOW)
    assert status["children"]["identity"]["keystone"] == {"state": "failed", "attempts": 40, "last_error": "boom",
                                                          "next_attempt": "2026-01-01T00:05:00Z"}
    # The only release not deployed is failing: retried, but nothing moves until it is fixed.
    assert _conditions(status)["Progressing"] == ("False", "ReleaseFailed")
    assert _conditions(status)["Degraded"] == ("True", "ReleaseFailed")
    assert _conditions(status)["Stalled"] == ("True", "ReleaseFailed")


def test_a_deployed_release_lists_the_workloads_it_runs() -> None:
    workloads = ["keystone/api/Deployment/keystone-api"]
    deployed = {"state": "deployed", "fingerprint": "k1", "revision": 2, "workloads": workloads}
    status = compute_status(_observed({**DEPLOYED, "identity": _bundle({"keystone": deployed})}), NOW)
    assert status["children"]["identity"]["keystone"]["workloads"] == workloads


def test_a_second_osdpl_in_a_namespace_is_degraded_and_shows_nothing_deployed() -> None:
    status = compute_status(_observed(DEPLOYED, blocked_by="cloud-a"), NOW)
    assert _conditions(status) == {kind: (value, "NamespaceInUse") for kind, value in
                                   (("Ready", "False"), ("Progressing", "False"), ("Degraded", "True"),
                                    ("Stalled", "True"))}
    assert "cloud-a" in status["conditions"][2]["message"]
    assert status["children"] == {} and status["lcm_progress"] == "0/0"
    assert status["observedGeneration"] == 3  # judged: kstatus reads the conditions of this generation


def test_a_refused_write_is_a_condition_with_the_api_servers_reason() -> None:
    message = 'creating Secret ns/x-values: 403 secrets "x-values" is forbidden: exceeded quota: q'
    status = compute_status(_observed(DEPLOYED, api_error=("QuotaExceeded", message)), NOW)
    assert _conditions(status) == {kind: ("False" if kind in ("Ready", "Progressing") else "True", "QuotaExceeded")
                                   for kind in ("Ready", "Progressing", "Degraded", "Stalled")}
    assert status["conditions"][2]["message"] == message
    # Retried with backoff meanwhile: the next attempt that goes through clears the conditions.
    assert status["conditions"][1]["message"] == "the API server refused a write; retried with backoff"


def test_a_retry_in_flight_still_counts_as_failing_so_conditions_do_not_flap() -> None:
    retrying = {"state": "installing", "target": "k1", "attempts": 3, "last_error": "boom"}
    status = compute_status(_observed({**DEPLOYED, "identity": _bundle({"keystone": retrying})}), NOW)
    assert status["children"]["identity"]["keystone"]["state"] == "failed"
    assert _conditions(status)["Degraded"] == ("True", "ReleaseFailed")
    first = compute_status(_observed({**DEPLOYED, "identity": _bundle({"keystone": {"state": "installing",
                                                                                   "target": "k1"}})}), NOW)
    assert first["children"]["identity"]["keystone"]["state"] == "installing"


def test_credentials_not_provided_yet_are_progressing_and_lost_ones_degraded_with_nothing_written() -> None:
    waiting = compute_status(_observed(DEPLOYED, previous=HEALTHY, credentials_problem=(
        "WaitingForCredentials", "waiting for the secrets process to provide 2 credentials")), NOW)
    assert _conditions(waiting) == {"Ready": ("False", "WaitingForCredentials"),
                                    "Progressing": ("True", "WaitingForCredentials"),
                                    "Degraded": ("False", "AsExpected"), "Stalled": ("False", "AsExpected")}
    lost = compute_status(_observed(DEPLOYED, previous=HEALTHY, credentials_problem=(
        "CredentialsLost", "Secret x-credentials: deleted")), NOW)
    assert _conditions(lost) == {"Ready": ("False", "CredentialsLost"), "Progressing": ("False", "CredentialsLost"),
                                 "Degraded": ("True", "CredentialsLost"), "Stalled": ("True", "CredentialsLost")}
    assert "applied_credentials" not in lost  # only a full apply says which credentials the releases use
    applied = compute_status(_observed(DEPLOYED, previous=HEALTHY, applied_credentials=4), NOW)
    assert applied["applied_credentials"] == 4


def test_invalid_ceph_keys_or_certificate_degrade_a_ready_deployment() -> None:
    for key, reason in (("ceph", "CephKeysInvalid"), ("certificate", "CertificateInvalid")):
        previous = {**HEALTHY, key: {"state": "Invalid", "message": f"{key} is broken"}}
        status = compute_status(_observed(DEPLOYED, previous=previous), NOW)
        assert _conditions(status)["Ready"] == ("True", "Deployed")  # the releases are fine
        assert _conditions(status)["Degraded"] == ("True", reason)
        assert status["conditions"][2]["message"] == f"{key} is broken"
    expiring = {**HEALTHY, "certificate": {"state": "Expiring", "message": "expires in 3 days"}}
    assert _conditions(compute_status(_observed(DEPLOYED, previous=expiring), NOW))["Degraded"][0] == "False"


def test_the_refused_condition_is_written_on_change_only() -> None:
    assert refusal_conditions((), None, 1, "t0") is None  # never refused: no condition at all
    refused = refusal_conditions([{"type": "Other", "status": "True"}], "bad", 1, "t0")
    assert refused is not None and refused[0] == {"type": "Other", "status": "True"}
    assert {k: refused[1][k] for k in ("type", "status", "reason", "message", "lastTransitionTime")} == \
        {"type": "Refused", "status": "True", "reason": "Untrusted", "message": "bad", "lastTransitionTime": "t0"}
    assert refusal_conditions(refused, "bad", 2, "t1") is None
    trusted = refusal_conditions(refused, None, 2, "t1")
    assert trusted is not None and trusted[1]["status"] == "False" and trusted[1]["lastTransitionTime"] == "t1"
    assert refusal_conditions(trusted, None, 3, "t2") is None


def test_a_deployed_release_whose_report_the_next_render_needs_is_not_done_until_the_report_is_in() -> None:
    def load_balancer(summary: dict[str, Any]) -> dict[str, Any]:
        bundle = Bundle.from_api({"spec": {"releases": [{"name": "openstack-octavia", "chart": "octavia"}]},
                                  "status": {"releases": {"openstack-octavia": {
                                      "state": "deployed", "fingerprint": "o1", "summary": summary}}}})
        return {**DEPLOYED, "load-balancer": bundle}

    desired = {"database": {"mariadb": "f1"}, "identity": {"keystone": "k1"},
               "load-balancer": {"openstack-octavia": "o1"}}
    waiting = compute_status(_observed(load_balancer({"result": "Unknown", "message": "Job j's pod left no summary"}),
                                       desired=desired, previous=_health()), NOW)
    ready = next(c for c in waiting["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Deploying")
    assert ready["message"] == "waiting for a Job's report: load-balancer/openstack-octavia: Job j's pod left no summary"
    no_node = compute_status(_observed(load_balancer({"result": "Ready", "health_managers": []}), desired=desired,
                                       previous=_health()), NOW)
    assert "found no controller node" in next(c["message"] for c in no_node["conditions"] if c["type"] == "Ready")
    reported = {"result": "Ready", "health_managers": [{"host": "net-a", "address": "10.255.0.11"}]}
    done = compute_status(_observed(load_balancer(reported), desired=desired, previous=_health()), NOW)
    assert _conditions(done)["Ready"][1] != "Deploying"
