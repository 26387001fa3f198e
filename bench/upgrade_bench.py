"""A change of OpenStack release of the full example on the real charts: the ordered, health-gated rollout against
every service moved at once (features.upgrade.strategy all_at_once, the baseline), in the same run on the same
cluster.

Measured per strategy: seconds from the change of spec.openstack_version to Ready at the new release (status
.openstack_version moved, the rollout Completed, Ready True at the generation), and the most services disrupted at
the same time, sampled every POLL_SECONDS: a service is disrupted while one of its releases is not `deployed` on its
bundle (Helm at work, or failed) or a component of its applications is not Ready on the osdpl's health. The goal of
the ordered rollout: at most one at a time.

Each strategy deploys the example at the old release in a namespace of its own first, and deletes it afterwards
(the nova chart's ClusterRoles have fixed names: one nova release per cluster at a time). The cluster is kwok: pods
do not run, so the times are the operator's, Helm's and the API server's work, not OpenStack's.
Run: make bench-upgrade
"""

from __future__ import annotations

import calendar
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.deploy_bench import (BUNDLES_PATH, CLEANUP_TIMEOUT, OSDPL_PATH, POLL_SECONDS, RUN_TIMEOUT, Bench,  # noqa: E402
                                BenchError, manifest, operators_on_a_new_cluster, progress, wait)
from bench.machine import describe  # noqa: E402
from openstack_operator.core.health.workloads import READY  # noqa: E402
from openstack_operator.core.upgrades.rollout import ALL_AT_ONCE, COMPLETED, ORDERED  # noqa: E402

EXAMPLE = "full"
SOURCE, TARGET = "epoxy", "flamingo"
STRATEGIES = (ALL_AT_ONCE, ORDERED)  # the baseline first
UPGRADE_TIMEOUT = 1200.0


@dataclass
class Result:
    strategy: str
    seconds: float  # change of release -> Ready at the new one
    most_disrupted: int  # services disrupted at the same time, at most
    disrupted_when_most: list[str]
    timeline: list[str]  # per service: phase, seconds from the change to its start and finish


def disrupted(status: dict[str, Any], bundles: list[dict[str, Any]]) -> list[str]:
    """Services with a release Helm is working on (or failed), or a component of theirs not Ready."""
    health = status.get("health") or {}
    result = []
    for bundle in bundles:
        releases = (bundle.get("status") or {}).get("releases") or {}
        applications = {str(w).split("/")[0] for entry in ((status.get("children") or {}).get(
            bundle["spec"]["service"]) or {}).values() for w in entry.get("workloads") or ()}
        if any(r.get("state") != "deployed" for r in releases.values()) or any(
                entry.get("state") != READY for app in applications for entry in (health.get(app) or {}).values()):
            result.append(bundle["spec"]["service"])
    return sorted(result)


def seconds_after(stamp: str, origin: float) -> str:
    """`stamp` (the status's whole seconds) as seconds after `origin`, counted from origin's whole second."""
    if not stamp:
        return "-"
    return f"{calendar.timegm(time.strptime(stamp, '%Y-%m-%dT%H:%M:%SZ')) - int(origin)}"


def run(bench: Bench, strategy: str) -> Result:
    namespace = f"bench-upgrade-{strategy.replace('_', '-')}"
    bench.create_namespace(namespace)
    doc = manifest(EXAMPLE, namespace)[0]
    doc["spec"]["openstack_version"] = SOURCE
    doc["spec"].setdefault("features", {})["upgrade"] = {"strategy": strategy}
    path = OSDPL_PATH.format(namespace=namespace, name=doc["metadata"]["name"])
    bundles_path = BUNDLES_PATH.format(namespace=namespace)
    try:
        bench.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(doc))

        def ready_at(release: str) -> tuple[bool, str]:
            body = bench.get(path)
            status = body.get("status") or {}
            ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
            return (ready.get("status") == "True" and status.get("observedGeneration") == body["metadata"]["generation"]
                    and status.get("openstack_version") == release), str(ready.get("message", ""))[:300]

        wait(f"{strategy}: Ready at {SOURCE}", lambda: ready_at(SOURCE), RUN_TIMEOUT)
        progress(f"{strategy}: Ready at {SOURCE}; changing to {TARGET}")
        changed, start = time.time(), time.monotonic()
        bench.kubectl("-n", namespace, "patch", "osdpl", doc["metadata"]["name"], "--type=merge", "-p",
                      json.dumps({"spec": {"openstack_version": TARGET}}))
        most: list[str] = []
        deadline = start + UPGRADE_TIMEOUT
        while True:
            status = bench.get(path).get("status") or {}
            now = disrupted(status, bench.get(bundles_path)["items"])
            if len(now) > len(most):
                most = now
            done, detail = ready_at(TARGET)
            if done and (status.get("upgrade") or {}).get("phase") == COMPLETED:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"{strategy}: not Ready at {TARGET} after {UPGRADE_TIMEOUT:.0f} s: {detail}")
            time.sleep(POLL_SECONDS)
        seconds = time.monotonic() - start
        rollout = status["upgrade"]
        timeline = [f"{service:14} {rollout['services'][service]['phase']:10} "
                    f"{seconds_after(rollout['services'][service].get('started', ''), changed):>6} "
                    f"{seconds_after(rollout['services'][service].get('finished', ''), changed):>7}"
                    for service in rollout["order"]]
        progress(f"{strategy}: Ready at {TARGET} {seconds:.1f} s after the change")
        bench.api.request("DELETE", path)
        wait(f"{strategy}: osdpl deleted", lambda: (bench.gone(path), ""), CLEANUP_TIMEOUT)
        return Result(strategy, seconds, len(most), most, timeline)
    finally:
        bench.delete_namespace(namespace)


def report(results: list[Result]) -> None:
    print(f"\n{EXAMPLE} example, {SOURCE} -> {TARGET}")
    print(f"  {'strategy':14} {'change->Ready s':>15} {'most services disrupted at once':>32}")
    for result in results:
        print(f"  {result.strategy:14} {result.seconds:15.1f} {result.most_disrupted:32d}   "
              f"{', '.join(result.disrupted_when_most)}")
    base, ordered = results
    print(f"  ordered/all at once: {ordered.seconds / base.seconds:.2f}x the time; most disrupted at once "
          f"{ordered.most_disrupted} (goal: at most 1) vs {base.most_disrupted}")
    for result in results:
        print(f"  {result.strategy}: service, phase, started and finished (s after the change)")
        for line in result.timeline:
            print(f"    {line}")


def main() -> int:
    print(f"machine: {describe()}")
    print(f"load average at start: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    logging.getLogger("pyhelm3.command").setLevel(logging.ERROR)
    failed = False
    try:
        with operators_on_a_new_cluster() as bench:
            report([run(bench, strategy) for strategy in STRATEGIES])
            print(f"  strategies: {ALL_AT_ONCE} (baseline), {ORDERED} (the default)")
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        failed = True
    print(f"\nload average at end: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
