"""A release change rolled out one service at a time, gated on fresh health (core.upgrades.rollout), and what the osdpl
status says about it (core.status.conditions)."""

from __future__ import annotations

import copy
from typing import Any

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.models.bundle import Bundle, BundleSpec
from openstack_operator.core.upgrades.rollout import (COMPLETED, DISABLED, DONE, PENDING, RUNNING, STUCK, UNCHANGED, UPGRADING,
                                             VERIFYING, Step, advance, begin, gate)
from openstack_operator.core.status.conditions import Observed, compute_status
from openstack_operator.core.upgrades.guard import UPGRADE_REFUSED, version_problem

CATALOG = Catalog.load()
RELEASES = list(CATALOG.releases)
T0, T1, T2 = "2026-12-05T10:00:00Z", "2026-12-05T10:00:30Z", "2026-12-05T10:20:00Z"
SERVICES = ["identity", "memcached", "database"]  # deployed, in no particular order


def _spec(service: str, fingerprint: str) -> dict[str, Any]:
    return {"service": service, "releases": [{"name": f"openstack-{service}", "fingerprint": fingerprint,
                                               "timeout_seconds": 600}]}


def _bundle(service: str, fingerprint: str, state: str = "deployed", revision: int = 1) -> dict[str, Any]:
    return {"spec": _spec(service, fingerprint),
            "status": {"releases": {f"openstack-{service}": {"state": state, "fingerprint": fingerprint,
                                                             "revision": revision}}}}


def _specs(desired: dict[str, dict[str, Any]]) -> dict[str, BundleSpec]:
    return {service: BundleSpec.from_api(spec) for service, spec in desired.items()}


def _stored(bundles: dict[str, dict[str, Any]]) -> dict[str, Bundle]:
    return {service: Bundle.from_api(bundle) for service, bundle in bundles.items()}


class Cloud:
    """Bundles as the helmbundle process leaves them (as stored) and health as the health process writes it, per
    service."""

    def __init__(self) -> None:
        self.bundles = {s: _bundle(s, "old") for s in SERVICES}
        self.bundles["memcached"] = _bundle("memcached", "same")  # its rendering is the same in both releases
        self.desired = {s: _spec(s, "new") for s in SERVICES}
        self.desired["memcached"] = _spec("memcached", "same")
        self.health: dict[str, dict[str, dict[str, str]]] = {s: {"api": {"state": "Ready"}} for s in SERVICES}
        self.fresh = True

    def states(self) -> dict[str, Any]:
        result = {}
        for service, spec in self.desired.items():
            if service not in self.bundles:
                continue
            status = self.bundles[service]["status"]["releases"][f"openstack-{service}"]
            fingerprint = spec["releases"][0]["fingerprint"]
            state = "deployed" if status["state"] == "deployed" and status["fingerprint"] == fingerprint else \
                status["state"] if status["state"] == "failed" else "pending"
            result[service] = {f"openstack-{service}": {"state": state, "revision": status["revision"],
                                                        "last_error": status.get("last_error", ""),
                                                        "workloads": [f"{service}/api/Deployment/{service}-api"]}}
        return result

    def look(self, rollout: dict[str, Any], now: str = T0, ordered: bool = True,
             timeouts: dict[str, float] | None = None) -> Step:
        step = advance(rollout, _specs(self.desired), _stored(self.bundles), self.states(), self.health, self.fresh,
                       timeouts or {s: 600.0 for s in SERVICES}, ordered, now)
        for service in step.write:  # what the osdpl process writes: the bundle spec, not yet deployed
            self.bundles[service]["spec"] = copy.deepcopy(self.desired[service])
        return step

    def deploy(self, service: str, state: str = "deployed") -> None:
        """The helmbundle process upgraded the service's release; the health process has not looked yet."""
        status = self.bundles[service]["status"]["releases"][f"openstack-{service}"]
        status.update(state=state, fingerprint=self.desired[service]["releases"][0]["fingerprint"],
                      revision=status["revision"] + 1)
        self.fresh = False


def _start() -> dict[str, Any]:
    rollout = begin({"openstack_version": "epoxy"}, "flamingo", RELEASES, CATALOG.upgrade_order, SERVICES, T0)
    assert rollout is not None
    return rollout


def test_the_catalog_lists_every_service_once_in_upgrade_order() -> None:
    # the infrastructure the OpenStack services rely on first
    assert CATALOG.upgrade_order[:6] == ("database", "messaging", "memcached", "coordination", "redis", "identity")
    assert sorted(CATALOG.upgrade_order) == sorted(CATALOG.services)


