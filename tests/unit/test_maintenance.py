"""The maintenance state machine (core.nodes.maintenance) and the removal plan (core.nodes.removal), step by step."""

from __future__ import annotations

from typing import Any, Mapping

from openstack_operator.core.nodes.maintenance import Request, Step, acts_on, plan, steps_for
from openstack_operator.core.nodes.jobs import JobView, job_name
from openstack_operator.core.nodes.inventory import HostEntry, NodeView
from openstack_operator.core.nodes.removal import plan_removals

CAPS = {"compute": 1, "network": 2, "control-plane": 1}
BOTH = ["compute", "network"]
HOSTS = {"cmp-0": HostEntry(roles=BOTH, registered=BOTH), "cmp-1": HostEntry(roles=BOTH, registered=BOTH),
         "ctl-0": HostEntry(roles=["network", "control-plane"], registered=["network"]),
         "ctl-1": HostEntry(roles=["control-plane"]),
         "new-0": HostEntry(roles=["compute"])}  # labelled, nothing ran there yet
NODES = set(HOSTS) | {"bare-0"}


def _request(name: str, node: str, created: str = "2026-01-01T00:00:00Z", status: Mapping[str, Any] | None = None,
             deleting: bool = False) -> Request:
    return Request(name=name, uid=f"uid-{name}", node=node, created=created, deleting=deleting,
                   status=dict(status or {}))


def _plan(requests: list[Request], jobs: Mapping[str, JobView] | None = None, policy: str = "migrate",
          now: float = 1000.0) -> dict[str, Step]:
    return plan(requests, HOSTS, NODES, jobs or {}, lambda node: policy, CAPS, now, retry_after=60)


def _job(request: Request, action: str) -> str:
    return job_name(action, request.node, request.uid)


def test_steps_follow_what_ran_there_and_the_policy() -> None:
    assert acts_on(BOTH, "migrate") == BOTH and acts_on(BOTH, "skip") == ["network"]
    assert steps_for(BOTH, "migrate") == ["disable", "migrate"]
    assert steps_for(BOTH, "notify") == ["disable"]
    assert steps_for(acts_on(["compute"], "skip"), "skip") == []
    assert steps_for(acts_on(BOTH, "skip"), "skip") == ["disable"]  # the agents are disabled still, nova is not
    assert steps_for([], "migrate") == []


def test_a_request_runs_disable_then_migrate_then_is_ready() -> None:
    request = _request("a", "cmp-0")
    step = _plan([request])["a"]
    assert (step.status["phase"], step.create_job, step.status["roles"], step.status["acts_on"]) == (
        "Disabling", "disable", BOTH, BOTH)
    request = _request("a", "cmp-0", status=step.status)
    assert _plan([request], {_job(request, "disable"): JobView("Running", "")})["a"].create_job is None
    step = _plan([request], {_job(request, "disable"): JobView("Succeeded", "t")})["a"]
    request = _request("a", "cmp-0", status=step.status)
    step = _plan([request], {_job(request, "disable"): JobView("Succeeded", "t")})["a"]
    assert (step.status["phase"], step.create_job) == ("Migrating", "migrate")
    request = _request("a", "cmp-0", status=step.status)
    step = _plan([request], {_job(request, "migrate"): JobView("Succeeded", "t")})["a"]
    assert step.status["phase"] == "Ready" and step.events[0][1] == "MaintenanceReady"


def test_a_second_request_waits_for_the_cap_first_come_first_served() -> None:
    later = _request("b", "cmp-1", created="2026-01-01T00:00:05Z")
    earlier = _request("a", "cmp-0")
    steps = _plan([later, earlier])
    assert steps["a"].status["phase"] == "Disabling"
    assert steps["b"].status["phase"] == "Waiting" and steps["b"].create_job is None
    assert steps["b"].status["message"] == "waiting for a free maintenance slot: compute (1/1: cmp-0)"


def test_a_ready_request_holds_its_slot_until_it_is_deleted() -> None:
    ready = _request("a", "cmp-0", status={"phase": "Ready", "roles": ["compute", "network"],
                                            "steps": ["disable", "migrate"], "step": "migrate"})
    waiting = _request("b", "cmp-1", created="2026-01-01T00:00:05Z", status={"phase": "Waiting"})
    assert _plan([ready, waiting])["b"].status["phase"] == "Waiting"
    # a control-plane node shares no role with it
    other = _request("c", "ctl-1", created="2026-01-01T00:00:06Z")
    assert _plan([ready, waiting, other])["c"].status["phase"] == "Ready"


def test_the_end_of_maintenance_enables_again_then_releases() -> None:
    status = {"phase": "Ready", "roles": ["compute", "network"], "steps": ["disable", "migrate"], "step": "migrate"}
    request = _request("a", "cmp-0", status=status, deleting=True)
    step = _plan([request], {_job(request, "migrate"): JobView("Succeeded", "t")})["a"]
    assert (step.status["phase"], step.create_job, step.release) == ("Restoring", "enable", False)
    request = _request("a", "cmp-0", status=step.status, deleting=True)
    step = _plan([request], {_job(request, "enable"): JobView("Succeeded", "t")})["a"]
    assert step.release and step.events[0][1] == "MaintenanceEnded"


def test_a_deleted_request_waits_for_its_running_job_before_enabling() -> None:
    status = {"phase": "Migrating", "roles": ["compute"], "steps": ["disable", "migrate"], "step": "migrate"}
    request = _request("a", "cmp-0", status=status, deleting=True)
    step = _plan([request], {_job(request, "migrate"): JobView("Running", "")})["a"]
    assert step.create_job is None and not step.release and "waiting for the migrate Job" in step.status["message"]


