"""Render the full example with every service of the catalog many times and compare with the naive approach.

Candidate: one Renderer per process (templates compiled once), as the operator runs.
Baseline (same run): a new Jinja environment and templates read again from disk on every render.
Reports median and p90 wall time per full render and the peak memory allocated during one render.
Run: make bench
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Callable

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe  # noqa: E402
from openstack_operator.core.catalog import Catalog  # noqa: E402
from openstack_operator.core.secrets.credentials import placeholder_credentials, required_credentials  # noqa: E402
from openstack_operator.core.schema.manifest import load_osdpl  # noqa: E402
from openstack_operator.core.rendering.renderer import Renderer  # noqa: E402
from openstack_operator.core.secrets.ceph import placeholder_exchange  # noqa: E402
from tests.osdpl_cases import with_every_service  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "examples" / "full.yaml"
ROUNDS = 60


def _measure(render: Callable[[], object]) -> tuple[list[float], int]:
    render()  # warm-up: imports, first template compile of the candidate
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        render()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    render()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return times, peak


def main() -> None:
    catalog = Catalog.load()
    osdpl = load_osdpl(catalog, with_every_service(catalog, yaml.safe_load(EXAMPLE.read_text())))
    enabled = osdpl.spec.enabled_services(catalog)
    credentials = placeholder_credentials(catalog, required_credentials(catalog, enabled))
    renderer = Renderer(catalog)
    ceph = placeholder_exchange()

    def candidate() -> object:
        return renderer.render(osdpl.spec, credentials, osdpl.namespace, ceph=ceph)

    def naive() -> object:
        return Renderer(Catalog.load()).render(osdpl.spec, credentials, osdpl.namespace, ceph=ceph)

    # a spec that changes at every render (the region, in every chart's Keystone users): no template's output is
    # the one parsed before
    regions = itertools.cycle([dataclasses.replace(osdpl.spec, region_name=f"Region{i}") for i in range(2)])

    def changed() -> object:
        return renderer.render(next(regions), credentials, osdpl.namespace, ceph=ceph)

    print(f"machine: {describe()}")
    print(f"workload: {EXAMPLE.name} with every service, {len(enabled)} services, "
          f"{sum(len(catalog.services[s].charts_for(osdpl.spec.features)) for s in enabled)} releases, "
          f"{ROUNDS} rounds")
    results = {}
    for name, render in (("baseline (naive: new environment, templates re-read)", naive),
                         ("candidate (compiled once per process; the spec unchanged, as a reconcile)", candidate),
                         ("candidate, the spec changed at every render", changed)):
        times, peak = _measure(render)
        median = statistics.median(times) * 1000
        p90 = statistics.quantiles(times, n=10)[-1] * 1000
        results[name] = median
        print(f"{name}: median {median:.1f} ms, p90 {p90:.1f} ms, peak allocated {peak / 2**20:.1f} MiB")
    baseline, candidate_ms, changed_ms = results.values()
    print(f"ratio baseline/candidate: {baseline / candidate_ms:.1f}x (spec changed: {baseline / changed_ms:.1f}x); "
          f"target: the whole deployment under 20 ms ({'met' if candidate_ms < 20 else 'NOT met'}; spec changed: "
          f"{'met' if changed_ms < 20 else 'NOT met'})")


if __name__ == "__main__":
    main()
