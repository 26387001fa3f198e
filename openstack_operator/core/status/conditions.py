"""The osdpl's status from what the operator knows: desired releases, bundle statuses, generation, and the
workload health the health process wrote on the osdpl (`status.health`, read back from `previous` through
core.models.osdpl_status.HealthView). Pure.

One reason is the osdpl's verdict (Ready's); the table of reasons (core.status.reasons) says what it sets on
Progressing, Degraded and Stalled, so GitOps tools read every state the same way (docs/gitops.md).

The status writer compares the result with the stored status and patches only differences, so calling this on
every event costs no API write unless something a user can see changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from openstack_operator.core.health.workloads import PROGRESSING, UNHEALTHY, health_progress, not_ready
import datetime

from openstack_operator.core.models.osdpl_status import CephView, CertificateView, HealthView
from openstack_operator.core.models.bundle import NOT_RECORDED, Bundle, ReleaseStatus
from openstack_operator.core.releases.helmwork import CHART_UNAVAILABLE, UNINSTALL_TARGET
from openstack_operator.core.releases.summaries import STATE_REPORTS, report_problem
from openstack_operator.core.status.merge import status_patch as status_patch  # still importable from here
from openstack_operator.core.status import reasons
from openstack_operator.core.status.reasons import meaning
from openstack_operator.core.upgrades.rollout import COMPLETED, STUCK, UPGRADE_STUCK, active, summary

# Stalled: kstatus's "abnormal-true" condition (Flux and kpt read it): True when nothing moves until a person acts.
CONDITION_TYPES = ("Ready", "Progressing", "Degraded", "Stalled")
MAX_LISTED = 10  # entries named in a condition message; the rest are counted
MAX_PROBLEMS = 5  # problems of a spec named in a condition or Event; the rest are counted
# A condition's or Event's message is cut to this: a spec error may list hundreds of problems, each quoting a value.
MAX_MESSAGE_CHARS = 2048


@dataclass(frozen=True)
class Observed:
    generation: int
    reconciled_generation: int | None  # the generation whose bundles were last written, None before any
    draft: bool
    openstack_version: str
    desired: Mapping[str, Mapping[str, str]]  # service -> release -> fingerprint
    bundles: Mapping[str, Bundle]  # service -> bundle (spec, status)
    spec_error: str = ""  # set when the spec cannot be rendered
    # (reason, message) when the release change is not acted on (core.upgrades.guard): nothing was written
    upgrade_held: tuple[str, str] | None = None
    deleting: bool = False  # the osdpl is being deleted: releases are being uninstalled
    blocked_by: str = ""  # another osdpl holds the namespace: this one changes nothing (core.releases.bundles.namespace_holder)
    api_error: tuple[str, str] | None = None  # (reason, message) of a write the API server refused
    # (reason, message) when the secrets process has not vetted the credentials: WaitingForCredentials (not created
    # yet) or CredentialsLost (the Secret lost what the cloud uses); nothing was written
    credentials_problem: tuple[str, str] | None = None
    applied_credentials: int | None = None  # the credentials revision the bundles were written with
    upgrade: Mapping[str, Any] | None = None  # the release change rolling out (core.upgrades.rollout), None: none in this look
    previous: Mapping[str, Any] = field(default_factory=dict)  # current osdpl status


def _release_view(status: ReleaseStatus) -> dict[str, Any]:
    shown = (("state", status.state), ("reason", status.reason), ("revision", status.revision),
             ("chart_version", status.chart_version), ("attempts", status.attempts), ("last_error", status.last_error),
             ("workloads", list(status.workloads) if status.workloads is not None else None),
             ("summary", dict(status.summary) if status.summary is not None else None))
    view = {k: value for k, value in shown if value not in (None, "", [])}
    if status.state == "failed" and status.next_attempt_at is not None:
        view["next_attempt"] = _timestamp(status.next_attempt_at)
    return view


def _timestamp(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def children(observed: Observed) -> dict[str, Any]:
    return release_states(observed.desired, observed.bundles)


def release_states(desired: Mapping[str, Mapping[str, str]], bundles: Mapping[str, Bundle]) -> dict[str, Any]:
    """service -> release -> its state as `status.children` shows it: `deployed` only at the `desired` fingerprint."""
    result = {}
    for service, releases in desired.items():
        bundle = bundles.get(service)
        view = {}
        for name, fingerprint in releases.items():
            status = bundle.release_status(name) if bundle is not None else NOT_RECORDED
            entry = _release_view(status) or {"state": "pending"}
            if status.state in ("installing", "uninstalling") and status.last_error:
                entry["state"] = "failed"  # a retry in flight: still failing until it succeeds (no flapping)
            if status.state == "deployed" and status.fingerprint != fingerprint:
                entry["state"] = "pending"  # deployed, but an older version of the values
            if status.state == "failed" and status.target not in (fingerprint, UNINSTALL_TARGET):
                entry = {"state": "pending"}  # failed with values no longer wanted: the new ones are on their way
            view[name] = entry
        result[service] = view
    return result


def condition(previous: Mapping[str, Any], kind: str, status: bool, reason: str, message: str,
              generation: int, now: str) -> dict[str, Any]:
    """Condition `kind` in the standard shape; its transition time stays while its status does."""
    old: Mapping[str, Any] = next((c for c in previous.get("conditions", []) if c.get("type") == kind), {})
    value = "True" if status else "False"
    return {"type": kind, "status": value, "reason": reason, "message": bounded(message),
            "lastTransitionTime": old.get("lastTransitionTime", now) if old.get("status") == value else now,
            "observedGeneration": generation}


def bounded(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`message` cut to `limit` characters, saying how many were left out."""
    if len(message) <= limit:
        return message
    cut = limit - 40  # room for the suffix
    return message[:cut] + f"... ({len(message) - cut} more characters)"


