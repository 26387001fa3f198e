"""Fixtures for tests against a real kube-apiserver: the project's local control plane (devcluster), or the
cluster of $KUBECONFIG when OSOP_USE_EXISTING_CLUSTER=1. Every test gets its own namespace."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

import pytest
import yaml

from devcluster import Cluster
from devcluster.binaries import bin_dir
from devcluster.charts import chart_repository as serve_chart_repository
from devcluster.crds import install as crds_install
from devcluster.operators import launch
from devcluster.processes import free_port
from openstack_operator.cli import PROCESSES
from openstack_operator.core.apigroup import GROUP
from openstack_operator.core.settings import Settings

from .. import operator_chart, polling
from ..osdpl_cases import EXAMPLES

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a real Kubernetes API server")


class Kubectl:
    """The pinned kubectl against the test cluster."""

    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary, self.kubeconfig = binary, kubeconfig

    def run(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(self.binary), f"--kubeconfig={self.kubeconfig}", *args], input=input,
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)


@pytest.fixture(scope="session")
def binaries() -> Path:
    return bin_dir()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster | None]:
    """The local control plane of the session; None on the cluster of $KUBECONFIG (OSOP_USE_EXISTING_CLUSTER=1)."""
    if os.environ.get("OSOP_USE_EXISTING_CLUSTER") == "1":
        yield None
        return
    local = Cluster(tmp_path_factory.mktemp("devcluster"))
    try:
        local.up()
        yield local
    finally:
        local.down()


@pytest.fixture(scope="session")
def kubeconfig(cluster: Cluster | None) -> Path:
    return cluster.kubeconfig if cluster is not None else Path(os.environ["KUBECONFIG"])


class AuditLog:
    """The local control plane's audit log of API writes (see devcluster), read as the API server wrote it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _events(self, since: float) -> list[tuple[dict[str, Any], float]]:
        """(event, completion time in epoch seconds) of every write completed after `since`. The API server writes
        the log in batches: this reads until two reads 2 s apart agree."""
        previous: list[tuple[dict[str, Any], float]] | None = None
        deadline = time.monotonic() + 15
        while True:
            events = []
            for line in self.path.read_text().splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # the batch being written right now
                stamp = datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00")).timestamp()
                if stamp >= since:
                    events.append((event, stamp))
            if events == previous or time.monotonic() > deadline:
                return events
            previous = events
            time.sleep(2)

    def status_patches(self, namespace: str, resource: str, since: float) -> dict[str, int]:
        """PATCHes of `resource`/status in `namespace` completed after `since` (epoch seconds), by user agent."""
        counts: dict[str, int] = {}
        for event, _ in self._events(since):
            ref = event.get("objectRef") or {}
            if (event.get("verb"), ref.get("resource"), ref.get("subresource"), ref.get("namespace")) == \
                    ("patch", resource, "status", namespace):
                agent = event.get("userAgent", "").split(" ")[0]
                counts[agent] = counts.get(agent, 0) + 1
        return counts

    def deletions(self, namespace: str, resource: str, since: float) -> dict[str, float]:
        """name -> when (epoch seconds) each `resource` object of `namespace` was deleted after `since`, the last
        deletion if several."""
        found: dict[str, float] = {}
        for event, stamp in self._events(since):
            ref = event.get("objectRef") or {}
            if (event.get("verb"), ref.get("resource"), ref.get("namespace")) == ("delete", resource, namespace) \
                    and ref.get("name"):
                found[ref["name"]] = max(found.get(ref["name"], 0.0), stamp)
        return found

    def writes(self, namespace: str, resource: str, names: Iterable[str], since: float) -> int:
        """Writes of any verb to the `resource` objects `names` of `namespace` after `since`."""
        wanted = set(names)
        return sum(1 for event, _ in self._events(since)
                   if ((event.get("objectRef") or {}).get("resource"), (event.get("objectRef") or {}).get("namespace"),
                       (event.get("objectRef") or {}).get("name")) in {(resource, namespace, n) for n in wanted})


