"""An OpenStack release change, rolled out one service at a time and gated on health. Pure.

When spec.openstack_version names another release than the one the status says runs (`status.openstack_version`),
the osdpl process does not write every re-rendered bundle at once. It walks the services in the catalog's
`upgrade_order` (reversed when going back to an older release) and, per service: writes its bundle, waits until its
releases are deployed at the new values and the health process has found that service's workloads Ready at those
revisions (`health_basis` current: fresh health, never a snapshot taken before the change), and only then starts
the next. A service whose rendering the release change does not touch (memcached's images are the same in every
release) is left alone: `Unchanged`.

The state is on the status (`status.upgrade`), written before the bundle a step writes. After a SIGKILL the process
reads where it was: a service is written only once its step is recorded, so a bundle already at the new values is
never taken for one the release change does not touch (its gate is never skipped), and writing a bundle again is a
no-op (a release is upgraded only when its fingerprint changes), so no service is upgraded twice.

While a rollout runs nothing else is written: a change to a service already moved, or a service enabled or
disabled, waits for the end (`waiting`). The service being moved is rendered from the spec as it is now, so a fix
to a stuck service takes effect at once, and its timeout counts again from that write.
"""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from openstack_operator.core.models.bundle import Bundle, BundleSpec
from openstack_operator.core.models.workload import WorkloadRef
from openstack_operator.core.health.workloads import READY, UNHEALTHY

RUNNING, STUCK, COMPLETED = "Running", "Stuck", "Completed"  # status.upgrade.phase
PENDING, UPGRADING, VERIFYING, DONE, UNCHANGED, DISABLED = (  # status.upgrade.services.<service>.phase
    "Pending", "Upgrading", "Verifying", "Done", "Unchanged", "Disabled")
ORDERED, ALL_AT_ONCE = "ordered", "all_at_once"  # features.upgrade.strategy
UPGRADE_STUCK = "UpgradeStuck"  # the Degraded reason
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def active(rollout: Mapping[str, Any] | None) -> bool:
    return bool(rollout) and (rollout or {}).get("phase") in (RUNNING, STUCK)


def begin(status: Mapping[str, Any], target: str, releases: Sequence[str], order: Sequence[str],
          services: Sequence[str], now: str) -> dict[str, Any] | None:
    """The rollout that moves the deployment to `target` (spec.openstack_version): the one on the status if it goes
    there, else a new one; None when no release change is under way.

    `releases`: every release, oldest first; `order`: the catalog's upgrade_order; `services`: those deployed now
    (they have bundles) that are still enabled. A spec naming the release an unfinished rollout came from turns it
    back: a new rollout to that release, in reverse order, which moves only the services already moved."""
    current = status.get("upgrade")
    moved: set[str] = set()
    if active(current):
        assert current is not None
        if target == current["to"]:
            return dict(current)
        if target != current["from"]:
            return dict(current)  # refused (core.upgrades.guard.version_problem): the rollout stays as it is
        source = str(current["to"])
        # Services it wrote are gated on the way back even if their bundle says the old release already (the way
        # back recorded, then killed before its write; or turned round twice).
        moved = {s for s, entry in (current.get("services") or {}).items()
                 if entry.get("phase") in (UPGRADING, VERIFYING, DONE) or entry.get("moved")}
    else:
        source = str(status.get("openstack_version") or "")
        if not source or source == target:
            return None
    back = source in releases and target in releases and releases.index(target) < releases.index(source)
    moving = [s for s in order if s in services]
    moving += sorted(s for s in services if s not in moving)  # a catalog always lists all (checked at load)
    if back:
        moving.reverse()
    return {"from": source, "to": target, "phase": RUNNING, "started": now, "order": moving,
            "services": {s: {"phase": PENDING, **({"moved": True} if s in moved else {})} for s in moving}}


@dataclass(frozen=True)
class Gate:
    passed: bool
    deployed: bool  # every release of the service is deployed at the desired values
    problem: str = ""  # a component Unhealthy (past the health process's grace): stuck until it is fixed
    waiting_for: str = ""  # what has not passed yet, for the message when the service's timeout runs out


