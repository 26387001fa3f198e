"""The state machine of NodeMaintenanceRequests: when OpenStack is ready for a node to go into maintenance.

Per request, in the order they were created (first come, first served):
- Waiting: the node is over a cap of nodes in maintenance at once for one of its roles, another request holds it,
  or it is not there (yet);
- Disabling: the `disable` Job disables the node's nova-compute service (unless the policy is skip) and its
  neutron agents, so nothing new is scheduled there. Only what ran on the node is acted on (`acts_on`: a compute
  label without a nova-compute pod registered nothing);
- Migrating (policy migrate): the `migrate` Job moves every instance away;
- Ready: OpenStack is ready for the node to go; the request holds its slot until it is deleted;
- Restoring: the request was deleted (maintenance over): the `enable` Job enables what `disable` disabled, then
  the request goes;
- Failed: a Job failed; its message is on the status. The Job is deleted and run again after the retry delay.
Every state is on the request's status and every action is a Job named by action, node and request, so a
restarted process resumes where it was. Pure: the node process feeds it views and carries out its Steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from openstack_operator.core.nodes.jobs import DISABLE, ENABLE, MIGRATE, JobView, job_name
from openstack_operator.core.nodes.inventory import COMPUTE, NETWORK, ROLES, HostEntry, parse_time

WAITING, DISABLING, MIGRATING, READY, RESTORING, FAILED = (
    "Waiting", "Disabling", "Migrating", "Ready", "Restoring", "Failed")
HOLDING = frozenset({DISABLING, MIGRATING, READY, RESTORING, FAILED})  # phases that hold a slot of their roles
STEP_PHASE = {DISABLE: DISABLING, MIGRATE: MIGRATING, ENABLE: RESTORING}
POLICIES = ("migrate", "notify", "skip")


@dataclass(frozen=True)
class Request:
    name: str
    uid: str
    node: str
    created: str
    deleting: bool
    status: Mapping[str, Any]


@dataclass
class Step:
    """What the node process does for one request in this pass."""
    status: dict[str, Any]
    create_job: str | None = None  # the action whose Job is created
    delete_job: str | None = None  # the name of a failed Job deleted for a retry
    release: bool = False  # the request's finalizer goes: nothing (more) to restore
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    recheck: float | None = None  # seconds until this request needs a look without any event


def request_of(body: Mapping[str, Any]) -> Request:
    metadata = body["metadata"]
    return Request(name=metadata["name"], uid=metadata.get("uid", ""), node=body["spec"]["nodeName"],
                   created=metadata.get("creationTimestamp", ""), deleting=bool(metadata.get("deletionTimestamp")),
                   status=dict(body.get("status") or {}))


def acts_on(registered: list[str], policy: str) -> list[str]:
    """The roles the Jobs act on: what registered the host in OpenStack, without nova's under policy skip."""
    return [r for r in registered if r == NETWORK or (r == COMPUTE and policy != "skip")]


def steps_for(acting: list[str], policy: str) -> list[str]:
    return ([DISABLE] if acting else []) + ([MIGRATE] if COMPUTE in acting and policy == "migrate" else [])


def plan(requests: list[Request], hosts: Mapping[str, HostEntry], known_nodes: set[str],
         jobs: Mapping[str, JobView], policy_of: Callable[[str], str], caps: Mapping[str, int], now: float,
         retry_after: float) -> dict[str, Step]:
    """One Step per request: the new status and what to do. `jobs` maps Job names of the namespace to their view."""
    holders: dict[str, list[str]] = {role: [] for role in ROLES}
    held: dict[str, str] = {}  # node -> the request that holds it: one request per node at a time
    for request in requests:
        if request.status.get("phase") in HOLDING:
            held[request.node] = request.name
            for role in request.status.get("roles", []):
                holders.setdefault(role, []).append(request.node)
    steps = {}
    for request in sorted(requests, key=lambda r: (r.created, r.name)):
        status = dict(request.status)
        phase = status.get("phase", "")
        if phase in ("", WAITING) and request.deleting:
            step = Step(status=status, release=True)  # never admitted: nothing to restore
        elif phase in ("", WAITING):
            step = _admit(request, status, hosts, known_nodes, policy_of, caps, holders, held)
            if step.status.get("phase") in STEP_PHASE.values():
                step = _advance(request, step.status, jobs, now, retry_after, step)
        elif request.deleting and phase != RESTORING:
            step = _end(request, status, jobs, now, retry_after)
        else:
            step = _advance(request, status, jobs, now, retry_after, Step(status=status))
        steps[request.name] = step
    return steps