@pytest.fixture(scope="session")
def audit_log(kubeconfig: Path) -> AuditLog | None:
    """None on a cluster of $KUBECONFIG (OSOP_USE_EXISTING_CLUSTER=1): its audit log is not ours to read."""
    path = kubeconfig.parent / "logs" / "audit.log"
    return AuditLog(path) if os.environ.get("OSOP_USE_EXISTING_CLUSTER") != "1" and path.exists() else None


@pytest.fixture(scope="session")
def kubectl(binaries: Path, kubeconfig: Path) -> Kubectl:
    return Kubectl(binaries / "kubectl", kubeconfig)


# The storage side's namespace of this session (the operator chart's ceph.namespace: the one namespace besides a
# deployment's own that its features.ceph Secrets may name).
STORAGE_NAMESPACE = f"t-storage-{uuid.uuid4().hex[:8]}"


@contextmanager
def temporary_namespace(kubectl: Kubectl, prefix: str = "t") -> Iterator[str]:
    """A new namespace, deleted (without waiting) afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false")


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    with temporary_namespace(kubectl) as name:
        yield name


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> None:
    crds_install(kubectl.binary, kubectl.kubeconfig)


@pytest.fixture(scope="session")
def chart_repository() -> Iterator[str]:
    """The OpenStack-Helm chart set the catalog pins, served as a chart repository on loopback for the session
    (devcluster.charts: the shared chart set, or the pinned charts mirrored into the per-user cache)."""
    with serve_chart_repository() as url:
        yield url


# -- the operator's identities, from its chart ------------------------------------------------------------------
OPERATOR_NAMESPACE = "openstack-operator"  # where the chart is installed: the ServiceAccounts and the leader Leases
RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


class Identities:
    """Per process: a kubeconfig holding its own ServiceAccount's token (the chart's RBAC), not the admin's."""

    def __init__(self, kubeconfigs: dict[str, Path]) -> None:
        self.kubeconfigs = kubeconfigs


def _token_kubeconfig(admin: Path, token: str, path: Path) -> Path:
    config = yaml.safe_load(admin.read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [cluster], "current-context": "operator",
        "contexts": [{"name": "operator", "context": {"cluster": cluster["name"], "user": "operator"}}],
        "users": [{"name": "operator", "user": {"token": token}}]}))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def identities(kubectl: Kubectl, binaries: Path, kubeconfig: Path, crds: None,
               tmp_path_factory: pytest.TempPathFactory) -> Identities:
    """The chart's ServiceAccounts and RBAC, applied as `helm install` would, and a token for each process.

    The chart binds each process's namespaced rules in the namespaces of its `namespaces` value (and the processes
    watch only those); the tests make a namespace per test, which no install-time list can name, so here the same
    ClusterRole is bound cluster-wide instead and the processes watch every namespace. The scope is what
    tests/integration/test_rbac.py checks, with the chart's own RoleBindings; test_image.py runs a process that
    watches one namespace."""
    if kubectl.run("get", "namespace", OPERATOR_NAMESPACE, check=False).returncode != 0:
        kubectl.run("create", "namespace", OPERATOR_NAMESPACE)
    # all but the RoleBindings in the deployment namespaces (the chart refuses an empty `namespaces`)
    docs = [d for d in operator_chart.render(binaries / "helm") if d["kind"] in RBAC_KINDS
            and d["metadata"].get("namespace", OPERATOR_NAMESPACE) == OPERATOR_NAMESPACE]
    accounts = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d["metadata"]["name"]
                for d in docs if d["kind"] == "ServiceAccount"}
    for process, account in accounts.items():
        role = operator_chart.cluster_role(docs, process, "namespaced")["metadata"]["name"]
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                     "metadata": {"name": f"e2e-every-test-namespace-{process}"},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                     "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": OPERATOR_NAMESPACE}]})
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", "-",
                input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
    folder = tmp_path_factory.mktemp("identities")
    kubeconfigs = {}
    for process, account in accounts.items():
        token = kubectl.run("-n", OPERATOR_NAMESPACE, "create", "token", account, "--duration=48h").stdout.strip()
        kubeconfigs[process] = _token_kubeconfig(kubeconfig, token, folder / f"{process}.kubeconfig")
    return Identities(kubeconfigs)