def gate(releases: Mapping[str, Mapping[str, Any]], health: Mapping[str, Mapping[str, Mapping[str, str]]],
         health_current: bool) -> Gate:
    """Whether a service may count as moved: `releases` (its entries of status.children, which say `deployed` only
    at the desired fingerprint) all deployed, and every component of the applications its releases' workloads
    belong to Ready in a health checked against those revisions."""
    # A failed release is retried by the helmbundle process (a chart source outage, a Job still running): it stops
    # the rollout only once the service's timeout ran out.
    failed = [f"{name}: {entry.get('last_error') or 'failed'}" for name, entry in sorted(releases.items())
              if entry.get("state") == "failed"]
    if failed:
        return Gate(False, False, waiting_for="release failed: " + "; ".join(failed))
    if any(entry.get("state") != "deployed" for entry in releases.values()):
        return Gate(False, False, waiting_for="releases not deployed")
    if not health_current:
        return Gate(False, True, waiting_for="health not checked yet")
    states = _components(releases, health)
    unhealthy = [f"{name} ({entry.get('reason', '')})" for name, entry in states if entry.get("state") == UNHEALTHY]
    if unhealthy:
        return Gate(False, True, "unhealthy: " + ", ".join(unhealthy))
    starting = [name for name, entry in states if entry.get("state") != READY]  # Progressing: rolling out
    if starting:
        return Gate(False, True, waiting_for="not ready: " + ", ".join(starting))
    return Gate(True, True)


def _components(releases: Mapping[str, Mapping[str, Any]],
                health: Mapping[str, Mapping[str, Mapping[str, str]]]) -> list[tuple[str, Mapping[str, str]]]:
    """(application/component, health entry) of every component of the applications the releases' workloads
    belong to (their `workloads`, "application/component/Kind/name"), their Jobs included."""
    refs = [WorkloadRef.parse(w) for entry in releases.values() for w in entry.get("workloads") or ()]
    applications = sorted({ref.application for ref in refs if ref is not None})
    return [(f"{app}/{component}", entry) for app in applications
            for component, entry in sorted((health.get(app) or {}).items())]


@dataclass(frozen=True)
class Step:
    rollout: dict[str, Any]  # the new status.upgrade
    write: tuple[str, ...]  # services whose bundle (and values) to write now, at the desired spec
    recheck_in: float | None  # seconds until the timeout of a service being moved runs out


def _parse(stamp: str) -> datetime.datetime:
    return datetime.datetime.strptime(stamp, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)


def advance(rollout: Mapping[str, Any], desired: Mapping[str, BundleSpec],
            bundles: Mapping[str, Bundle], states: Mapping[str, Mapping[str, Mapping[str, Any]]],
            health: Mapping[str, Mapping[str, Mapping[str, str]]], health_current: bool,
            timeouts: Mapping[str, float], ordered: bool, now: str) -> Step:
    """One look at an active rollout. `desired`: service -> bundle spec rendered from the spec now; `bundles`:
    service -> bundle as stored; `states`: status.children computed for `desired`; `timeouts`: seconds a
    service may take to pass its gate once written. Ordered: one service at a time; else every service at once
    (the gates still decide when the rollout is done)."""
    result = copy.deepcopy(dict(rollout))
    services: dict[str, dict[str, Any]] = result["services"]
    was_stuck = rollout.get("phase") == STUCK
    write: list[str] = []
    moving: list[str] = []
    stuck: list[str] = []
    recheck: float | None = None
    for name in result["order"]:
        present = name in desired and name in bundles and not bundles[name].spec.uninstall
        changes = present and bundles[name].spec != desired[name]  # the bundle is to be written
        moves = present and _releases(bundles[name].spec) != _releases(desired[name])  # its releases change
        entry = _to_gate(services, name, present, changes, moves, was_stuck, bundles.get(name), now)
        if entry is None:
            continue
        verdict = gate(states.get(name) or {}, health, health_current)
        if changes or not verdict.passed:
            write.append(name)
        if verdict.passed:
            after = {release: e.get("revision") for release, e in (states.get(name) or {}).items()}
            entry.update(phase=DONE, finished=now, after=after)
            entry.pop("since", None)
            entry.pop("message", None)
            continue
        remaining = _not_passed(entry, verdict, timeouts.get(name, 0.0), now)
        if remaining is None:
            stuck.append(name)
        else:
            recheck = min(recheck, remaining) if recheck is not None else remaining
        moving.append(name)
        if ordered:
            break
    _close(result, services, desired, bundles, moving, stuck, now)
    return Step(result, tuple(write), recheck)


