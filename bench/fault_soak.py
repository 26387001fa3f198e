"""Fault soak: the minimal example deployed by the three operator processes, then rounds of faults injected at
random (seeded), each round followed by a wait for the deployment to settle and a check of invariants.

Faults (each counted):
- kill: SIGKILL of one operator process (osdpl, helmbundle or health), started again at once or after a pause;
- spec: a `services.<service>.<chart>.values` replica count flipped between 1 and 2 (merge patch of the osdpl);
- workload: a long-running Deployment of a release deleted by hand (once its release is idle); the osdpl must turn
  not Ready naming it missing within 30 s, then the reapply annotation must bring it back;
- apiserver: kube-apiserver stopped for 1 to 5 s and started again;
- bundle-delete: a HelmBundle deleted by hand: its releases stay, the osdpl process writes it again;
- bundle-edit: a release's timeout_seconds in a HelmBundle changed by hand: the osdpl process puts it back;
- kill-mid-helm: a spec change, then SIGKILL of the helmbundle process while `helm` works on that release.

Invariants:
(a) after each round, Ready at the osdpl's current generation (and every bundle at the current reapply request, no
    Helm operation running) within the settle timeout;
(b) `helm list -a` of the namespace holds exactly the releases of the first deployment, all `deployed`, no revision
    lower than before (a release uninstalled and installed again starts at 1); no `helm uninstall` ever runs;
(c) the credentials Secret's data is byte-identical to what it was after the first deployment;
(d) sampled every 0.2 s during the whole run: never two Helm operations (upgrade, install, rollback, uninstall) on
    one release at once;
(e) after settling, no `helm` of this run whose starter (OSOP_HELM_OWNER, "<pid>:<starttime>") is gone;
(f) every HelmBundle exists, and its status has every release `deployed` at the fingerprint of its spec;
(g) a deleted workload turns Ready False (health naming it missing) within 30 s, and exists again after settling;
(h) the HelmBundle specs are as the osdpl process writes them (fingerprints and requests aside) after settling.
A broken invariant is recorded with its round, and the soak goes on; a round that does not settle is recorded and
the next one tried; three unsettled rounds in a row end the soak.

Everything is local: a devcluster control plane (kwok nodes: pods do not run) in a temporary folder, the pinned chart
set served on loopback, the operator processes as `python -m openstack_operator <process>` with short health grace,
retry cap and resync (as the integration tests run them), from a copy of openstack_operator/ taken at
the start, so that every restart runs the same code while the tree is edited. Logs stay in the temporary folder when
an invariant broke (its path is printed), and are removed with it otherwise.
Run: make bench-faults (ARGS="--faults 24 --per-round 6 --seed 7")
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe  # noqa: E402
from devcluster import Cluster, crds  # noqa: E402
from devcluster.api import AdminClient  # noqa: E402
from devcluster.binaries import REPO, bin_dir  # noqa: E402
from devcluster.charts import chart_repository  # noqa: E402
from devcluster.cluster import ClusterError  # noqa: E402
from devcluster.operators import launch  # noqa: E402
from openstack_operator.core.releases.bundles import REAPPLY_ANNOTATION  # noqa: E402
from openstack_operator.cli import PROCESSES  # noqa: E402
from openstack_operator.core.apigroup import GROUP, VERSION# noqa: E402
from openstack_operator.core.health.workloads import UNHEALTHY  # noqa: E402
from openstack_operator.core.settings import Settings  # noqa: E402
from openstack_operator.kube.children import OWNER_ENV  # noqa: E402

KINDS = ("kill", "spec", "workload", "apiserver", "bundle-delete", "bundle-edit", "kill-mid-helm")
# release -> (service, chart, the replica key under values.pod.replicas) of the values a spec change flips 1 <-> 2.
FLIPS = {"openstack-keystone": ("identity", "keystone", "api"),
         "openstack-horizon": ("dashboard", "horizon", "server"),
         "openstack-glance": ("image", "glance", "api"),
         "openstack-placement": ("placement", "placement", "api")}
# Short health grace, retry cap and resync, as the integration tests run the processes.
OPERATOR_SETTINGS = Settings(health_grace_seconds=5, retry_max_seconds=20, health_resync_seconds=10)
HELM_OPERATIONS = {b"upgrade", b"install", b"rollback", b"uninstall"}
SAMPLE_SECONDS = 0.2
POLL_SECONDS = 0.5
HOLD_SECONDS = 3.0  # settled: everything below holds this long
MISSING_WITHIN = 30.0  # a deleted workload shows in Ready within this
IDLE_TIMEOUT = 180.0  # how long a workload deletion waits for its release to be idle
API_GRACE = 90.0  # reads retry this long while the API server is away
UNSETTLED_LIMIT = 3
PROC = Path("/proc")


class SoakError(Exception):
    pass


@dataclass(frozen=True)
class Broken:
    round: int  # 0: the first deployment
    invariant: str
    description: str

    def __str__(self) -> str:
        return f"round {self.round}: ({self.invariant}) {self.description}"


@dataclass
class Round:
    number: int
    done: list[str] = field(default_factory=list)  # what was injected, for the progress line
    deleted: list[str] = field(default_factory=list)  # Deployments deleted, to find again after settling


def progress(message: str) -> None:
    print(message, flush=True)


# -- processes seen in /proc -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HelmProcess:
    pid: int
    started: str  # clock ticks since boot: with the pid, names the process even if the pid is reused
    argv: tuple[bytes, ...]

    @property
    def operation(self) -> str:
        return next((a.decode() for a in self.argv[1:2] if a in HELM_OPERATIONS), "")

    @property
    def release(self) -> str:
        return self.argv[2].decode(errors="replace") if len(self.argv) > 2 else ""

    def namespace(self) -> str:
        for flag, value in zip(self.argv, self.argv[1:]):
            if flag in (b"--namespace", b"-n"):
                return value.decode(errors="replace")
        return next((a.split(b"=", 1)[1].decode() for a in self.argv if a.startswith(b"--namespace=")), "")


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat, None if the process is gone or a zombie."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return None if fields[0] == "Z" else fields[19]


def helm_processes() -> Iterator[HelmProcess]:
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"helm"):
            continue
        started = start_time(int(entry.name))
        if started is not None:
            yield HelmProcess(int(entry.name), started, tuple(a for a in argv if a))


def environment(pid: int) -> dict[str, str]:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    pairs = (entry.decode(errors="replace").partition("=") for entry in raw.split(b"\0") if entry)
    return {key: value for key, _, value in pairs}


def operations(namespace: str, release: str = "") -> list[HelmProcess]:
    """Helm operations (not reads) running on releases of `namespace` (or on `release` alone)."""
    return [p for p in helm_processes()
            if p.operation and p.namespace() == namespace and (not release or p.release == release)]


class HelmSampler(threading.Thread):
    """(d) every SAMPLE_SECONDS: at most one Helm operation per release of the namespace, and no uninstall. A scan
    of /proc is not atomic, so two operations count only if both still run (same pid and start time) once it is
    over: then both ran at the instant the scan ended."""

    def __init__(self, namespace: str, report: Callable[[str, str], None]) -> None:
        super().__init__(name="helm-sampler", daemon=True)
        self.namespace, self.report = namespace, report
        self.stopping = threading.Event()
        self.reported: set[frozenset[int]] = set()
        self.samples = 0

    def run(self) -> None:
        while not self.stopping.wait(SAMPLE_SECONDS):
            self.sample()

    def sample(self) -> None:
        self.samples += 1
        by_release: dict[str, list[HelmProcess]] = {}
        for process in operations(self.namespace):
            by_release.setdefault(process.release, []).append(process)
            if process.operation == "uninstall" and frozenset([process.pid]) not in self.reported:
                self.reported.add(frozenset([process.pid]))
                self.report("b", f"helm uninstall of {process.release} (pid {process.pid}): no fault removes a "
                                 f"service")
        for release, found in by_release.items():
            pids = frozenset(p.pid for p in found)
            if len(found) < 2 or pids in self.reported:
                continue
            if all(start_time(p.pid) == p.started for p in found):
                self.reported.add(pids)
                self.report("d", f"{len(found)} Helm operations on {release} at once: " +
                            ", ".join(f"pid {p.pid} {p.operation}" for p in found))


# -- the soak ----------------------------------------------------------------------------------------------------
class Soak:
    def __init__(self, cluster: Cluster, workdir: Path, chart_url: str, namespace: str, rng: random.Random,
                 settle_timeout: float) -> None:
        state = cluster.running()
        if state is None:
            raise SoakError("the cluster is not running")
        self.cluster, self.workdir, self.namespace, self.rng = cluster, workdir, namespace, rng
        self.settle_timeout = settle_timeout
        self.kubeconfig = cluster.kubeconfig
        self.binaries = bin_dir()
        self.api = AdminClient(state.server, cluster.pki)
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        # The operators run from a copy of the code taken now: every restart runs the same code, whatever is edited
        # in the tree meanwhile (the templates are package data).
        self.code = workdir / "operator"
        shutil.copytree(REPO / "openstack_operator", self.code / "openstack_operator",
                        ignore=shutil.ignore_patterns("__pycache__"))
        self.settings = replace(OPERATOR_SETTINGS, helm=str(self.binaries / "helm"), chart_source=chart_url,
                                chart_cache=str(workdir / "chart-cache"))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        manifest: dict[str, Any] = yaml.safe_load((REPO / "deploy" / "examples" / "minimal.yaml").read_text())
        manifest["metadata"]["namespace"] = namespace
        self.manifest = manifest
        self.name: str = manifest["metadata"]["name"]
        self.broken: list[Broken] = []
        self.lock = threading.Lock()
        self.round = 0
        self.counts: Counter[str] = Counter()
        self.notes: list[str] = []
        self.reapplies = 0
        # What the first deployment left, to compare against.
        self.services: set[str] = set()
        self.releases: set[str] = set()
        self.revisions: dict[str, int] = {}
        self.credentials: dict[str, str] = {}
        self.bundle_specs: dict[str, Any] = {}
        self.sampler = HelmSampler(namespace, self.record)

    def record(self, invariant: str, description: str) -> None:
        with self.lock:
            self.broken.append(Broken(self.round, invariant, description))
        self.log_fault(f"BROKEN ({invariant}) {description}")

    def log_fault(self, line: str) -> None:
        """One line per fault and finding, timestamped like the operators' logs, to read them side by side."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S") + f",{int(time.time() * 1000) % 1000:03d}"
        with (self.logs / "soak.log").open("a") as log:
            log.write(f"{stamp} round {self.round}: {line}\n")

    # -- cluster access ----------------------------------------------------------------------------------------
    def kubectl(self, *argv: str, stdin: str | None = None, attempts: int = 3) -> str:
        error = ""
        for attempt in range(attempts):
            result = subprocess.run([str(self.binaries / "kubectl"), f"--kubeconfig={self.kubeconfig}", *argv],
                                    input=stdin, capture_output=True, text=True, timeout=120)
            if result.returncode == 0:
                return result.stdout
            error = result.stderr.strip()
            time.sleep(2 * (attempt + 1))
        raise SoakError(f"kubectl {' '.join(argv)}: {error}")

    def helm(self, *argv: str) -> Any:
        result = subprocess.run([str(self.binaries / "helm"), "--kubeconfig", str(self.kubeconfig), *argv],
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise SoakError(f"helm {' '.join(argv)}: {result.stderr.strip()}")
        return json.loads(result.stdout)

    def get(self, path: str) -> Any:
        """GET `path`; None on 404. Retries while the API server is away (a restart fault)."""
        deadline = time.monotonic() + API_GRACE
        while True:
            try:
                status, body = self.api.request("GET", path, timeout=30)
            except OSError as error:  # refused, reset, timed out: URLError is one
                status, body = 0, str(error)
            if status == 200:
                return body
            if status == 404:
                return None
            if time.monotonic() > deadline:
                raise SoakError(f"GET {path}: {status} {str(body)[:300]}")
            time.sleep(1)

    def osdpl(self) -> dict[str, Any]:
        body: dict[str, Any] | None = self.get(
            f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/openstackdeployments/{self.name}")
        if body is None:
            raise SoakError(f"osdpl {self.namespace}/{self.name} is gone")
        return body

    def bundles(self) -> dict[str, dict[str, Any]]:
        """service -> HelmBundle of the osdpl (one being deleted left out)."""
        selector = urllib.parse.quote(f"openstack.osop.dev/osdpl={self.name}")
        items = self.get(f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/helmbundles?labelSelector={selector}")
        return {b["spec"]["service"]: b for b in (items or {}).get("items", [])
                if not b["metadata"].get("deletionTimestamp")}

    def deployment_exists(self, name: str) -> bool:
        return self.get(f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{name}") is not None

    # -- operator processes ------------------------------------------------------------------------------------
    def start(self, process: str) -> None:
        self.procs[process] = launch(process, self.kubeconfig, self.settings, self.logs / f"operator-{process}.log",
                                     code=self.code)

    def kill(self, process: str) -> None:
        proc = self.procs.pop(process)
        proc.kill()
        proc.wait()

    def stop(self) -> None:
        """Every operator process (SIGTERM, then SIGKILL), then any `helm` they left: only processes of this run
        carry its kubeconfig."""
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        for process in helm_processes():
            if environment(process.pid).get("KUBECONFIG") == str(self.kubeconfig):
                try:
                    os.kill(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # -- state -------------------------------------------------------------------------------------------------
    @staticmethod
    def condition(osdpl: Mapping[str, Any], kind: str) -> dict[str, Any]:
        conditions = (osdpl.get("status") or {}).get("conditions") or []
        found: dict[str, Any] = next((c for c in conditions if c.get("type") == kind), {})
        return found

    def reapply_request(self, osdpl: Mapping[str, Any]) -> str | None:
        value = (osdpl["metadata"].get("annotations") or {}).get(REAPPLY_ANNOTATION)
        return str(value) if value else None

    def settled_now(self) -> tuple[bool, str]:
        """Ready at the current generation, every bundle there and done with the current reapply request, no Helm
        operation running: what a round's faults asked for is done."""
        osdpl = self.osdpl()
        generation = osdpl["metadata"]["generation"]
        ready = self.condition(osdpl, "Ready")
        observed = (osdpl.get("status") or {}).get("observedGeneration")
        if ready.get("status") != "True" or observed != generation:
            return False, (f"Ready {ready.get('status')} ({ready.get('reason')}: {ready.get('message', '')[:200]}), "
                           f"observedGeneration {observed} of {generation}")
        reapply = self.reapply_request(osdpl)
        bundles = self.bundles()
        if self.services - set(bundles):
            return False, f"bundles missing: {', '.join(sorted(self.services - set(bundles)))}"
        for service, bundle in sorted(bundles.items()):
            if (bundle["spec"].get("reapply") or None) != reapply:
                return False, f"bundle {service} not at reapply {reapply}"
            statuses = (bundle.get("status") or {}).get("releases") or {}
            for release in bundle["spec"]["releases"]:
                if (statuses.get(release["name"], {}).get("applied_reapply") or None) != reapply:
                    return False, f"release {release['name']} not applied at reapply {reapply}"
        running = operations(self.namespace)
        if running:
            return False, "helm running: " + ", ".join(f"{p.operation} {p.release}" for p in running)
        return True, ""

    def settle(self, timeout: float) -> tuple[bool, str, float]:
        """(settled, the last reason not, seconds waited)."""
        began = time.monotonic()
        held: float | None = None
        detail = ""
        while time.monotonic() - began < timeout:
            done, detail = self.settled_now()
            now = time.monotonic()
            if not done:
                held = None
            elif held is None:
                held = now
            elif now - held >= HOLD_SECONDS:
                return True, "", held - began
            time.sleep(POLL_SECONDS)
        return False, detail, time.monotonic() - began

    def idle(self, service: str, release: str) -> bool:
        """Nothing works on `release` and nothing is about to: the osdpl applied its generation, the release's bundle
        is at its fingerprint and reapply request, its status shows it deployed, no helm runs on it."""
        osdpl = self.osdpl()
        status = osdpl.get("status") or {}
        if status.get("observedGeneration") != osdpl["metadata"]["generation"]:
            return False
        if ((status.get("children") or {}).get(service) or {}).get(release, {}).get("state") != "deployed":
            return False
        bundle = self.bundles().get(service)
        if bundle is None or (bundle["spec"].get("reapply") or None) != self.reapply_request(osdpl):
            return False
        spec = next((r for r in bundle["spec"]["releases"] if r["name"] == release), None)
        current = ((bundle.get("status") or {}).get("releases") or {}).get(release, {})
        return spec is not None and current.get("state") == "deployed" and \
            current.get("fingerprint") == spec["fingerprint"] and \
            (current.get("applied_reapply") or None) == (bundle["spec"].get("reapply") or None) and \
            not operations(self.namespace, release)

    @staticmethod
    def normalized(spec: Mapping[str, Any]) -> dict[str, Any]:
        """A bundle spec without what changes legitimately: fingerprints (values) and the user's requests."""
        result = {k: v for k, v in spec.items() if k not in ("reapply", "retry")}
        result["releases"] = [{k: v for k, v in r.items() if k != "fingerprint"} for r in spec.get("releases", [])]
        return result

    def credentials_data(self) -> dict[str, str]:
        secret = self.get(f"/api/v1/namespaces/{self.namespace}/secrets/{self.name}-credentials")
        data: dict[str, str] = (secret or {}).get("data") or {}
        return data

    # -- the first deployment ------------------------------------------------------------------------------------
    def deploy(self, timeout: float) -> float:
        self.kubectl("create", "namespace", self.namespace)
        began = time.monotonic()
        self.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(self.manifest))
        done, detail, _ = self.settle(timeout)
        if not done:
            raise SoakError(f"the first deployment is not Ready after {timeout:.0f} s: {detail}")
        elapsed = time.monotonic() - began
        bundles = self.bundles()
        self.services = set(bundles)
        self.releases = {r["name"] for b in bundles.values() for r in b["spec"]["releases"]}
        self.bundle_specs = {s: self.normalized(b["spec"]) for s, b in bundles.items()}
        self.credentials = self.credentials_data()
        if not self.credentials:
            raise SoakError(f"no credentials Secret {self.name}-credentials after the first deployment")
        listed = self.helm("list", "-a", "-n", self.namespace, "-o", "json")
        self.revisions = {r["name"]: int(r["revision"]) for r in listed}
        if set(self.revisions) != self.releases:
            raise SoakError(f"helm lists {sorted(self.revisions)}, the bundles name {sorted(self.releases)}")
        return elapsed

    # -- faults ----------------------------------------------------------------------------------------------------
    def pause(self) -> float:
        return 0.0 if self.rng.random() < 0.5 else round(self.rng.uniform(0.5, 5.0), 1)

    def fault_kill(self, current: Round) -> str:
        process, pause = self.rng.choice(PROCESSES), self.pause()
        self.kill(process)
        time.sleep(pause)
        self.start(process)
        return f"kill {process} (back after {pause:.1f} s)"

    def flip(self, release: str) -> str:
        service, chart, key = FLIPS[release]
        spec = self.osdpl()["spec"]
        replicas = (((((spec.get("services") or {}).get(service) or {}).get(chart) or {}).get("values") or {})
                    .get("pod") or {}).get("replicas") or {}
        value = 1 if replicas.get(key, 1) == 2 else 2
        patch = {"spec": {"services": {service: {chart: {"values": {"pod": {"replicas": {key: value}}}}}}}}
        self.kubectl("-n", self.namespace, "patch", "osdpl", self.name, "--type=merge", "--patch-file=/dev/stdin",
                     stdin=json.dumps(patch))
        return f"{chart} {key}={value}"

    def fault_spec(self, current: Round) -> str:
        return "spec " + self.flip(self.rng.choice(sorted(FLIPS)))

    def fault_workload(self, current: Round) -> str:
        osdpl = self.osdpl()
        candidates = sorted((service, release, *str(entry).split("/"))
                            for service, releases in ((osdpl.get("status") or {}).get("children") or {}).items()
                            for release, child in releases.items() for entry in child.get("workloads") or ()
                            if str(entry).count("/") == 3 and str(entry).split("/")[2] == "Deployment")
        if not candidates:
            raise SoakError("no Deployment recorded in status.children")
        service, release, application, component, _, name = self.rng.choice(candidates)
        # An upgrade of the release still under way would create it again before the health process can tell.
        deadline = time.monotonic() + IDLE_TIMEOUT
        while not self.idle(service, release):
            if time.monotonic() > deadline:
                self.notes.append(f"round {current.number}: Deployment {name} not deleted: {release} busy for "
                                  f"{IDLE_TIMEOUT:.0f} s")
                return ""
            time.sleep(POLL_SECONDS)
        self.kubectl("-n", self.namespace, "delete", "deployment", name)
        deleted = time.monotonic()
        current.deleted.append(name)
        seen = ""
        while time.monotonic() - deleted < MISSING_WITHIN:
            osdpl = self.osdpl()
            ready = self.condition(osdpl, "Ready")
            entry = (((osdpl.get("status") or {}).get("health") or {}).get(application) or {}).get(component) or {}
            if ready.get("status") == "False" and entry.get("state") == UNHEALTHY and \
                    "missing" in entry.get("reason", ""):
                seen = f"not Ready after {time.monotonic() - deleted:.1f} s"
                break
            time.sleep(POLL_SECONDS)
        if not seen:
            osdpl = self.osdpl()
            ready = self.condition(osdpl, "Ready")
            self.record("g", f"Deployment {name} deleted: Ready not False naming it missing within "
                             f"{MISSING_WITHIN:.0f} s (Ready {ready.get('status')} {ready.get('reason')}: "
                             f"{ready.get('message', '')[:150]}; health {application}/{component}: "
                             f"{json.dumps(((osdpl.get('status') or {}).get('health') or {}).get(application))})")
            seen = "Ready not False"
        self.reapplies += 1
        self.kubectl("-n", self.namespace, "annotate", "osdpl", self.name,
                     f"{REAPPLY_ANNOTATION}=soak-{current.number}-{self.reapplies}", "--overwrite")
        return f"workload {name} ({seen}; reapply)"

    def fault_apiserver(self, current: Round) -> str:
        down = round(self.rng.uniform(1.0, 5.0), 1)
        self.cluster.restart_apiserver(down_seconds=down)
        return f"apiserver down {down:.1f} s"

    def fault_bundle_delete(self, current: Round) -> str:
        service = self.rng.choice(sorted(self.services))
        self.kubectl("-n", self.namespace, "delete", "helmbundle", f"{self.name}-{service}", "--wait=false",
                     "--ignore-not-found")
        return f"bundle-delete {service}"

    def fault_bundle_edit(self, current: Round) -> str:
        service = self.rng.choice(sorted(self.services))
        index = self.rng.randrange(len(self.bundle_specs[service]["releases"]))
        extra = self.rng.randint(1, 300)
        deadline = time.monotonic() + 60
        while True:
            bundle = self.bundles().get(service)  # deleted by an earlier fault: written again soon
            if bundle is not None:
                release = bundle["spec"]["releases"][index]
                value = int(release.get("timeout_seconds", 600)) + extra
                path = f"/spec/releases/{index}"
                patch = [{"op": "test", "path": f"{path}/name", "value": release["name"]},
                         {"op": "add", "path": f"{path}/timeout_seconds", "value": value}]
                result = subprocess.run([str(self.binaries / "kubectl"), f"--kubeconfig={self.kubeconfig}", "-n",
                                         self.namespace, "patch", "helmbundle", f"{self.name}-{service}",
                                         "--type=json", "--patch-file=/dev/stdin"], input=json.dumps(patch),
                                        capture_output=True, text=True, timeout=120)
                if result.returncode == 0:
                    return f"bundle-edit {release['name']} timeout_seconds={value}"
            if time.monotonic() > deadline:
                self.notes.append(f"round {current.number}: bundle {service} not edited: not there for 60 s")
                return ""
            time.sleep(POLL_SECONDS)

    def fault_kill_mid_helm(self, current: Round) -> str:
        release = self.rng.choice(sorted(FLIPS))
        pause = self.pause()
        change = self.flip(release)
        deadline = time.monotonic() + 60
        running: list[HelmProcess] = []
        owner = f"{self.procs['helmbundle'].pid}:"  # not the orphan of an earlier kill, still running
        while time.monotonic() < deadline and not running:
            running = [p for p in operations(self.namespace, release) if p.operation in ("upgrade", "install")
                       and environment(p.pid).get(OWNER_ENV, "").startswith(owner)]
            time.sleep(0.1)
        self.kill("helmbundle")
        left = [p.pid for p in running if start_time(p.pid) == p.started]
        time.sleep(pause)
        self.start("helmbundle")
        if not running:
            self.notes.append(f"round {current.number}: kill-mid-helm: no helm on {release} within 60 s of the "
                              f"change; killed anyway")
        what = f"helm {running[0].operation} pid {running[0].pid}, left running: {len(left)}" if running \
            else "no helm seen"
        return f"kill-mid-helm {change} ({what}; back after {pause:.1f} s)"

    def inject(self, kind: str, current: Round) -> None:
        faults: dict[str, Callable[[Round], str]] = {
            "kill": self.fault_kill, "spec": self.fault_spec, "workload": self.fault_workload,
            "apiserver": self.fault_apiserver, "bundle-delete": self.fault_bundle_delete,
            "bundle-edit": self.fault_bundle_edit, "kill-mid-helm": self.fault_kill_mid_helm}
        self.log_fault(f"inject {kind}")
        done = faults[kind](current)
        if done:
            self.counts[kind] += 1
            current.done.append(done)
            self.log_fault(f"injected: {done}")

    # -- invariants after settling ---------------------------------------------------------------------------------
    def check(self, current: Round) -> None:
        listed = {r["name"]: r for r in self.helm("list", "-a", "-n", self.namespace, "-o", "json")}
        if set(listed) != self.releases:
            self.record("b", f"helm lists {sorted(listed)}; expected {sorted(self.releases)}")
        # Settled means no helm runs; a release not deployed now stays so. Say so, and what each side believes.
        deadline = time.monotonic() + 30
        while any(r["status"] != "deployed" for r in listed.values()) and time.monotonic() < deadline:
            time.sleep(2)
            listed = {r["name"]: r for r in self.helm("list", "-a", "-n", self.namespace, "-o", "json")}
        for name, release in sorted(listed.items()):
            revision = int(release["revision"])
            if release["status"] != "deployed":
                self.record("b", f"release {name} is {release['status']} at revision {revision} for 30 s after "
                                 f"settling; {self.release_evidence(name)}")
            if revision < self.revisions.get(name, 0):
                self.record("b", f"release {name} at revision {revision}, was {self.revisions[name]}: "
                                 f"uninstalled and installed again")
            self.revisions[name] = max(revision, self.revisions.get(name, 0))
        if self.credentials_data() != self.credentials:
            self.record("c", f"Secret {self.name}-credentials data differs from the first deployment's")
        self.check_orphans()
        bundles = self.bundles()
        for service in sorted(self.services - set(bundles)):
            self.record("f", f"bundle {self.name}-{service} missing")
        for service, bundle in sorted(bundles.items()):
            statuses = (bundle.get("status") or {}).get("releases") or {}
            for release in bundle["spec"]["releases"]:
                status = statuses.get(release["name"], {})
                if status.get("state") != "deployed" or status.get("fingerprint") != release["fingerprint"]:
                    self.record("f", f"bundle {service}: release {release['name']} {status.get('state')} at "
                                     f"{status.get('fingerprint')}, spec {release['fingerprint']}")
        for name in current.deleted:
            if not self.deployment_exists(name):
                self.record("g", f"Deployment {name} not there again after the reapply")
        # (h) A hand edit is put back within moments; allow a little time for an osdpl process just restarted.
        deadline = time.monotonic() + 30
        while True:
            differ = sorted(s for s, b in self.bundles().items()
                            if self.normalized(b["spec"]) != self.bundle_specs.get(s))
            if not differ or time.monotonic() > deadline:
                break
            time.sleep(1)
        for service in differ:
            self.record("h", f"bundle {self.name}-{service} spec not as the osdpl process writes it 30 s after "
                             f"settling")

    def release_evidence(self, name: str) -> str:
        """Helm's last revisions of `name` and what its bundle's status and spec say."""
        history = self.helm("history", name, "-n", self.namespace, "-o", "json", "--max", "4")
        revisions = ", ".join(f"{h['revision']} {h['status']} ({h.get('description', '')})" for h in history)
        for service, bundle in self.bundles().items():
            spec = next((r for r in bundle["spec"]["releases"] if r["name"] == name), None)
            if spec is not None:
                status = ((bundle.get("status") or {}).get("releases") or {}).get(name, {})
                return (f"helm history: {revisions}; bundle {service} status: {status.get('state')} revision "
                        f"{status.get('revision')} fingerprint {status.get('fingerprint')}, spec fingerprint "
                        f"{spec['fingerprint']}")
        return f"helm history: {revisions}; in no bundle"

    def check_orphans(self) -> None:
        """(e) no `helm` of this run whose starter is gone."""
        for process in helm_processes():
            env = environment(process.pid)
            tag = env.get(OWNER_ENV)
            if env.get("KUBECONFIG") != str(self.kubeconfig) or not tag:
                continue
            pid, _, started = tag.partition(":")
            if not pid.isdigit() or start_time(int(pid)) != started:
                self.record("e", f"helm pid {process.pid} ({process.operation or process.argv[1:2]} "
                                 f"{process.release}) outlived its starter {tag}")

    # -- rounds ------------------------------------------------------------------------------------------------
    def run(self, faults: int, per_round: int, time_limit: float) -> int:
        rounds = math.ceil(faults / per_round)
        began = time.monotonic()
        unsettled = 0
        for number in range(1, rounds + 1):
            if time.monotonic() - began > time_limit:
                self.notes.append(f"time limit {time_limit:.0f} s reached: {number - 1} of {rounds} rounds run")
                return number - 1
            self.round = number
            current = Round(number)
            count = min(per_round, faults - (number - 1) * per_round)
            kinds = [self.rng.choice(KINDS) for _ in range(count)]
            injected = time.monotonic()
            for kind in kinds:
                self.inject(kind, current)
            broken_before = len(self.broken)
            done, detail, waited = self.settle(self.settle_timeout)
            if done:
                unsettled = 0
                self.check(current)
                outcome = f"settled in {waited:.1f} s"
            else:
                unsettled += 1
                self.record("a", f"not settled {self.settle_timeout:.0f} s after the round's faults: {detail}")
                if self.credentials_data() != self.credentials:
                    self.record("c", f"Secret {self.name}-credentials data differs from the first deployment's")
                outcome = "NOT settled"
            self.log_fault(f"round over: {outcome}")
            progress(f"round {number}/{rounds} ({time.monotonic() - injected:.0f} s): {'; '.join(current.done)} "
                     f"-> {outcome}, {len(self.broken) - broken_before} broken")
            if unsettled >= UNSETTLED_LIMIT:
                self.notes.append(f"aborted after {UNSETTLED_LIMIT} rounds in a row that did not settle")
                return number
        return rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", type=int, default=200, help="faults injected in all (default 200)")
    parser.add_argument("--per-round", type=int, default=10, help="faults per round (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault choices (default 1)")
    parser.add_argument("--settle-timeout", type=float, default=300.0,
                        help="seconds a round may take to settle (default 300)")
    parser.add_argument("--deploy-timeout", type=float, default=600.0,
                        help="seconds the first deployment may take (default 600)")
    parser.add_argument("--time-limit", type=float, default=4 * 3600.0,
                        help="no round starts after this many seconds (default 4 h)")
    parser.add_argument("--keep", action="store_true", help="keep the logs folder even when nothing broke")
    args = parser.parse_args()
    if args.faults < 1 or args.per_round < 1:
        parser.error("--faults and --per-round must be positive")

    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="osop-soak-"))
    cluster = Cluster(workdir / "cluster")
    soak: Soak | None = None
    rounds = 0
    error = ""
    progress(f"fault soak: seed {args.seed}, {args.faults} faults, {args.per_round} per round; work folder {workdir}")
    try:
        cluster.up()
        with chart_repository() as chart_url:
            soak = Soak(cluster, workdir, chart_url, f"soak-{random.Random().getrandbits(24):06x}",
                        random.Random(args.seed), args.settle_timeout)
            crds.install(soak.binaries / "kubectl", soak.kubeconfig)
            soak.sampler.start()
            for process in PROCESSES:
                soak.start(process)
            try:
                deployed = soak.deploy(args.deploy_timeout)
                progress(f"first deployment Ready in {deployed:.1f} s: {len(soak.releases)} releases, "
                         f"{len(soak.services)} bundles")
                rounds = soak.run(args.faults, args.per_round, args.time_limit)
            finally:
                soak.sampler.stopping.set()
                soak.sampler.join()
                soak.stop()
    except (SoakError, ClusterError, subprocess.TimeoutExpired, OSError) as failure:
        error = f"{type(failure).__name__}: {failure}"
        for log in sorted((workdir / "logs").glob("*.log")):
            print(f"== {log.name}\n" + "\n".join(log.read_text().splitlines()[-20:]), file=sys.stderr)
    finally:
        cluster.down()

    broken = soak.broken if soak is not None else []
    counts = soak.counts if soak is not None else Counter()
    failed = bool(broken or error)
    print(f"machine: {describe()}")
    print(f"load average at end: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    kinds = ", ".join(f"{kind} {counts[kind]}" for kind in KINDS)
    print(f"fault soak: {sum(counts.values())} faults injected ({kinds}), {rounds} rounds, {len(broken)} broken "
          f"invariants, {time.monotonic() - began:.0f} s")
    for item in broken:
        print(f"  broken: {item}")
    for note in soak.notes if soak is not None else []:
        print(f"  note: {note}")
    if soak is not None:
        print(f"  helm sampler: {soak.sampler.samples} samples of /proc")
    if error:
        print(f"  error: {error}")
    if failed or args.keep:
        print(f"  logs: {workdir / 'logs'} (operators, soak.log) and {cluster.logs} (control plane)")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