def test_a_request_never_served_or_with_nothing_to_do_goes_at_once() -> None:
    assert _plan([_request("a", "cmp-0", status={"phase": "Waiting"}, deleting=True)])["a"].release
    step = _plan([_request("a", "ctl-1")])["a"]
    assert step.status["phase"] == "Ready" and step.status["steps"] == []
    skip = _plan([_request("s", "cmp-0")], policy="skip")["s"]
    assert skip.status["steps"] == ["disable"] and skip.status["acts_on"] == ["network"]  # nova untouched
    labelled = _plan([_request("n", "new-0")])["n"]  # holds a compute slot, but nothing registered: no Job
    assert labelled.status["phase"] == "Ready" and labelled.status["roles"] == ["compute"] and not labelled.create_job


def test_one_request_per_node_at_a_time() -> None:
    first = _request("a", "cmp-0", status={"phase": "Ready", "roles": BOTH, "steps": ["disable"], "step": "disable"})
    second = _request("b", "cmp-0", created="2026-01-01T00:00:05Z")
    step = plan([first, second], HOSTS, NODES, {}, lambda node: "migrate", {**CAPS, "compute": 5, "network": 5},
                1000.0, 60)["b"]
    assert step.status == {"phase": "Waiting", "message": "request a holds node cmp-0"}


def test_notify_disables_and_says_the_instances_stay() -> None:
    request = _request("a", "cmp-0", status={"phase": "Disabling", "roles": BOTH, "acts_on": BOTH,
                                             "policy": "notify", "steps": ["disable"], "step": "disable"})
    step = _plan([request], {_job(request, "disable"): JobView("Succeeded", "t")}, policy="notify")["a"]
    assert step.status["phase"] == "Ready" and "not moved (policy notify)" in step.status["message"]
    assert step.events[0][:2] == ("Warning", "InstancesNotMoved")


def test_a_node_that_does_not_exist_waits() -> None:
    assert _plan([_request("a", "typo-0")])["a"].status == {"phase": "Waiting",
                                                            "message": "node typo-0 does not exist"}


def test_a_failed_job_is_failed_then_deleted_for_a_retry_after_the_delay() -> None:
    status = {"phase": "Disabling", "roles": ["compute"], "steps": ["disable"], "step": "disable", "attempts": 1}
    request = _request("a", "cmp-0", status=status)
    name = _job(request, "disable")
    ended = "1970-01-01T00:16:30Z"  # 990 s
    step = _plan([request], {name: JobView("Failed", ended)}, now=1000.0)["a"]
    assert step.status["phase"] == "Failed" and step.delete_job is None and step.recheck == 50.0
    assert step.events[0][1] == "MaintenanceJobFailed"
    step = _plan([_request("a", "cmp-0", status=step.status)], {name: JobView("Failed", ended)}, now=1051.0)["a"]
    assert step.delete_job == name and not step.events  # reported once
    step = _plan([_request("a", "cmp-0", status=step.status)], {}, now=1052.0)["a"]
    assert (step.status["phase"], step.create_job, step.status["attempts"]) == ("Disabling", "disable", 2)


def _node(name: str, deleting: bool = True, finalizers: tuple[str, ...] = ("cleanup.openstack.osop.dev/ns",),
          skip: bool = False) -> NodeView:
    return NodeView(name=name, uid=f"uid-{name}", labels={}, ready=True, ready_since="", deleting=deleting,
                    finalizers=finalizers, skip_cleanup=skip, resource_version="1")


FINALIZER = "cleanup.openstack.osop.dev/ns"


def test_a_deleted_node_with_the_finalizer_gets_a_cleanup_job_then_is_released() -> None:
    node = _node("cmp-0")
    name = job_name("cleanup", "cmp-0", "uid-cmp-0")
    [removal] = plan_removals(FINALIZER, [node, _node("cmp-1", deleting=False), _node("x", finalizers=())], {},
                              {}, 1000.0, 60)
    assert removal.create_job and removal.state == {"state": "Running", "attempts": 1, "job": name,
                                                    "message": f"Job {name} started"}
    [removal] = plan_removals(FINALIZER, [node], {name: JobView("Succeeded", "t")}, {"cmp-0": removal.state},
                              1000.0, 60)
    assert removal.release and removal.result == "Cleaned"


def test_a_failed_cleanup_is_retried_and_skip_releases_without_a_job() -> None:
    node = _node("cmp-0")
    name = job_name("cleanup", "cmp-0", "uid-cmp-0")
    [removal] = plan_removals(FINALIZER, [node], {name: JobView("Failed", "1970-01-01T00:16:40Z")},
                              {"cmp-0": {"state": "Running", "attempts": 1}}, 1000.0, 60)
    assert removal.state["state"] == "Failed" and not removal.release and removal.recheck == 60.0
    [removal] = plan_removals(FINALIZER, [node], {name: JobView("Failed", "1970-01-01T00:16:40Z")},
                              {"cmp-0": removal.state}, 1061.0, 60)
    assert removal.delete_job == name
    [removal] = plan_removals(FINALIZER, [node], {}, {"cmp-0": removal.state}, 1062.0, 60)
    assert removal.create_job and removal.state["attempts"] == 2
    [skipped] = plan_removals(FINALIZER, [_node("cmp-0", skip=True)], {}, {}, 1000.0, 60)
    assert skipped.release and skipped.result == "Skipped" and not skipped.create_job
