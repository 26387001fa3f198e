"""From `kubectl apply` to Ready with the real OpenStack-Helm charts on the local control plane, against a sequential
baseline and the dependency critical path, and the API writes of a reconcile with an unchanged spec.

Operator: the osdpl, helmbundle and health processes. Measured: apply -> every release deployed
(status.lcm_progress n/n) and apply -> Ready (condition Ready True at the osdpl's generation: every release
deployed and every workload healthy).
Baseline (same run, same cluster): every release in dependency order, one `helm upgrade --install` after the other
through the same Helm facade, then a wait for the same readiness (core.health.workloads judges the namespace's workloads).
Critical path: the longest chain through the services' depends_on (a service's releases in sequence), weighted by
the baseline's helm time per release: the best a scheduler with unlimited parallelism could do with those times.
Writes per unchanged reconcile: API writes in the namespace (audit log) after the operators restart (they list and
reconcile everything again), against the baseline's next pass (it re-applies everything).

Each run has a namespace of its own and is cleaned up (releases uninstalled, namespace gone) before the next: the
nova chart creates ClusterRoles with fixed names, so one nova release can exist per cluster at a time. Charts come
from the pinned chart set (devcluster.charts, digests checked) as a local directory, through a chart cache filled
before the runs, so no run pays for fetching charts. The cluster is kwok: pods do not run, so the times are the
operator's, Helm's and the API server's work, and hook Jobs complete at once.
Run: make bench-deploy
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe  # noqa: E402
from devcluster import Cluster, crds  # noqa: E402
from devcluster.api import AdminClient  # noqa: E402
from devcluster.binaries import REPO, bin_dir  # noqa: E402
from devcluster.charts import chart_directory  # noqa: E402
from devcluster.operators import launch_detached  # noqa: E402
from openstack_operator.cli import PROCESSES  # noqa: E402
from openstack_operator.core.catalog import Catalog  # noqa: E402
from openstack_operator.core.apigroup import GROUP, VERSION# noqa: E402
from openstack_operator.core.secrets.credentials import generated_credentials, required_credentials  # noqa: E402
from openstack_operator.core.health.workloads import READY, assess, scheduled_run  # noqa: E402
from openstack_operator.core.schema.manifest import load_osdpl  # noqa: E402
from openstack_operator.core.settings import Settings  # noqa: E402
from openstack_operator.core.rendering.renderer import Renderer, RenderedService  # noqa: E402
from openstack_operator.kube.credentials import ensure_kept_secrets  # noqa: E402
from openstack_operator.kube.helm import ChartCache, ChartSource, Helm  # noqa: E402

EXAMPLES = ("minimal", "full")
# The devcluster's StorageClasses (devcluster.addons) in place of whatever site-specific ones an example names.
STORAGE_CLASSES = {"local_volume_storage_class": "local-storage", "persistent_volume_storage_class": "default"}
SETTLE_SECONDS = 10.0  # audit log batches are flushed within this; restarted operators have re-listed by then
RUN_TIMEOUT = 600.0  # one apply -> Ready, either way (as the e2e tests allow)
NAN = float("nan")  # a time that was not reached
STALLED = ("InvalidSpec", "NamespaceInUse")  # Progressing reasons that only a change ends (core.status.conditions)
CLEANUP_TIMEOUT = 300.0
POLL_SECONDS = 0.25
# kind -> API path prefix and plural of the workloads the health process watches (same label selector).
WORKLOADS = {"Deployment": ("/apis/apps/v1", "deployments"), "StatefulSet": ("/apis/apps/v1", "statefulsets"),
             "DaemonSet": ("/apis/apps/v1", "daemonsets"), "Job": ("/apis/batch/v1", "jobs")}
WORKLOAD_SELECTOR = "application,component"
OSDPL_PATH = f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/openstackdeployments/{{name}}"
BUNDLES_PATH = f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/helmbundles"
# The helmbundle process's log lines (kube.operator's format) that end a release's Helm step.
HELM_STEP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ osop\.helmbundle: "
                       r"release (\S+) (deployed at revision \d+|failed \(attempt \d+\))")


class BenchError(Exception):
    pass


@dataclass
class Run:
    deployed: float  # seconds from apply (baseline: from rendering) to every release deployed
    ready: float  # ... to every workload ready as well
    writes: int  # API writes in the namespace of one reconcile with an unchanged spec
    releases: dict[str, tuple[float, float]]  # release -> (started, seconds of its Helm step), from apply
    notes: list[str] = field(default_factory=list)


@dataclass
class Example:
    name: str
    services: Sequence[RenderedService]
    baseline: Run
    operator: Run
    notes: list[str]


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def critical_path(services: Sequence[RenderedService], seconds: Mapping[str, float]) -> tuple[float, list[str]]:
    """The longest chain of depends_on through `services` (in dependency order), a service weighing the sum of its
    releases' `seconds`: (its length, the services on it)."""
    finish: dict[str, tuple[float, list[str]]] = {}
    for service in services:
        own = sum(seconds[release.name] for release in service.releases)
        before = max((finish[d] for d in service.depends_on), key=lambda f: f[0], default=(0.0, []))
        finish[service.name] = (before[0] + own, [*before[1], service.name])
    return max(finish.values(), key=lambda f: f[0])