class Operators:
    """The operator processes, run as users run them (`python -m openstack_operator <process>`), against the test
    cluster, each with its own ServiceAccount's token (so a permission the chart lacks fails a test), with a leader
    election as in the chart, the session's chart repository as chart source
    and a chart cache of their own. Logs go to one file per process. A process that exits by itself (a lost
    lease: the API server was away too long) is started again a second later, as the kubelet restarts a pod's
    container."""

    PROCESSES = PROCESSES
    RESTART_DELAY_SECONDS = 1.0
    HEALTH_GRACE_SECONDS = 5  # no progress for longer is Unhealthy: short, so tests see it within seconds
    RETRY_MAX_SECONDS = 20  # the longest wait between two attempts at a failing release: tests see recovery soon
    HEALTH_RESYNC_SECONDS = 10
    SECRETS_RESYNC_SECONDS = 5  # the Ceph keys and the public certificate are looked at again this often
    REFERENCES_RECHECK_SECONDS = 5  # and the Secrets a spec references
    REPORT_RECHECK_SECONDS = 2  # and a Job report the next render needs (octavia's bootstrap)

    def __init__(self, identities: Identities, helm: Path, logs: Path, chart_source: str, chart_cache: Path) -> None:
        self.kubeconfigs = identities.kubeconfigs
        self.settings = Settings(
            helm=str(helm), leader_election_namespace=OPERATOR_NAMESPACE, chart_source=chart_source,
            chart_cache=str(chart_cache), metrics_address="127.0.0.1",
            health_grace_seconds=self.HEALTH_GRACE_SECONDS, retry_max_seconds=self.RETRY_MAX_SECONDS,
            health_resync_seconds=self.HEALTH_RESYNC_SECONDS, secrets_resync_seconds=self.SECRETS_RESYNC_SECONDS,
            references_recheck_seconds=self.REFERENCES_RECHECK_SECONDS,
            report_recheck_seconds=self.REPORT_RECHECK_SECONDS, ceph_namespaces=(STORAGE_NAMESPACE,))
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.overrides: dict[str, dict[str, str]] = {}  # the `env` each running process was started with
        self.metrics_ports = {name: free_port() for name in self.PROCESSES}  # kept across restarts
        self._lock = threading.Lock()  # procs: the tests' thread and the supervisor's
        self._stopped = threading.Event()
        threading.Thread(target=self._supervise, name="operators-supervisor", daemon=True).start()

    def start(self, only: str = "", **env: str) -> None:
        """Start every process (or `only` that one) that is not running; `env` overrides the environment of the
        processes started by this call."""
        with self._lock:
            for name in [only] if only else self.PROCESSES:
                if name not in self.procs:
                    self._start(name, env)

    @staticmethod
    def identity(name: str) -> str:
        """The Lease identity of process `name`'s primary: the same across its restarts, as a pod's name is across
        its container's restarts, so a restarted primary takes its own Lease back at once instead of waiting out
        the lease of its killed self. Replicas (`replica`) keep the host-and-pid identity."""
        return f"e2e-{name}-0"

    def _start(self, name: str, env: dict[str, str]) -> None:
        with (self.logs / f"{name}.log").open("ab") as log:
            self.procs[name] = self.spawn(name, self.metrics_ports[name], log,
                                          **{"OSOP_POD_NAME": self.identity(name), **env})
        self.overrides[name] = env

    def _supervise(self) -> None:
        while not self._stopped.wait(self.RESTART_DELAY_SECONDS):
            with self._lock:
                for name, proc in list(self.procs.items()):
                    if proc.poll() is not None:
                        with (self.logs / f"{name}.log").open("a") as log:
                            log.write(f"== exited with {proc.returncode}: started again\n")
                        self._start(name, self.overrides[name])

    def spawn(self, name: str, metrics_port: int, log: IO[bytes], **env: str) -> subprocess.Popen[bytes]:
        """One replica of process `name`, with its own ServiceAccount's kubeconfig; `env` (raw `OSOP_*` variables, as
        a test overrides them) goes on top of the settings."""
        return launch(name, self.kubeconfigs[name], replace(self.settings, metrics_port=metrics_port), log, env)

    def kill(self, only: str = "") -> None:
        """SIGKILL (every process, or `only` that one): no clean shutdown, as a crashed or evicted pod."""
        with self._lock:
            for name in [only] if only else list(self.procs):
                proc = self.procs.pop(name)
                proc.kill()
                proc.wait()

    def replica(self, name: str) -> tuple[subprocess.Popen[bytes], int]:
        """A second replica of process `name` (a standby while the first leads), logging to `<name>-replica.log`;
        returns it and its metrics port. The caller stops it."""
        port = free_port()
        with (self.logs / f"{name}-replica.log").open("ab") as log:
            return self.spawn(name, port, log), port

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            for proc in self.procs.values():
                proc.terminate()
            for proc in self.procs.values():
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self.procs.clear()

    def metrics(self, name: str) -> str:
        """The process's /metrics, as Prometheus scrapes it."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_ports[name]}/metrics", timeout=10) as response:
            text: str = response.read().decode()
        return text

    def log_text(self, full: bool = False) -> str:
        """Every process's log: its last 4000 characters (for a failure message), or all of it."""
        return "\n".join(f"== {p.name}\n{p.read_text() if full else p.read_text()[-4000:]}"
                         for p in sorted(self.logs.glob("*.log")))