def problems_message(problems: Sequence[str]) -> str:
    """Of the first MAX_PROBLEMS problems of a spec, as many whole as fit in MAX_MESSAGE_CHARS (at least the first,
    cut if it alone is too long), then how many more there are: the count is never what the limit cuts off."""
    shown: list[str] = []
    for problem in problems[:MAX_PROBLEMS]:
        rest = len(problems) - len(shown) - 1
        if shown and len("; ".join([*shown, problem]) + _more_problems(rest)) > MAX_MESSAGE_CHARS:
            break
        shown.append(problem)
    suffix = _more_problems(len(problems) - len(shown))
    return bounded("; ".join(shown), MAX_MESSAGE_CHARS - len(suffix)) + suffix


def _more_problems(count: int) -> str:
    return f"; and {count} more problems" if count > 0 else ""


def _listing(items: list[str], separator: str = ", ") -> str:
    shown = separator.join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


@dataclass(frozen=True)
class _Facts:
    """What the conditions are decided from, gathered once from the observation."""
    kids: dict[str, Any]
    health: HealthView
    health_current: bool
    unhealthy: list[str]
    starting: list[str]
    deployed: list[str]
    unavailable: list[str]
    failed: list[str]
    waiting: list[str]
    reporting: list[str]  # deployed releases whose Job report the next render needs and that have none usable yet
    moving: bool  # a release not deployed is on its way (not failed): the helmbundle process works on it
    uninstalling: list[str]
    current: bool
    upgrade: Mapping[str, Any] | None
    rolling: bool
    stuck: bool
    all_done: bool