def test_a_rollout_begins_only_for_a_release_change_and_goes_in_catalog_order() -> None:
    assert begin({}, "epoxy", RELEASES, CATALOG.upgrade_order, SERVICES, T0) is None  # a new deployment
    assert begin({"openstack_version": "epoxy"}, "epoxy", RELEASES, CATALOG.upgrade_order, SERVICES, T0) is None
    rollout = _start()
    assert (rollout["from"], rollout["to"], rollout["phase"]) == ("epoxy", "flamingo", RUNNING)
    assert rollout["order"] == ["database", "memcached", "identity"]
    assert all(entry == {"phase": PENDING} for entry in rollout["services"].values())


def test_one_service_at_a_time_each_gated_on_fresh_health_and_an_untouched_one_is_left_alone() -> None:
    cloud, rollout = Cloud(), _start()
    step = cloud.look(rollout)
    assert step.write == ("database",) and step.rollout["current"] == "database"
    assert step.rollout["services"]["database"]["phase"] == UPGRADING
    assert step.rollout["services"]["identity"] == {"phase": PENDING}  # not written before database passed
    cloud.deploy("database")
    step = cloud.look(step.rollout)
    # deployed, but the health on the status predates the new revision: it does not count
    assert step.rollout["services"]["database"]["phase"] == VERIFYING and step.write == ("database",)
    cloud.fresh = True
    cloud.health["database"]["api"] = {"state": "Progressing", "reason": "0/1 replicas updated"}
    assert cloud.look(step.rollout).rollout["current"] == "database"
    cloud.health["database"]["api"] = {"state": "Ready"}
    step = cloud.look(step.rollout, T1)
    services = step.rollout["services"]
    assert services["database"]["phase"] == DONE and services["database"]["before"] == {"openstack-database": 1}
    assert services["database"]["after"] == {"openstack-database": 2}
    assert services["memcached"]["phase"] == UNCHANGED  # same rendering: never written
    assert step.write == ("identity",) and services["identity"]["started"] == T1
    cloud.deploy("identity")
    cloud.fresh = True
    step = cloud.look(step.rollout, T2)
    assert step.rollout["phase"] == COMPLETED and step.rollout["finished"] == T2 and step.write == ()
    assert "current" not in step.rollout


def test_a_failed_release_past_the_timeout_or_an_unhealthy_component_stops_the_rollout_and_a_fix_resumes_it() -> None:
    cloud, rollout = Cloud(), _start()
    step = cloud.look(rollout)
    cloud.deploy("database", state="failed")
    cloud.bundles["database"]["status"]["releases"]["openstack-database"]["last_error"] = "timed out"
    assert cloud.look(step.rollout, T1).rollout["phase"] == RUNNING  # the helmbundle process retries it
    step = cloud.look(step.rollout, T2)
    assert step.rollout["phase"] == STUCK
    assert step.rollout["message"] == ("database: not healthy within 600 s: release failed: openstack-database: "
                                       "timed out")
    cloud.deploy("database")
    cloud.fresh = True
    cloud.health["database"]["api"] = {"state": "Unhealthy", "reason": "no progress"}
    step = cloud.look(step.rollout)
    assert step.rollout["message"] == "database: unhealthy: database/api (no progress)"
    assert step.rollout["services"]["identity"] == {"phase": PENDING}  # nothing moves past a stuck service
    cloud.health["database"]["api"] = {"state": "Ready"}
    step = cloud.look(step.rollout, T2)
    assert step.rollout["phase"] == RUNNING and "message" not in step.rollout
    assert step.rollout["current"] == "identity"


def test_while_stuck_a_fix_to_a_service_already_moved_is_written_and_gated_again() -> None:
    cloud, rollout = Cloud(), _start()
    step = cloud.look(rollout)
    cloud.deploy("database")
    cloud.fresh = True
    step = cloud.look(step.rollout, T1)  # database done, identity written
    cloud.deploy("identity")
    cloud.fresh = True
    cloud.health["identity"]["api"] = {"state": "Unhealthy", "reason": "cannot reach the database"}
    step = cloud.look(step.rollout, T1)
    assert step.rollout["phase"] == STUCK
    cloud.desired["database"] = {**cloud.desired["database"], "reapply": "now"}  # a reapply alone re-gates nothing
    assert cloud.look(step.rollout, T1).rollout["services"]["database"]["phase"] == DONE
    cloud.desired["database"] = _spec("database", "fixed")  # what identity needs is a database setting
    step = cloud.look(step.rollout, T2)
    assert step.write == ("database",) and step.rollout["current"] == "database"
    assert step.rollout["services"]["database"]["phase"] == UPGRADING
    assert step.rollout["services"]["database"]["started"] == T0  # its first move
    assert step.rollout["services"]["identity"]["since"] == T2  # its timeout counts again when its turn comes
    # while running, the same change would have waited for the end
    running = {**step.rollout, "phase": RUNNING}
    running["services"] = {**running["services"], "database": {"phase": DONE}}
    cloud.desired["database"] = _spec("database", "again")
    assert "database" not in cloud.look(running, T2).write