def manifest(example: str, namespace: str) -> tuple[dict[str, Any], list[str]]:
    """The example in `namespace`, with the devcluster's storage classes; and what was overridden, to say so."""
    doc: dict[str, Any] = yaml.safe_load((REPO / "deploy" / "examples" / f"{example}.yaml").read_text())
    doc["metadata"]["namespace"] = namespace
    notes = []
    for key, value in STORAGE_CLASSES.items():
        if key in doc["spec"] and doc["spec"][key] != value:
            notes.append(f"{key} {doc['spec'][key]} -> {value}")
            doc["spec"][key] = value
    return doc, notes


class Bench:
    def __init__(self, cluster: Cluster, kubeconfig: Path, charts: Path, cache: Path) -> None:
        state = cluster.running()
        if state is None:
            raise BenchError("the cluster is not running")
        self.cluster, self.kubeconfig, self.binaries = cluster, kubeconfig, bin_dir()
        self.api = AdminClient(state.server, cluster.pki)
        self.catalog = Catalog.load()
        helm_binary = str(self.binaries / "helm")
        self.cache = ChartCache(cache, helm_binary)
        self.source = ChartSource(str(charts))
        self.helm = Helm(self.source, helm_binary, self.cache)
        self.settings = Settings(helm=helm_binary, chart_source=str(charts), chart_cache=str(cache))

    # -- cluster access ------------------------------------------------------------------------------------------
    def kubectl(self, *argv: str, stdin: str | None = None) -> str:
        return subprocess.run([str(self.binaries / "kubectl"), f"--kubeconfig={self.kubeconfig}", *argv],
                              input=stdin, check=True, capture_output=True, text=True, timeout=120).stdout

    def get(self, path: str) -> Any:
        status, body = self.api.request("GET", path, timeout=30)
        if status != 200:
            raise BenchError(f"GET {path}: {status} {body}")
        return body

    def gone(self, path: str) -> bool:
        return self.api.request("GET", path, timeout=30)[0] == 404

    def create_namespace(self, namespace: str) -> None:
        """The namespace, with the charts' own Ceph wiring in it as ceph-adapter-rook creates it: the full
        example's rbd backends mount it, and the operator writes nothing without it (WaitingForCephWiring)."""
        status, body = self.api.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
        if status != 201:
            raise BenchError(f"cannot create namespace {namespace}: {status} {body}")
        for path, obj in ((f"/api/v1/namespaces/{namespace}/configmaps",
                           {"metadata": {"name": "ceph-etc"}, "data": {"ceph.conf": "[global]\n"}}),
                          (f"/api/v1/namespaces/{namespace}/secrets",
                           {"metadata": {"name": "pvc-ceph-client-key"},
                            "stringData": {"key": base64.b64encode(os.urandom(16)).decode()}})):
            status, body = self.api.request("POST", path, obj)
            if status != 201:
                raise BenchError(f"cannot create {obj['metadata']['name']} in {namespace}: {status} {body}")

    def delete_namespace(self, namespace: str) -> None:
        self.api.request("DELETE", f"/api/v1/namespaces/{namespace}")
        wait("namespace deleted", lambda: (self.gone(f"/api/v1/namespaces/{namespace}"), ""), CLEANUP_TIMEOUT)

    def writes(self, namespace: str, since: float) -> int:
        """Write requests in `namespace` that completed after `since` (epoch seconds), from the audit log."""
        count = 0
        with (self.cluster.logs / "audit.log").open() as log:
            for line in log:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # the batch being written right now
                if (event.get("objectRef") or {}).get("namespace") != namespace:
                    continue
                if datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00")).timestamp() >= since:
                    count += 1
        return count

    def workloads_ready(self, namespace: str) -> tuple[bool, str]:
        """Whether every workload the health process would judge in `namespace` is Ready (core.health.workloads), and the
        first few that are not."""
        waiting: list[str] = []
        seen = 0
        for kind, (prefix, plural) in WORKLOADS.items():
            items = self.get(f"{prefix}/namespaces/{namespace}/{plural}?labelSelector={WORKLOAD_SELECTOR}")["items"]
            for item in items:
                body = {**item, "kind": kind}  # a list's items carry no kind
                if scheduled_run(body):
                    continue
                seen += 1
                assessment = assess(body)
                if assessment.state != READY:
                    waiting.append(f"{kind} {item['metadata']['name']}: {assessment.reason}")
        return seen > 0 and not waiting, f"{seen} workloads, not ready: {'; '.join(waiting[:3])}"

    # -- set-up ---------------------------------------------------------------------------------------------------
    def fill_chart_cache(self) -> None:
        """Every pinned chart into the cache both sides use: fetching is once per host, not part of a deployment."""
        async def fill() -> None:
            for chart in self.catalog.charts.values():
                await self.cache.archive(self.source, chart.name, chart.version, chart.digest)
        asyncio.run(fill())

    def start_operators(self) -> None:
        for process in PROCESSES:
            launch_detached(self.cluster, process, self.settings)

    # -- baseline -------------------------------------------------------------------------------------------------
    def baseline(self, example: str) -> tuple[Run, Sequence[RenderedService]]:
        namespace = f"bench-seq-{example}"
        self.create_namespace(namespace)
        try:
            return asyncio.run(self._baseline(example, namespace))
        finally:
            self.delete_namespace(namespace)

    async def _baseline(self, example: str, namespace: str) -> tuple[Run, Sequence[RenderedService]]:
        start = time.monotonic()
        osdpl = load_osdpl(self.catalog, manifest(example, namespace)[0])
        enabled = osdpl.spec.enabled_services(self.catalog)
        credentials = generated_credentials(self.catalog, required_credentials(self.catalog, enabled))
        services = Renderer(self.catalog).render(osdpl.spec, credentials, namespace)
        # As the osdpl process does before the first install (catalog kept_secrets).
        ensure_kept_secrets(namespace, [secret for service in enabled for chart in self.catalog.services[service].charts
                                        for secret in chart.kept_secrets], {})
        releases = [release for service in services for release in service.releases]  # dependency order

        async def apply_everything(round_: int) -> dict[str, tuple[float, float]]:
            times: dict[str, tuple[float, float]] = {}
            for release in releases:
                began = time.monotonic()
                # A fingerprint of the round: this baseline does not know what is already deployed.
                await self.helm.install(release.name, namespace, release.chart, release.version, release.values,
                                        f"{release.fingerprint}-{round_}", release.timeout_seconds,
                                        digest=release.digest)
                times[release.name] = (began - start, time.monotonic() - began)
            return times

        times = await apply_everything(1)
        deployed = time.monotonic() - start
        progress(f"{example} baseline: {len(releases)} releases deployed in {deployed:.1f} s")
        # Nothing else runs on this loop meanwhile: a blocking wait is fine.
        wait(f"{example} baseline: workloads ready", lambda: self.workloads_ready(namespace), RUN_TIMEOUT - deployed)
        ready = time.monotonic() - start
        await asyncio.sleep(SETTLE_SECONDS)
        since = time.time()
        await apply_everything(2)
        await asyncio.sleep(SETTLE_SECONDS)
        writes = self.writes(namespace, since)
        for release in reversed(releases):  # dependents first, as the operator uninstalls
            await self.helm.uninstall(release.name, namespace, release.timeout_seconds)
        return Run(deployed, ready, writes, times), services

    # -- operator -------------------------------------------------------------------------------------------------
    def operator(self, example: str) -> Run:
        namespace = f"bench-op-{example}"
        self.create_namespace(namespace)
        doc = manifest(example, namespace)[0]
        path = OSDPL_PATH.format(namespace=namespace, name=doc["metadata"]["name"])
        try:
            applied_at, start = time.time(), time.monotonic()
            self.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(doc))
            deployed: list[float] = []

            def ready() -> tuple[bool, str]:
                body = self.get(path)
                status = body.get("status") or {}
                done, _, total = str(status.get("lcm_progress", "")).partition("/")
                if not deployed and done == total and int(total or 0) > 0:
                    deployed.append(time.monotonic() - start)
                conditions = {c["type"]: c for c in status.get("conditions") or []}
                stalled = conditions.get("Progressing", {})
                if stalled.get("reason") in STALLED and stalled.get("observedGeneration") == \
                        body["metadata"]["generation"]:  # Ready cannot come without a change: stop waiting
                    raise BenchError(f"{example} operator: {stalled['reason']}: {stalled.get('message', '')[:300]}")
                condition: dict[str, Any] = conditions.get("Ready", {})
                return (condition.get("status") == "True"
                        and status.get("observedGeneration") == body["metadata"]["generation"]), \
                    f"lcm {status.get('lcm_progress')}, health {status.get('health_progress')}: " \
                    f"{condition.get('message', '')[:300]}"

            notes = []
            try:
                wait(f"{example} operator: Ready", ready, RUN_TIMEOUT)
                elapsed = time.monotonic() - start
            except BenchError as error:  # reported, and the rest measured all the same
                elapsed = NAN
                notes.append(f"operator: {error}")
            if not deployed:
                deployed.append(NAN)
            progress(f"{example} operator: deployed in {deployed[0]:.1f} s, Ready in {elapsed:.1f} s")
            releases, failures = self.operator_steps(namespace, applied_at)
            time.sleep(SETTLE_SECONDS)
            since = time.time()
            self.start_operators()  # a restart: every object is listed and reconciled again
            time.sleep(SETTLE_SECONDS)
            writes = self.writes(namespace, since)
            # Deleting the osdpl uninstalls every release (its finalizer), so the next nova release can go in.
            self.api.request("DELETE", path)
            wait(f"{example} operator: osdpl deleted", lambda: (self.gone(path), ""), CLEANUP_TIMEOUT)
            return Run(deployed[0], elapsed, writes, releases, notes + failures)
        finally:
            self.delete_namespace(namespace)

    def operator_steps(self, namespace: str, since: float) -> tuple[dict[str, tuple[float, float]], list[str]]:
        """Per release (started, seconds) of the operator's Helm step: the start from the bundle status
        (last_attempt_at), the end from the helmbundle process's log line. Failed attempts become notes."""
        started = {name: float(release["last_attempt_at"])
                   for bundle in self.get(BUNDLES_PATH.format(namespace=namespace))["items"]
                   for name, release in ((bundle.get("status") or {}).get("releases") or {}).items()}
        ended: dict[str, float] = {}
        notes = []
        # Release names are the same in every namespace: the run's time window tells this run's lines apart.
        for line in (self.cluster.logs / "operator-helmbundle.log").read_text().splitlines():
            match = HELM_STEP.match(line)
            if match is None:
                continue
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time
            if stamp < since:
                continue
            if match.group(3).startswith("failed"):
                notes.append(f"operator: {match.group(2)} {match.group(3)}")
            else:
                ended.setdefault(match.group(2), stamp)
        return {name: (begin - since, ended[name] - begin) for name, begin in started.items() if name in ended}, notes

    def example(self, name: str) -> Example:
        notes = manifest(name, "-")[1]
        if notes:
            notes = [f"storage classes for the devcluster: {', '.join(notes)}"]
        baseline, services = self.baseline(name)
        operator = self.operator(name)
        return Example(name, services, baseline, operator, notes + baseline.notes + operator.notes)