def _admit(request: Request, status: dict[str, Any], hosts: Mapping[str, HostEntry], known_nodes: set[str],
           policy_of: Callable[[str], str], caps: Mapping[str, int], holders: dict[str, list[str]],
           held: dict[str, str]) -> Step:
    if request.node not in known_nodes:
        return Step(status={**status, "phase": WAITING, "message": f"node {request.node} does not exist"})
    if request.node in held:
        return Step(status={**status, "phase": WAITING,
                            "message": f"request {held[request.node]} holds node {request.node}"})
    entry = hosts.get(request.node)
    roles = entry.roles if entry else []
    # a role without a cap (baremetal: its conductors run on the control plane, whose cap counts) takes no slot
    full = [f"{role} ({len(holders[role])}/{caps[role]}: {', '.join(sorted(holders[role]))})"
            for role in roles if role in caps and len(holders[role]) >= caps[role]]
    if full:
        message = f"waiting for a free maintenance slot: {'; '.join(full)}"
        return Step(status={**status, "phase": WAITING, "message": message})
    for role in roles:
        holders[role].append(request.node)
    held[request.node] = request.name
    policy = policy_of(request.node)
    acting = acts_on(entry.registered if entry else [], policy)
    todo = steps_for(acting, policy)
    status = {**status, "roles": roles, "acts_on": acting, "policy": policy, "steps": todo, "attempts": 0}
    if not todo:
        message = "nothing to prepare in OpenStack" + (f" (policy {policy})" if COMPUTE in roles else "")
        return Step(status={**status, "phase": READY, "message": message},
                    events=[("Normal", "MaintenanceReady", f"node {request.node}: {message}")])
    status.update(phase=STEP_PHASE[todo[0]], step=todo[0], message=f"{todo[0]}: starting")
    return Step(status=status)


def _job(request: Request, action: str, jobs: Mapping[str, JobView]) -> tuple[str, JobView | None]:
    name = job_name(action, request.node, request.uid)
    return name, jobs.get(name)


def _advance(request: Request, status: dict[str, Any], jobs: Mapping[str, JobView], now: float,
             retry_after: float, step: Step) -> Step:
    action = status.get("step", "")
    if status.get("phase") not in STEP_PHASE.values() and status.get("phase") != FAILED:
        return step  # Ready: holds its slot until deleted
    name, job = _job(request, action, jobs)
    status["job"] = name
    if job is None:
        status.update(phase=STEP_PHASE[action], message=f"{action}: Job {name} started",
                      attempts=status.get("attempts", 0) + 1)
        return Step(status=status, create_job=action, events=step.events)
    if job.state == "Running":
        status.update(phase=STEP_PHASE[action], message=f"{action}: Job {name} running")
        return Step(status=status, events=step.events)
    if job.state == "Failed":
        return _failed(request, status, name, job, now, retry_after, step)
    return _succeeded(request, status, action, step)


def _failed(request: Request, status: dict[str, Any], name: str, job: JobView, now: float, retry_after: float,
            step: Step) -> Step:
    events = list(step.events)
    if status.get("phase") != FAILED:
        events.append(("Warning", "MaintenanceJobFailed", f"node {request.node}: Job {name} failed; retried in "
                                                          f"{int(retry_after)} s (its pods' logs say why)"))
    status.update(phase=FAILED, message=f"Job {name} failed (attempt {status.get('attempts', 1)}); "
                                        f"retried {int(retry_after)} s after it ended")
    finished = parse_time(job.finished_at) or now
    wait = finished + retry_after - now
    if wait <= 0:
        return Step(status=status, delete_job=name, events=events, recheck=1.0)
    return Step(status=status, events=events, recheck=wait)


def _succeeded(request: Request, status: dict[str, Any], action: str, step: Step) -> Step:
    if action == ENABLE:
        return Step(status={**status, "message": "maintenance over: services enabled again"}, release=True,
                    events=[("Normal", "MaintenanceEnded", f"node {request.node}: services enabled again")])
    todo = status.get("steps", [])
    following = todo[todo.index(action) + 1:] if action in todo else []
    if following:
        status.update(phase=STEP_PHASE[following[0]], step=following[0], attempts=0,
                      message=f"{following[0]}: starting")
        return Step(status=status, events=step.events)
    message = "OpenStack is ready for the node to go"
    events = [("Normal", "MaintenanceReady", f"node {request.node}: {message}")]
    if status.get("policy") == "notify" and COMPUTE in status.get("acts_on", []):
        message += "; its instances were not moved (policy notify): move them before the node goes"
        events = [("Warning", "InstancesNotMoved", f"node {request.node}: {message}")]
    status.update(phase=READY, message=message)
    return Step(status=status, events=events)


def _end(request: Request, status: dict[str, Any], jobs: Mapping[str, JobView], now: float,
         retry_after: float) -> Step:
    """The request was deleted: once no Job of it runs, enable what was disabled (nothing was: it just goes)."""
    action = status.get("step", "")
    if action:
        name, job = _job(request, action, jobs)
        if job is not None and job.state == "Running":
            status["message"] = f"ending: waiting for the {action} Job {name} to finish first"
            return Step(status=status)
    if DISABLE not in status.get("steps", []):
        return Step(status=status, release=True)
    if action != ENABLE:
        status.update(step=ENABLE, attempts=0, phase=RESTORING)
    return _advance(request, status, jobs, now, retry_after, Step(status=status))