@pytest.fixture(scope="session")
def operators(identities: Identities, binaries: Path, chart_repository: str,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operators]:
    running = Operators(identities, binaries / "helm", tmp_path_factory.mktemp("operator-logs"), chart_repository,
                        tmp_path_factory.mktemp("chart-cache"))
    running.start()
    yield running
    running.stop()


@pytest.fixture
def debug_operators(operators: Operators) -> Iterator[Operators]:
    """Every process at DEBUG for one test (tests of what must never be logged, at the strictest level)."""
    operators.kill()
    operators.start(OSOP_LOG_LEVEL="DEBUG")
    yield operators
    operators.kill()
    operators.start()


class Helm:
    """The pinned helm binary against the test cluster, for checking what the operator did."""

    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary, self.kubeconfig = binary, kubeconfig

    def releases(self, namespace: str) -> dict[str, dict[str, Any]]:
        result = subprocess.run([str(self.binary), "--kubeconfig", str(self.kubeconfig), "list", "-a", "-n",
                                 namespace, "-o", "json"], capture_output=True, text=True, check=True, timeout=60)
        return {r["name"]: r for r in json.loads(result.stdout)}

    def history(self, namespace: str, release: str) -> list[dict[str, Any]]:
        result = subprocess.run([str(self.binary), "--kubeconfig", str(self.kubeconfig), "history", release, "-n",
                                 namespace, "-o", "json"], capture_output=True, text=True, check=True, timeout=60)
        history: list[dict[str, Any]] = json.loads(result.stdout)
        return history


    def manifest(self, namespace: str, release: str) -> list[dict[str, Any]]:
        """The objects the release's current revision installed, hooks aside (`helm get manifest`)."""
        result = subprocess.run([str(self.binary), "--kubeconfig", str(self.kubeconfig), "get", "manifest", release,
                                 "-n", namespace], capture_output=True, text=True, check=True, timeout=60)
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    def revisions(self, namespace: str) -> dict[str, int]:
        """release -> its current revision."""
        return {name: int(r["revision"]) for name, r in self.releases(namespace).items()}


@pytest.fixture(scope="session")
def helm(binaries: Path, kubeconfig: Path) -> Helm:
    return Helm(binaries / "helm", kubeconfig)


# -- the shared deployment ------------------------------------------------------------------------------------
CORE_RELEASES = {"openstack-mariadb", "openstack-rabbitmq", "openstack-memcached", "openstack-keystone",
                 "openstack-glance", "openstack-placement", "openstack-openvswitch", "openstack-neutron",
                 "openstack-horizon"}
