"""What happens to a deleted Node that ran OpenStack services of a deployment: the deployment's cleanup finalizer
keeps the Node until the `cleanup` Job removed the host from the OpenStack APIs (or the user skipped it), a failed
Job is run again after the retry delay, and each result is recorded. A NotReady node is never cleaned up: only the
deletion of the Node object starts this. Pure: the node process carries out the Actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from openstack_operator.core.nodes.jobs import CLEANUP, JobView, job_name
from openstack_operator.core.nodes.inventory import NodeView, parse_time

RUNNING, FAILED, CLEANED, SKIPPED = "Running", "Failed", "Cleaned", "Skipped"


@dataclass
class Removal:
    node: str
    state: dict[str, Any]  # the node's entry in status.nodes.removals
    create_job: bool = False
    delete_job: str | None = None
    release: bool = False  # the finalizer goes
    result: str = ""  # Cleaned or Skipped once released
    events: list[tuple[str, str, str]] = field(default_factory=list)
    recheck: float | None = None


def plan_removals(finalizer: str, nodes: list[NodeView], jobs: Mapping[str, JobView],
                  previous: Mapping[str, Mapping[str, Any]], now: float, retry_after: float) -> list[Removal]:
    """One Removal per deleted node that holds this deployment's finalizer; `previous` is status.nodes.removals."""
    removals = []
    for node in nodes:
        if not node.deleting or finalizer not in node.finalizers:
            continue
        state = dict(previous.get(node.name) or {"attempts": 0})
        name = job_name(CLEANUP, node.name, node.uid)
        state["job"] = name
        if node.skip_cleanup:
            removals.append(Removal(node.name, state, release=True, result=SKIPPED, events=[
                ("Warning", "NodeCleanupSkipped", f"node {node.name} removed without the OpenStack cleanup, as "
                                                  "its skip-cleanup annotation asks: its services may remain")]))
            continue
        job = jobs.get(name)
        if job is None:
            state.update(state=RUNNING, attempts=state.get("attempts", 0) + 1, message=f"Job {name} started")
            removals.append(Removal(node.name, state, create_job=True))
        elif job.state == "Running":
            state.update(state=RUNNING, message=f"Job {name} running")
            removals.append(Removal(node.name, state))
        elif job.state == "Succeeded":
            removals.append(Removal(node.name, state, release=True, result=CLEANED, events=[
                ("Normal", "NodeCleanedUp", f"node {node.name}: its services and agents are removed from OpenStack")]))
        else:
            removals.append(_failed(node.name, state, name, job, now, retry_after))
    return removals


def _failed(node: str, state: dict[str, Any], name: str, job: JobView, now: float, retry_after: float) -> Removal:
    events = []
    if state.get("state") != FAILED:
        events.append(("Warning", "NodeCleanupFailed", f"node {node}: cleanup Job {name} failed (attempt "
                                                       f"{state.get('attempts', 1)}); retried in {int(retry_after)} s"))
    state.update(state=FAILED, message=f"Job {name} failed (attempt {state.get('attempts', 1)}); retried "
                                       f"{int(retry_after)} s after it ended, or skip it with the annotation")
    wait = (parse_time(job.finished_at) or now) + retry_after - now
    if wait <= 0:
        return Removal(node, state, delete_job=name, events=events, recheck=1.0)
    return Removal(node, state, events=events, recheck=wait)
