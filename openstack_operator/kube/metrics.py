"""Prometheus metrics of an operator process, served on OSOP_METRICS_PORT (0, the default: not served; the operator
chart sets it in every pod). One registry per process: every process serves its own /metrics.

- osop_reconcile_duration_seconds{process}, osop_reconcile_errors_total{process}: the work queue's runs
- osop_workqueue_depth{process}, osop_workqueue_oldest_seconds{process}: what waits for a worker, and how long
- osop_helm_operations_total{action,result}, osop_helm_operation_duration_seconds{action}: helmbundle process
- osop_watched_objects{process,kind}: the objects a process keeps in memory
- osop_credentials_age_seconds{namespace,osdpl}: since the last credential change (secrets process)
- osop_api_writes_total{verb,kind} (kube.client): every API write, status patches as kind `<Kind>/status`
- osop_leader{process}: 1 in the replica that holds the process's lease (kube.leader), 0 in a standby
- osop_deployment_condition{namespace,osdpl,condition}: 1 while the osdpl's condition is True (osdpl process)
- osop_releases_failing{namespace,osdpl}: releases whose last Helm operation failed (osdpl process)

Every path but /metrics answers 200 "ok" while the process's event loop beats its heartbeat (core.runtime.liveness;
a standby beats on each look at its Lease), 500 once the beats stopped: the pod's liveness and readiness probes (a
standby is ready: it is there to take over).
"""

from __future__ import annotations

import logging
from typing import Callable, Protocol

import threading
from socketserver import ThreadingMixIn
from typing import Any, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import Counter, Gauge, Histogram, make_wsgi_app

from openstack_operator.core.runtime.liveness import Heartbeat


log = logging.getLogger("osop.metrics")

RECONCILE_SECONDS = Histogram("osop_reconcile_duration_seconds", "Time one reconcile of one key took",
                              ["process"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
RECONCILE_ERRORS = Counter("osop_reconcile_errors_total", "Reconciles that raised an error (retried)", ["process"])
QUEUE_DEPTH = Gauge("osop_workqueue_depth", "Keys waiting for a worker", ["process"])
QUEUE_OLDEST = Gauge("osop_workqueue_oldest_seconds", "How long the longest-waiting due key has waited for a worker",
                     ["process"])
HELM_OPERATIONS = Counter("osop_helm_operations_total", "Helm operations by action and result",
                          ["action", "result"])
HELM_SECONDS = Histogram("osop_helm_operation_duration_seconds", "Time one Helm operation took", ["action"],
                         buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800))
WATCHED = Gauge("osop_watched_objects", "Objects the process keeps in memory", ["process", "kind"])
LEADER = Gauge("osop_leader", "1 in the replica that leads the process, 0 in a standby", ["process"])
DEPLOYMENT_CONDITION = Gauge("osop_deployment_condition", "1 while the osdpl's condition is True",
                             ["namespace", "osdpl", "condition"])
RELEASES_FAILING = Gauge("osop_releases_failing", "Releases whose last Helm operation failed",
                         ["namespace", "osdpl"])
CREDENTIALS_AGE = Gauge("osop_credentials_age_seconds", "Seconds since the deployment's credentials last changed",
                        ["namespace", "osdpl"])


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # a probe every few seconds is no log line
        pass


def _app(heartbeat: Heartbeat | None = None) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    metrics_app = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/metrics":
            result: Iterable[bytes] = metrics_app(environ, start_response)
            return result
        if heartbeat is not None and not heartbeat.fresh():
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [f"event loop stalled: no heartbeat for {heartbeat.age():.0f} s\n".encode()]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]
    return app


def serve(address: str, port: int, heartbeat: Heartbeat | None = None) -> int:
    """Serve /metrics and the probes on `port` (settings: OSOP_METRICS_PORT, OSOP_METRICS_ADDRESS); returns the
    port, 0 if not served. With `heartbeat`, the probes fail once it is stale."""
    if port:
        server = make_server(address, port, _app(heartbeat), _Server,
                             handler_class=_QuietHandler)
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        log.info("metrics on port %d", port)
    return port


class Queue(Protocol):
    def depth(self) -> int: ...
    def oldest_wait(self) -> float: ...


def watch_queue(process: str, queue: Queue) -> None:
    """The queue's depth and wait, read when scraped."""
    QUEUE_DEPTH.labels(process).set_function(queue.depth)
    QUEUE_OLDEST.labels(process).set_function(queue.oldest_wait)


def reconcile_observer(process: str) -> Callable[[float, bool], None]:
    """A WorkQueue `on_done`: each run's duration, and its failure."""
    histogram, errors = RECONCILE_SECONDS.labels(process), RECONCILE_ERRORS.labels(process)

    def done(seconds: float, failed: bool) -> None:
        histogram.observe(seconds)
        if failed:
            errors.inc()
    return done


def count_watched(process: str, kind: str, count: Callable[[], int]) -> None:
    WATCHED.labels(process, kind).set_function(count)