TIMEOUT = 240.0
DEPLOY_TIMEOUT = 600.0  # a whole deployment of the real charts, hook Jobs included, on 2 cores


def wait_for(what: str, check: Callable[[], Any], operators: Operators, timeout: float = TIMEOUT,
             describe: Callable[[], Any] = lambda: "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    for pause in polling.pauses():
        if time.monotonic() >= deadline:
            break
        last = check()
        if last:
            return last
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}\n{describe()}\n{operators.log_text()}")


class Deployment:
    """One osdpl in its own namespace, read and changed through kubectl as a user would."""

    def __init__(self, kubectl: Kubectl, namespace: str, manifest: dict[str, Any]) -> None:
        self.kubectl, self.namespace, self.manifest = kubectl, namespace, manifest
        self.name = manifest["metadata"]["name"]

    def apply(self) -> None:
        self.manifest["metadata"]["namespace"] = self.namespace
        self.kubectl.run("apply", "--server-side", "-f", "-", input=json.dumps(self.manifest))

    def reset(self) -> None:
        """Back to the base manifest: the spec replaced whole (an apply would keep fields that patches set)."""
        found = self.kubectl.run("-n", self.namespace, "get", "osdpl", self.name, "-o", "json", "--ignore-not-found")
        body = json.loads(found.stdout) if found.stdout.strip() else None
        if body is None or body["metadata"].get("deletionTimestamp"):
            if body is not None:  # a deletion under way finishes first
                self.kubectl.run("-n", self.namespace, "wait", "--for=delete", f"osdpl/{self.name}", "--timeout=110s")
            self.apply()
            return
        # A JSON patch replaces the spec whole and the server retries it on conflict; kubectl replace would
        # read the resourceVersion first and fail when a status write comes in between. The operator's
        # annotations a test set (reapply, restore, rotate) go too: a later test must not inherit a request.
        patch: list[dict[str, Any]] = [{"op": "replace", "path": "/spec", "value": self.manifest["spec"]}]
        base = self.manifest["metadata"].get("annotations") or {}
        patch += [{"op": "remove", "path": f"/metadata/annotations/{key.replace('/', '~1')}"}
                  for key in (body["metadata"].get("annotations") or {})
                  if key.startswith(f"{GROUP}/") and key not in base]
        self.kubectl.run("-n", self.namespace, "patch", "osdpl", self.name, "--type=json", "--patch-file=/dev/stdin",
                         input=json.dumps(patch))

    def get(self) -> dict[str, Any]:
        result: dict[str, Any] = self.kubectl.json("-n", self.namespace, "get", "osdpl", self.name)
        return result

    def merge_patch(self, patch: dict[str, Any]) -> None:
        self.kubectl.run("-n", self.namespace, "patch", "osdpl", self.name, "--type=merge", "--patch-file=/dev/stdin",
                         input=json.dumps(patch))

    def condition(self, kind: str) -> dict[str, Any]:
        conditions = (self.get().get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == kind), {})

    def ready_at_generation(self) -> bool:
        osdpl = self.get()
        status = osdpl.get("status") or {}
        ready: dict[str, Any] = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
        return ready.get("status") == "True" and status.get("observedGeneration") == osdpl["metadata"]["generation"]


def minimal(name: str) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())
    manifest["metadata"]["name"] = name
    return manifest


@pytest.fixture(scope="session")
def shared(kubectl: Kubectl, operators: Operators) -> Iterator[Deployment]:
    namespace = f"e2e-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", namespace)
    yield Deployment(kubectl, namespace, minimal("osh-dev"))
    kubectl.run("delete", "namespace", namespace, "--wait=false")


@pytest.fixture
def deployment(shared: Deployment, operators: Operators) -> Deployment:
    """The shared deployment at its base manifest and Ready, whatever ran before."""
    shared.reset()
    wait_for("Ready at the base manifest", shared.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
             describe=lambda: (shared.get().get("status") or {}).get("conditions"))
    return shared