def test_a_service_disabled_then_enabled_again_during_the_rollout_is_gated() -> None:
    cloud, rollout = Cloud(), _start()
    removed = cloud.desired.pop("identity")
    step = cloud.look(rollout)
    cloud.deploy("database")
    cloud.fresh = True
    step = cloud.look(step.rollout)
    assert step.rollout["services"]["identity"]["phase"] == DISABLED and step.rollout["phase"] == COMPLETED
    running = {**step.rollout, "phase": RUNNING}  # as if another service were still moving
    cloud.desired["identity"] = removed
    step = cloud.look(running)
    assert step.rollout["services"]["identity"]["phase"] == UPGRADING and step.write == ("identity",)


def test_a_service_disabled_after_it_was_written_is_gated_when_enabled_again() -> None:
    cloud, rollout = Cloud(), _start()
    step = cloud.look(rollout)  # database written
    removed = cloud.desired.pop("database")
    step = cloud.look(step.rollout)
    assert step.rollout["services"]["database"] == {"phase": DISABLED, "finished": T0, "moved": True}
    cloud.desired["database"] = removed  # its bundle holds the new values already: it matches, and is gated
    step = cloud.look(step.rollout)
    assert step.rollout["services"]["database"]["phase"] == UPGRADING


def test_a_service_not_healthy_within_its_timeout_is_stuck_and_a_rewrite_restarts_its_clock() -> None:
    cloud, rollout = Cloud(), _start()
    step = cloud.look(rollout, T0, timeouts={"database": 60})
    assert step.recheck_in == 60
    cloud.deploy("database")
    cloud.fresh = True
    cloud.health["database"]["api"] = {"state": "Progressing", "reason": "0/1"}
    assert cloud.look(step.rollout, T1, timeouts={"database": 60}).recheck_in == 30
    step = cloud.look(step.rollout, T2, timeouts={"database": 60})
    assert step.rollout["phase"] == STUCK
    assert step.rollout["services"]["database"]["message"] == "not healthy within 60 s: not ready: database/api"
    cloud.desired["database"] = _spec("database", "fixed")  # the user's fix, rendered into the moving service
    step = cloud.look(step.rollout, T2, timeouts={"database": 60})
    assert step.rollout["phase"] == RUNNING and step.rollout["services"]["database"]["since"] == T2


def test_a_restart_after_the_step_was_recorded_writes_the_same_service_again_and_skips_none() -> None:
    cloud, rollout = Cloud(), _start()
    recorded = advance(rollout, _specs(cloud.desired), _stored(cloud.bundles), cloud.states(), cloud.health, True,
                       {s: 600.0 for s in SERVICES}, True, T0)  # killed before the bundle was written
    again = cloud.look(recorded.rollout)
    assert again.write == ("database",) and again.rollout["services"]["database"]["phase"] == UPGRADING
    assert again.rollout["services"]["database"]["started"] == T0


def test_other_changes_wait_for_the_end_and_all_at_once_moves_every_service() -> None:
    cloud, rollout = Cloud(), _start()
    step = cloud.look(rollout, ordered=False)
    assert step.write == ("database", "identity") and step.rollout["current"] == "database, identity"
    cloud.desired["memcached"] = _spec("memcached", "user-change")
    cloud.desired["dashboard"] = _spec("dashboard", "new")  # enabled meanwhile
    step = cloud.look(step.rollout, ordered=False)
    assert step.rollout["waiting"] == ["dashboard", "memcached"] and "memcached" not in step.write
    del cloud.desired["identity"]  # disabled meanwhile: retired at the end
    step = cloud.look(step.rollout, ordered=False)
    assert step.rollout["services"]["identity"]["phase"] == DISABLED


