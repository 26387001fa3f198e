"""The one shape of every operator process.

A process is a `Process`: its Kopf registry, and a function that builds its controller once at start-up from the
`Runtime` (the process's name, the catalog, the settings read once from the environment). The controller is kept
on the runtime, which Kopf's memo carries to every handler (each object's memo is a shallow copy of the
operator's, so they all share the one runtime): no module globals, and a test builds a controller with fakes and
no Kopf at all. `Process.controller(memo)` hands it to a handler; `start` and `stop` run on Kopf's event loop.

Threading rule, the same in every process: Kopf's handlers and the controllers' work queues run on Kopf's event
loop, and a controller's state is only touched there, so it needs no lock. Every blocking call (pykube's HTTP, file
and Secret reads) is made through a gateway of kube/ whose async methods run it in a worker thread
(`asyncio.to_thread`), one call per hop. A whole reconcile in a thread would have to copy Kopf's live indexes
(changed on the loop while the thread reads them) and lock the controller's caches; per call, it needs neither,
and a slow API server holds one worker of the queue, never the loop.

Error-to-retry policy, the same in every process: a failure a person must see (a refused write, a Helm error) is
reported by the controller on the object's status and retried after `Runtime.retry_delay(attempts)`; anything else
raised from a work item is logged by the queue and retried after the same delays (core.runtime.retry).

Each process has its own finalizer and annotation prefix, so two processes never act on each other's marks.
Handlers are `on.event` only, so Kopf itself writes nothing on the objects (no diff-base annotation: a large spec
cannot overflow the 256 KiB annotation limit); each controller keeps its own state on the status it owns.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Generic, Hashable, Protocol, TypeVar, cast

import kopf
from pykube.exceptions import PyKubeError

from openstack_operator.core.apigroup import API_VERSION, GROUP
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.runtime.leader import REQUEST_SECONDS
from openstack_operator.core.runtime.liveness import Heartbeat
from openstack_operator.core.runtime.retry import retry_delay
from openstack_operator.core.runtime.workqueue import WorkQueue
from openstack_operator.core.settings import Settings
from openstack_operator.kube import metrics
from openstack_operator.kube.client import api, identify, kopf_session
from openstack_operator.kube.decoding import decode_any_depth
from openstack_operator.kube.leader import election, identity

log = logging.getLogger("osop.operator")
DISCOVERY_RETRY_SECONDS = 2.0
SERVED = {"openstackdeployments", "helmbundles", "nodemaintenancerequests"}

# A watch that stays silent this long is re-established; the API server ends each watch well before that.
WATCH_SERVER_TIMEOUT = 300
WATCH_CLIENT_TIMEOUT = 330
# Watches are reads, left long; every other Kopf request (its few writes among them) is bounded like pykube's, so no
# write sent while leading is still under way once a standby may take over (core.runtime.leader).
CONNECT_TIMEOUT = REQUEST_SECONDS

K = TypeVar("K", bound=Hashable)


class Controller(Protocol):
    """What a process's controller offers the process: started and stopped on Kopf's event loop."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


C = TypeVar("C", bound=Controller)


@dataclass
class Runtime:
    """What a process is given at start-up, and the controller built from it."""
    process: str
    catalog: Catalog
    settings: Settings
    controller: Controller | None = None

    def retry_delay(self, attempts: int) -> float:
        """Seconds before the next attempt after `attempts` failures in a row (jittered, capped by the settings)."""
        return retry_delay(attempts, self.settings.retry_max_seconds)

    def queue(self, work: Callable[[K], Awaitable[float | None]], workers: int,
              describe: Callable[[K], str], group: Callable[[K], Hashable] | None = None) -> WorkQueue[K]:
        """The process's work queue: failures logged naming the key (`describe`) and retried by the one policy,
        durations and depth exported as metrics; `workers` per `group` of keys, if given (core.runtime.workqueue)."""
        def failed(key: K, error: BaseException) -> None:
            log.error("%s: %s: %s: %s", self.process, describe(key), type(error).__name__, error)

        queue = WorkQueue(work, workers, failed, metrics.reconcile_observer(self.process), self.retry_delay, group)
        metrics.watch_queue(self.process, queue)
        return queue