def _to_gate(services: dict[str, dict[str, Any]], name: str, present: bool, changes: bool, moves: bool,
             was_stuck: bool, bundle: Bundle | None, now: str) -> dict[str, Any] | None:
    """The service's entry, made ready for its gate in this look; None when this look leaves it be."""
    entry = services[name]
    if entry["phase"] in (DONE, UNCHANGED):
        if not (was_stuck and moves):
            return None  # a later change waits for the end of the rollout (`waiting`)
        # Stuck: the user fixes what the stuck service needs, perhaps in a service already moved. That change
        # is written now and the service gated again (else the rollout could never end); the stuck service's
        # timeout counts again once its turn comes back.
        for other in services.values():
            if other["phase"] in (UPGRADING, VERIFYING):
                other["since"] = now
        entry.update(phase=UPGRADING, since=now)
        entry.setdefault("started", now)
        entry.setdefault("before", _revisions(bundle) if bundle else {})
        for key in ("finished", "after"):
            entry.pop(key, None)
    elif entry["phase"] == DISABLED:
        if not present:
            return None
        # enabled again: it moves, gated, as any other (gated even if it matches, if it was written before)
        services[name] = entry = {"phase": PENDING, **({"moved": True} if entry.get("moved") else {})}
    if not present:  # disabled meanwhile: retired once the rollout ends
        written = entry["phase"] in (UPGRADING, VERIFYING, DONE) or entry.get("moved")
        services[name] = {"phase": DISABLED, "finished": now, **({"moved": True} if written else {})}
        return None
    if entry["phase"] == PENDING:
        if not moves and not entry.get("moved"):
            entry.update(phase=UNCHANGED)
            return None
        entry.update(phase=UPGRADING, started=now, since=now, before=_revisions(bundle) if bundle else {})
        entry.pop("moved", None)
    elif changes:  # rewritten at a later generation (a fix): its timeout counts again from now
        entry["since"] = now
    return entry


def _not_passed(entry: dict[str, Any], verdict: Gate, limit: float, now: str) -> float | None:
    """Records on the entry why a service has not passed its gate; returns the seconds left of its timeout, or None
    when it is stuck (a problem, or the timeout ran out)."""
    entry["phase"] = VERIFYING if verdict.deployed else UPGRADING
    elapsed = (_parse(now) - _parse(entry["since"])).total_seconds()
    if verdict.problem:
        entry["message"] = verdict.problem
        return None
    if elapsed >= limit:
        entry["message"] = f"not healthy within {int(limit)} s: {verdict.waiting_for}"
        return None
    entry.pop("message", None)
    return limit - elapsed


def _close(result: dict[str, Any], services: Mapping[str, Mapping[str, Any]], desired: Mapping[str, BundleSpec],
           bundles: Mapping[str, Bundle], moving: list[str], stuck: list[str], now: str) -> None:
    """The rollout's own phase after a look: running, stuck (naming why) or completed."""
    result["waiting"] = _waiting(services, desired, bundles)
    if not result["waiting"]:
        result.pop("waiting")
    if moving:
        result.update(phase=STUCK if stuck else RUNNING, current=", ".join(moving))
        if stuck:
            result["message"] = "; ".join(f"{name}: {services[name]['message']}" for name in stuck)
        else:
            result.pop("message", None)
    else:
        result.update(phase=COMPLETED, finished=now)
        for key in ("current", "message", "waiting"):
            result.pop(key, None)


def _releases(spec: BundleSpec) -> BundleSpec:
    """What a bundle spec asks Helm for, without the user's one-off requests (`retry`, `reapply`): a reapply during
    a rollout neither moves a service the release change leaves alone nor re-gates one already moved."""
    return spec.without_requests()


def _revisions(bundle: Bundle) -> dict[str, Any]:
    """release -> the Helm revision its bundle status records."""
    return {release: entry.revision for release, entry in bundle.releases.items()}


def _waiting(services: Mapping[str, Mapping[str, Any]], desired: Mapping[str, BundleSpec],
             bundles: Mapping[str, Bundle]) -> list[str]:
    """Services with a change that is not the rollout's: moved already and changed since, enabled or disabled."""
    changed = [name for name, entry in services.items() if entry["phase"] in (DONE, UNCHANGED)
               and name in desired and name in bundles and bundles[name].spec != desired[name]]
    added = [name for name in desired if name not in bundles]
    removed = [name for name in bundles if name not in desired and not bundles[name].spec.uninstall]
    return sorted({*changed, *added, *removed})


def summary(rollout: Mapping[str, Any]) -> str:
    """For condition messages: what moves, where it is."""
    services = rollout.get("services") or {}
    settled = sum(1 for entry in services.values() if entry.get("phase") in (DONE, UNCHANGED, DISABLED))
    text = (f"{rollout['from']} -> {rollout['to']}: {rollout.get('current') or 'finishing'} "
            f"({settled}/{len(services)} services done)")
    if rollout.get("waiting"):
        text += f"; changes to {', '.join(rollout['waiting'])} wait for the end of the rollout"
    return text