def test_naming_the_release_it_came_from_turns_the_rollout_back_for_the_services_already_moved() -> None:
    cloud, rollout = Cloud(), _start()
    step = cloud.look(rollout)
    cloud.deploy("database")
    cloud.fresh = True
    moved = cloud.look(step.rollout, T1).rollout
    back = begin({"openstack_version": "epoxy", "upgrade": moved}, "epoxy", RELEASES, CATALOG.upgrade_order,
                 SERVICES, T2)
    assert back is not None and (back["from"], back["to"]) == ("flamingo", "epoxy")
    assert back["order"] == ["identity", "memcached", "database"]
    # identity was written for flamingo but its release never left epoxy: written back, it passes at once; then
    # database, which runs flamingo, moves back. memcached never changed.
    cloud.desired = {s: _spec(s, "old") for s in SERVICES}
    cloud.desired["memcached"] = _spec("memcached", "same")
    step = cloud.look(back, T2)
    assert step.write == ("identity", "database") and step.rollout["current"] == "database"
    assert step.rollout["services"]["identity"]["phase"] == DONE
    assert step.rollout["services"]["memcached"]["phase"] == UNCHANGED
    assert begin({"openstack_version": "epoxy", "upgrade": moved}, "flamingo", RELEASES, CATALOG.upgrade_order,
                 SERVICES, T2) == moved  # the same release again: the same rollout
    # Turned round again before identity's way back was written: it is gated although its bundle matches.
    again = begin({"openstack_version": "epoxy", "upgrade": step.rollout}, "flamingo", RELEASES,
                  CATALOG.upgrade_order, SERVICES, T2)
    assert again is not None and again["services"]["identity"] == {"phase": PENDING, "moved": True}
    assert again["services"]["memcached"] == {"phase": PENDING}


def test_while_a_rollout_runs_the_spec_may_name_only_its_two_ends() -> None:
    status = {"openstack_version": "epoxy", "upgrade": {**_start(), "current": "identity"}}
    assert version_problem(CATALOG, "flamingo", status) is None
    assert version_problem(CATALOG, "epoxy", status) is None
    reason, message = version_problem(CATALOG, "gazpacho", status) or ("", "")
    assert reason == UPGRADE_REFUSED
    assert message == ("spec.openstack_version: gazpacho: the rollout epoxy -> flamingo has not finished (identity); "
                       "the spec may name flamingo to finish it or epoxy to go back")


def test_the_status_says_upgrading_then_stuck_naming_the_service_and_keeps_the_release_that_runs() -> None:
    rollout = {**_start(), "current": "identity"}
    rollout["services"]["database"] = {"phase": DONE}
    observed = Observed(generation=5, reconciled_generation=5, draft=False, openstack_version="flamingo",
                        desired={}, bundles={}, upgrade=rollout, previous={"openstack_version": "epoxy"})
    status = compute_status(observed, T0)
    ready, progressing, degraded, stalled = status["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "Upgrading")
    assert ready["message"] == "upgrading epoxy -> flamingo: identity (1/3 services done)"
    assert (progressing["status"], degraded["status"], stalled["status"]) == ("True", "False", "False")
    assert status["openstack_version"] == "epoxy" and status["upgrade"] == rollout
    stuck = {**rollout, "phase": STUCK, "message": "identity: unhealthy: keystone/api (no progress)"}
    status = compute_status(Observed(generation=5, reconciled_generation=5, draft=False, openstack_version="flamingo",
                                     desired={}, bundles={}, upgrade=stuck, previous={"openstack_version": "epoxy"}),
                            T0)
    ready, progressing, degraded, stalled = status["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "UpgradeStuck")
    assert (stalled["status"], stalled["reason"]) == ("True", "UpgradeStuck")  # kstatus: failed, not in progress
    assert (progressing["status"], progressing["reason"]) == ("False", "UpgradeStuck")
    assert (degraded["status"], degraded["reason"]) == ("True", "UpgradeStuck")
    assert degraded["message"] == "the upgrade to flamingo stopped at identity: unhealthy: keystone/api (no progress)"


def test_a_look_that_did_not_advance_the_rollout_neither_reports_ready_nor_moves_the_release() -> None:
    # e.g. a write the API server refused: the status is computed from the bundles, all deployed at their values
    bundles = {"identity": Bundle.from_api(_bundle("identity", "old"))}
    observed = Observed(generation=5, reconciled_generation=5, draft=False, openstack_version="flamingo",
                        desired={"identity": {"openstack-identity": "old"}}, bundles=bundles,
                        api_error=("Conflict", "the object was modified"),
                        previous={"openstack_version": "epoxy", "upgrade": _start()})
    status = compute_status(observed, T0)
    assert status["openstack_version"] == "epoxy" and "upgrade" not in status


def test_a_gate_counts_every_component_of_the_service_applications() -> None:
    releases = {"openstack-nova": {"state": "deployed", "workloads": ["nova/api/Deployment/nova-api"]}}
    health = {"nova": {"api": {"state": "Ready"}, "db-sync": {"state": "Unhealthy", "reason": "Job failed"}},
              "glance": {"api": {"state": "Unhealthy", "reason": "not this service's"}}}
    assert gate(releases, health, True).problem == "unhealthy: nova/db-sync (Job failed)"
    health["nova"]["db-sync"] = {"state": "Ready"}
    assert gate(releases, health, True).passed
    assert not gate(releases, health, False).passed  # health of before the change