def _facts(observed: Observed) -> _Facts:
    kids = children(observed)
    previous = observed.previous
    health = HealthView.of(previous)  # the health process's section
    # The health on the osdpl counts only once the health process has checked the current releases' workloads:
    # until then it may describe workloads of values that were replaced since.
    health_current = health.checked(kids)
    deployed = [s for s, releases in kids.items() if all(r["state"] == "deployed" for r in releases.values())]
    waiting = [s for s in kids if s not in deployed]
    current = observed.reconciled_generation == observed.generation
    reporting = [f"{service}/{release.name}: {problem}" for service, bundle in observed.bundles.items()
                 if service in deployed for release in bundle.spec.releases if release.chart in STATE_REPORTS
                 if (problem := report_problem(bundle.release_status(release.name).summary))]
    # A look that did not advance the rollout (a refused write, a held change) still reports the one on the status.
    upgrade = observed.upgrade if observed.upgrade is not None else previous.get("upgrade")
    rolling = active(upgrade)
    # Nothing of this look may count as done: a refusal, a pause or a deletion says so instead (and the release that
    # runs stays what the status says).
    held = bool(observed.spec_error or observed.deleting or observed.upgrade_held or observed.api_error
                or observed.credentials_problem or observed.draft)
    return _Facts(
        kids=kids, health=health, health_current=health_current,
        unhealthy=not_ready(health.health, UNHEALTHY, reasons=True) if health_current else [],
        # Names only: a rollout's counts change every few seconds and would rewrite the conditions each time.
        starting=not_ready(health.health, PROGRESSING, reasons=False) if health_current else [],
        deployed=deployed,
        # Charts that could not be fetched or verified come first and set the Degraded reason: the chart source
        # needs fixing, not the manifest. They are retried without limit, so they never count as exhausted.
        unavailable=[f"{s}/{name}: {r.get('last_error', 'chart unavailable')}" for s, releases in kids.items()
                     for name, r in releases.items()
                     if r["state"] == "failed" and r.get("reason") == CHART_UNAVAILABLE],
        failed=[f"{s}/{name}: {r.get('last_error', 'failed')}" for s, releases in kids.items()
                for name, r in releases.items() if r["state"] == "failed" and r.get("reason") != CHART_UNAVAILABLE],
        waiting=waiting,
        reporting=reporting,
        moving=any(r["state"] not in ("deployed", "failed") for s in waiting for r in kids[s].values()),
        uninstalling=[s for s, releases in kids.items()
                      if any(r["state"] != "uninstalled" for r in releases.values())],
        current=current, upgrade=upgrade, rolling=rolling,
        stuck=rolling and (upgrade or {}).get("phase") == STUCK,
        all_done=current and not waiting and not reporting and not held and not rolling)


@dataclass(frozen=True)
class Verdict:
    """The osdpl's one reason (core.status.reasons) and the messages of the conditions it sets: `progressing` and
    `degraded` when they differ from Ready's `message`."""
    reason: str
    message: str
    progressing: str = ""
    degraded: str = ""


def _refusal(observed: Observed) -> Verdict | None:
    """What stops this look before any work: a deletion, a pause, a spec or write refused, missing credentials."""
    if observed.deleting:
        return None  # _work says what is left to uninstall
    if observed.draft:
        return Verdict(reasons.DRAFT, "spec.draft is true: changes are paused")
    if observed.spec_error:
        return Verdict(reasons.INVALID_SPEC, observed.spec_error)
    if observed.upgrade_held:  # nothing moves until the spec names a release that can follow
        return Verdict(*observed.upgrade_held)
    if observed.api_error:
        reason, message = observed.api_error  # retried with backoff; a refusal needs a person (stalled), a 5xx not
        return Verdict(reason, message, progressing="the API server refused a write; retried with backoff")
    if observed.credentials_problem:
        reason, message = observed.credentials_problem
        return Verdict(reason, message, progressing="no release is changed until the credentials are restored"
                       if reason == reasons.CREDENTIALS_LOST else "")
    return None


