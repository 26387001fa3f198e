"""What the helmbundle operator decides: order inside a bundle, dependencies, backoff, retries, uninstall order."""

from __future__ import annotations

from typing import Any

from openstack_operator.core.helmwork import (CHART_UNAVAILABLE, MAX_ATTEMPTS, UNINSTALL_TARGET,
                                              attempts_after_failure, decide, retry_delay)


def _bundle(service: str, releases: dict[str, str], status: dict[str, Any] | None = None,
            depends_on: tuple[str, ...] = (), uninstall: bool = False) -> dict[str, Any]:
    return {"spec": {"service": service, "depends_on": list(depends_on), "uninstall": uninstall,
                     "releases": [{"name": n, "fingerprint": f} for n, f in releases.items()]},
            "status": {"releases": status or {}}}


DEPLOYED_DB = _bundle("database", {"mariadb": "f1"}, {"mariadb": {"state": "deployed", "fingerprint": "f1"}})


def test_a_bundle_waits_for_its_dependencies_to_deploy() -> None:
    keystone = _bundle("identity", {"keystone": "k1"}, depends_on=("database",))
    pending_db = _bundle("database", {"mariadb": "f1"})
    assert decide(keystone, {"database": pending_db}, 0).waiting_for == "dependencies to deploy: database"
    assert decide(keystone, {}, 0).waiting_for == "dependencies to deploy: database"
    step = decide(keystone, {"database": DEPLOYED_DB}, 0).steps[0]
    assert (step.action, step.release["name"]) == ("install", "keystone")


def test_releases_of_a_bundle_install_in_order_and_only_when_not_current() -> None:
    bundle = _bundle("networking", {"openvswitch": "o2", "neutron": "n1"},
                     {"openvswitch": {"state": "deployed", "fingerprint": "o1"},
                      "neutron": {"state": "deployed", "fingerprint": "n1"}})
    assert [s.release["name"] for s in decide(bundle, {}, 0).steps] == ["openvswitch"]
    bundle["status"]["releases"]["openvswitch"]["fingerprint"] = "o2"
    assert decide(bundle, {}, 0).steps == ()


def test_a_failed_release_backs_off_then_gives_up_at_that_fingerprint() -> None:
    failed = {"state": "failed", "target": "k2", "attempts": 2, "last_attempt_at": 100.0}
    bundle = _bundle("identity", {"keystone": "k2"}, {"keystone": failed})
    assert decide(bundle, {}, 100.0).retry_at == 100.0 + retry_delay(2)
    assert decide(bundle, {}, 100.0 + retry_delay(2)).steps[0].action == "install"
    failed["attempts"] = MAX_ATTEMPTS
    assert decide(bundle, {}, 10_000.0).gave_up
    # A new fingerprint (the user fixed the manifest) starts over at once.
    bundle["spec"]["releases"][0]["fingerprint"] = "k3"
    assert decide(bundle, {}, 100.0).steps[0].action == "install"
    assert attempts_after_failure(bundle, "keystone", "k3") == 1
    assert attempts_after_failure(bundle, "keystone", "k2") == MAX_ATTEMPTS + 1


def test_backoff_doubles_and_is_capped() -> None:
    assert [retry_delay(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert retry_delay(50) == 300.0


def test_uninstall_waits_for_dependents_then_goes_in_reverse_release_order() -> None:
    db = _bundle("database", {"mariadb": "f1"}, {"mariadb": {"state": "deployed", "fingerprint": "f1"}},
                 uninstall=True)
    keystone = _bundle("identity", {"keystone": "k1"}, {"keystone": {"state": "deployed", "fingerprint": "k1"}},
                       depends_on=("database",), uninstall=True)
    assert decide(db, {"identity": keystone}, 0).waiting_for == "dependents to uninstall first: identity"
    keystone["status"]["releases"]["keystone"] = {"state": "uninstalled"}
    assert [s.action for s in decide(db, {"identity": keystone}, 0).steps] == ["uninstall"]
    net = _bundle("networking", {"openvswitch": "o", "neutron": "n"}, uninstall=True)
    assert [s.release["name"] for s in decide(net, {}, 0).steps] == ["neutron", "openvswitch"]


def test_a_failed_uninstall_is_retried_with_backoff_without_limit() -> None:
    failed = {"state": "failed", "target": UNINSTALL_TARGET, "attempts": 20, "last_attempt_at": 50.0}
    bundle = _bundle("database", {"mariadb": "f1"}, {"mariadb": failed}, uninstall=True)
    assert decide(bundle, {}, 60.0).retry_at == 50.0 + retry_delay(20)
    assert decide(bundle, {}, 50.0 + retry_delay(20)).steps[0].action == "uninstall"


def test_an_unavailable_chart_is_retried_with_backoff_without_limit() -> None:
    failed = {"state": "failed", "reason": CHART_UNAVAILABLE, "target": "k1", "attempts": MAX_ATTEMPTS + 7,
              "last_attempt_at": 50.0}
    bundle = _bundle("identity", {"keystone": "k1"}, {"keystone": failed})
    decision = decide(bundle, {}, 60.0)
    assert not decision.gave_up and decision.retry_at == 50.0 + retry_delay(MAX_ATTEMPTS + 7)
    assert decide(bundle, {}, 50.0 + retry_delay(MAX_ATTEMPTS + 7)).steps[0].action == "install"
    # Once the chart is there, Helm failures get their own MAX_ATTEMPTS: the count starts over with the reason.
    assert attempts_after_failure(bundle, "keystone", "k1", CHART_UNAVAILABLE) == MAX_ATTEMPTS + 8
    assert attempts_after_failure(bundle, "keystone", "k1") == 1