def wait(what: str, check: Callable[[], tuple[bool, str]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        done, detail = check()
        if done:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not after {timeout:.0f} s; {detail}")
        time.sleep(POLL_SECONDS)


def report(example: Example) -> None:
    base, op = example.baseline, example.operator
    helm_seconds = {name: seconds for name, (_, seconds) in base.releases.items()}
    bound, chain = critical_path(example.services, helm_seconds)
    print(f"\n{example.name} ({len(base.releases)} releases)")
    print(f"  {'':30} {'apply->deployed s':>17} {'apply->Ready s':>15} {'writes/reconcile':>17}")
    print(f"  {'baseline (sequential helm)':30} {base.deployed:17.1f} {base.ready:15.1f} {base.writes:17d}")
    print(f"  {'operator':30} {op.deployed:17.1f} {op.ready:15.1f} {op.writes:17d}")
    print(f"  {'critical path (lower bound)':30} {bound:17.1f} {'-':>15} {'-':>17}   {' > '.join(chain)}")
    print(f"  baseline/operator: {base.deployed / op.deployed:.2f}x to deployed, {base.ready / op.ready:.2f}x to "
          f"Ready; operator/critical path: {op.deployed / bound:.2f}x to deployed")
    print(f"  {'release':24} {'baseline helm s':>15} {'operator start s':>17} {'operator helm s':>16}")
    for name, (_, seconds) in base.releases.items():
        started, took = op.releases.get(name, (NAN, NAN))
        print(f"  {name:24} {seconds:15.1f} {started:17.1f} {took:16.1f}")
    for note in example.notes:
        print(f"  note: {note}")


@contextmanager
def operators_on_a_new_cluster() -> Iterator[Bench]:
    """A cluster of its own, with the CRDs, the pinned charts in the chart cache and the operator processes running;
    torn down on exit. On a BenchError the operators' last log lines go to stderr first (the folder goes with the
    cluster)."""
    with tempfile.TemporaryDirectory(prefix="osop-bench-") as directory:
        cluster = Cluster(Path(directory) / "cluster")
        try:
            kubeconfig = cluster.up()
            os.environ["KUBECONFIG"] = str(kubeconfig)  # the baseline's helm and kept Secrets
            charts = chart_directory()
            print(f"charts: {charts} (chart set {Catalog.load().chart_set.version}, digests checked)")
            bench = Bench(cluster, kubeconfig, charts, Path(directory) / "chart-cache")
            crds.install(bench.binaries / "kubectl", kubeconfig)
            bench.fill_chart_cache()
            bench.start_operators()
            yield bench
        except BenchError:
            for log in sorted(cluster.logs.glob("operator-*.log")):
                print(f"== {log.name}\n" + "\n".join(log.read_text().splitlines()[-20:]), file=sys.stderr)
            raise
        finally:
            cluster.down()


def main() -> int:
    print(f"machine: {describe()}")
    print(f"load average at start: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    print(f"helm concurrency of the helmbundle process: {os.environ.get('OSOP_HELM_CONCURRENCY', '4')}")
    # pyhelm3 warns about every non-zero helm exit, such as the "release not found" before each first install (the
    # operator processes quiet it the same way).
    logging.getLogger("pyhelm3.command").setLevel(logging.ERROR)
    failed = False
    try:
        with operators_on_a_new_cluster() as bench:
            for name in EXAMPLES:
                example = bench.example(name)
                report(example)
                failed = failed or math.isnan(example.operator.ready)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        failed = True
    print(f"\nload average at end: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