class Process(Generic[C]):
    """One operator process: its Kopf registry, and how its controller is built at start-up."""

    def __init__(self, name: str, build: Callable[[Runtime, kopf.OperatorSettings], C]) -> None:
        self.name = name
        self.registry = _new_registry(name)

        @kopf.on.startup(registry=self.registry)
        async def start_controller(memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> None:
            runtime: Runtime = memo.runtime
            runtime.controller = build(runtime, settings)
            await runtime.controller.start()

        @kopf.on.cleanup(registry=self.registry)
        async def stop_controller(memo: kopf.Memo, **_: Any) -> None:
            runtime: Runtime = memo.runtime
            if runtime.controller is not None:
                await runtime.controller.stop()

    @staticmethod
    def controller(memo: kopf.Memo) -> C:
        controller = memo.runtime.controller
        assert controller is not None  # built at start-up, before any watch starts
        return cast(C, controller)


def _new_registry(process: str) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    identify(process)

    @kopf.on.startup(registry=registry)  # first: the probes follow the loop from its start (core.runtime.liveness)
    async def beat(memo: kopf.Memo, **_: Any) -> None:
        heartbeat: Heartbeat | None = memo.get("heartbeat")
        if heartbeat is not None:
            memo["beating"] = asyncio.create_task(heartbeat.keep_beating())  # referenced: not collected

    @kopf.on.startup(registry=registry)
    def configure(memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> None:
        # Given namespaces are served for good: no watch of namespaces (a cluster-wide read it would need) that would
        # stop serving one while it is being deleted, before its releases are uninstalled.
        settings.scanning.disabled = bool(memo.runtime.settings.namespaces)
        settings.persistence.finalizer = f"{process}.{GROUP}/kopf-finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=f"{process}.{GROUP}")
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=f"{process}.{GROUP}", key="last-handled-configuration")
        settings.watching.server_timeout = WATCH_SERVER_TIMEOUT
        settings.watching.client_timeout = WATCH_CLIENT_TIMEOUT
        settings.watching.connect_timeout = CONNECT_TIMEOUT
        settings.networking.request_timeout = REQUEST_SECONDS
        settings.networking.connect_timeout = CONNECT_TIMEOUT
        settings.posting.level = logging.WARNING  # k8s Events only for problems, not for every handler run

    @kopf.on.startup(registry=registry)
    async def wait_for_resources(**_: Any) -> None:
        await served(API_VERSION, SERVED)

    @kopf.on.login(registry=registry)
    async def login(**kwargs: Any) -> kopf.AiohttpSession | None:
        info: kopf.ConnectionInfo | None = kopf.login_with_service_account(**kwargs) or \
            kopf.login_with_kubeconfig(**kwargs)
        return kopf_session(info) if info is not None else None  # with our User-Agent (kube.client)

    return registry


async def served(api_version: str, plurals: set[str], retry_seconds: float = DISCOVERY_RETRY_SECONDS) -> None:
    """Until the API server's discovery lists `plurals` in `api_version`. Kopf looks the resources of its handlers
    up once, when startup ends, and never again for a custom resource it did not find then: an API server that is
    starting (a restart, an upgrade) answers discovery before it serves the CRDs, and a process started at that
    moment would never watch them."""
    waited = False
    while True:
        try:
            response = await asyncio.to_thread(api().get, version=api_version)
            listed = {r["name"] for r in response.json().get("resources", [])} if response.ok else set()
        except (OSError, ValueError, PyKubeError):
            listed = set()
        if plurals <= listed:
            return
        if not waited:
            log.warning("waiting for the API server to serve %s in %s", ", ".join(sorted(plurals - listed)),
                        api_version)
            waited = True
        await asyncio.sleep(retry_seconds)


class JsonFormatter(logging.Formatter):
    """OSOP_LOG_FORMAT=json: one JSON object per line (time, level, logger, message, and the traceback if any),
    for log collectors that parse fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    if settings.log_level != "DEBUG":
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)  # not a line per watch event
    # pyhelm3 warns about every non-zero helm exit, including the expected "release not found" before a first
    # install; real failures are logged by the controllers, with the attempt count.
    logging.getLogger("pyhelm3.command").setLevel(logging.ERROR)
    # celpy traces every step of every CEL evaluation at DEBUG, the spec's values with them (megabytes a minute, and
    # whatever a user put in those values): DEBUG is for this project's own lines.
    logging.getLogger("celpy").setLevel(logging.WARNING)


def run(process: str, catalog: Catalog) -> None:
    """Run one process (controllers/<process>.py, its `PROCESS`) until stopped; `catalog` (the command line's
    --templates-dir or the packaged one) and the settings reach its controller through the runtime. With a leader
    election, only once this replica leads. A setting that does not parse stops it here, before anything is done."""
    settings = Settings.from_environ(os.environ)
    decode_any_depth()  # before any watch: an object nested deeper than 1000 levels must not stop one (kube.decoding)
    _configure_logging(settings)
    definition: Process[Any] = importlib.import_module(f"openstack_operator.controllers.{process}").PROCESS
    identify(process, identity(settings.pod_name))  # before any request: the audit log tells the replicas apart
    heartbeat = Heartbeat()
    metrics.serve(settings.metrics_address, settings.metrics_port, heartbeat)  # before the election: a standby too
    lease = election(process, settings)
    if lease is not None:
        lease.acquire(heartbeat.beat)
        lease.start_renewing()
    try:
        # standalone: one active replica is the Lease's job (kube.leader), not Kopf's peering
        kopf.run(registry=definition.registry, standalone=True, clusterwide=not settings.namespaces,
                 namespaces=list(settings.namespaces),
                 memo=kopf.Memo(runtime=Runtime(process, catalog, settings), heartbeat=heartbeat))
    finally:
        if lease is not None:
            lease.release()