def _work(observed: Observed, f: _Facts) -> Verdict:
    """Where the work of the current generation stands."""
    if observed.deleting:
        return Verdict(reasons.DELETING, "the deployment is being deleted", progressing="uninstalling: " +
                       ", ".join(f.uninstalling) if f.uninstalling else "finishing")
    if f.stuck:  # as a Deployment past its progress deadline: nothing moves until the service is fixed
        return Verdict(UPGRADE_STUCK, "upgrade stopped at " + summary(f.upgrade or {}),
                       degraded=f"the upgrade to {(f.upgrade or {}).get('to')} stopped at "
                                f"{(f.upgrade or {}).get('message')}")
    if f.rolling:
        return Verdict(reasons.UPGRADING, "upgrading " + summary(f.upgrade or {}))
    if f.all_done:
        return _done(f)
    if not f.current:
        return Verdict(reasons.RECONCILING, f"generation {observed.generation} not applied yet",
                       progressing="applying spec")
    if not f.moving and f.unavailable:  # retried, but nothing else moves: the chart source needs fixing
        return Verdict(CHART_UNAVAILABLE, "chart not available: " + _listing(f.unavailable, "; "),
                       degraded=_listing(f.unavailable + f.failed, "; "))
    if not f.moving and f.failed:
        return Verdict(reasons.RELEASE_FAILED, "failed: " + _listing(f.failed, "; "), degraded="; ".join(f.failed))
    if not f.waiting and f.reporting:
        return Verdict(reasons.DEPLOYING, "waiting for a Job's report: " + _listing(f.reporting, "; "),
                       progressing="reading the reports of: " + _listing(f.reporting, "; "))
    return Verdict(reasons.DEPLOYING, "not deployed: " + ", ".join(f.waiting),
                   progressing="working on: " + ", ".join(f.waiting))


def _done(f: _Facts) -> Verdict:
    """Every release deployed at this generation's values: where their workloads stand."""
    if not f.health_current:
        return Verdict(reasons.HEALTH_PENDING, "waiting for the health process to check the workloads of the "
                                               "releases", progressing="checking workload health")
    if f.unhealthy:
        return Verdict(reasons.WORKLOADS_UNHEALTHY, "unhealthy: " + _listing(f.unhealthy))
    if f.starting:
        return Verdict(reasons.WORKLOADS_PROGRESSING, "not ready yet: " + _listing(f.starting),
                       progressing="rolling out: " + _listing(f.starting))
    return Verdict(reasons.DEPLOYED,
                   f"{len(f.deployed)} services deployed, {health_progress(f.health.health)} components ready",
                   progressing="nothing to do")


def _beside(observed: Observed, f: _Facts) -> tuple[str, str] | None:
    """A problem that degrades the deployment beside a verdict that does not say so."""
    if observed.api_error and meaning(observed.api_error[0]).degraded:  # while deleting: a refusal, not a 5xx
        return observed.api_error
    if f.unavailable:
        return CHART_UNAVAILABLE, _listing(f.unavailable + f.failed, "; ")
    if f.failed:
        return reasons.RELEASE_FAILED, "; ".join(f.failed)
    if f.unhealthy:
        return reasons.WORKLOADS_UNHEALTHY, "unhealthy: " + _listing(f.unhealthy)
    if (ceph := CephView.of(observed.previous)).state == "Invalid":  # the copy in use stays; a new one waits
        return reasons.CEPH_KEYS_INVALID, ceph.message
    if (certificate := CertificateView.of(observed.previous)).state == "Invalid":  # the Gateway's; releases fine
        return reasons.CERTIFICATE_INVALID, certificate.message
    return None


Verdicts = tuple[tuple[bool, str, str], ...]  # each condition's status, reason and message, as CONDITION_TYPES


def verdicts(verdict: Verdict, beside: tuple[str, str] | None) -> Verdicts:
    """The conditions of `verdict`, as the table of reasons says; Degraded names `beside` where the verdict does not
    degrade."""
    row = meaning(verdict.reason)
    if row.degraded:
        degraded = (True, verdict.reason, verdict.degraded or verdict.message)
    elif beside is not None:
        degraded = (True, *beside)
    else:
        degraded = (False, reasons.AS_EXPECTED, "")
    return ((bool(row.ready), verdict.reason, verdict.message),
            (bool(row.progressing), verdict.reason, verdict.progressing or verdict.message),
            degraded,
            (True, verdict.reason, verdict.message) if row.stalled else (False, reasons.AS_EXPECTED, ""))


def compute_status(observed: Observed, now: str) -> dict[str, Any]:
    """The osdpl process's section of the status, from what it observed."""
    if observed.blocked_by:
        taken = (f"namespace already holds the deployment {observed.blocked_by}: one OpenStackDeployment per "
                 f"namespace; this one changes nothing while {observed.blocked_by} exists")
        return _blocked_status(observed, taken, now)
    f = _facts(observed)
    previous = observed.previous
    verdict = _refusal(observed) or _work(observed, f)
    conditions = [condition(previous, kind, *value, observed.generation, now)
                  for kind, value in zip(CONDITION_TYPES, verdicts(verdict, _beside(observed, f)))]
    status: dict[str, Any] = {
        "conditions": conditions,
        "children": f.kids,
        "lcm_progress": f"{len(f.deployed)}/{len(f.kids)}",
    }
    # kstatus and Flux read the conditions only when status.observedGeneration is the object's generation: a
    # generation refused (Stalled) counts as judged, so they report the failure instead of waiting for it.
    judged = observed.generation if meaning(verdict.reason).stalled else observed.reconciled_generation
    if judged is not None:
        status["observedGeneration"] = judged
    if observed.applied_credentials is not None:
        status["applied_credentials"] = observed.applied_credentials
    if observed.upgrade is not None:
        status["upgrade"] = dict(observed.upgrade)
    # The release runs once every service moved to it: while a rollout runs, the one it started from.
    if observed.upgrade is not None and observed.upgrade.get("phase") == COMPLETED:
        status["openstack_version"] = observed.upgrade["to"]
    elif f.all_done:
        status["openstack_version"] = observed.openstack_version
    elif previous.get("openstack_version"):
        status["openstack_version"] = previous["openstack_version"]
    return status


def _blocked_status(observed: Observed, message: str, now: str) -> dict[str, Any]:
    values = verdicts(Verdict(reasons.NAMESPACE_IN_USE, message), None)
    conditions = [condition(observed.previous, kind, *value, observed.generation, now)
                  for kind, value in zip(CONDITION_TYPES, values)]
    return {"conditions": conditions, "children": {}, "lcm_progress": "0/0", "observedGeneration": observed.generation}


REFUSED = "Refused"  # a HelmBundle's condition: the helmbundle process does not act on it


def refusal_conditions(conditions: Sequence[Mapping[str, Any]], problem: str | None, generation: int,
                       now: str) -> list[dict[str, Any]] | None:
    """A HelmBundle's `conditions` with `Refused` as `problem` (core.releases.bundles.trust_problem) says; None when
    nothing changes (a bundle never refused carries no such condition)."""
    old = next((c for c in conditions if c.get("type") == REFUSED), None)
    if problem is None and old is None:
        return None
    new = condition({"conditions": conditions}, REFUSED, problem is not None, "Untrusted" if problem else "Trusted",
                    problem or "as the osdpl of its namespace writes it", generation, now)
    if old is not None and all(old.get(k) == new[k] for k in ("status", "reason", "message")):
        return None
    return [*(dict(c) for c in conditions if c.get("type") != REFUSED), new]


def condition_states(status: Mapping[str, Any]) -> dict[str, bool]:
    """Each condition type of an osdpl status -> whether it is True (a type not reported yet: False)."""
    reported = {c.get("type"): c.get("status") == "True" for c in status.get("conditions") or []}
    return {kind: reported.get(kind, False) for kind in CONDITION_TYPES}


def failing_releases(status: Mapping[str, Any]) -> int:
    """Releases the osdpl status shows as failed (their last Helm operation failed; retried)."""
    return sum(1 for releases in (status.get("children") or {}).values() for entry in releases.values()
               if entry.get("state") == "failed")
