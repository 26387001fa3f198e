"""What every operator process sets up the same way: its Kopf identity, watch timeouts, API login, the namespaces it
watches (OSOP_NAMESPACES), its metrics and probes, and its leader election (kube.leader).

Each process has its own finalizer and annotation prefix, so two processes never act on each other's marks. Handlers are `on.event` only, so Kopf itself writes nothing on the objects (no diff-base annotation: a large
spec cannot overflow the 256 KiB annotation limit); each controller keeps its own state on the status it owns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from typing import Any

import kopf
from pykube.exceptions import PyKubeError

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.releases.helmwork import MAX_RETRY_SECONDS
from openstack_operator.kube import metrics
from openstack_operator.kube.client import api, identify
from openstack_operator.kube.leader import election

log = logging.getLogger("osop.operator")
DISCOVERY_RETRY_SECONDS = 2.0

# A watch that stays silent this long is re-established; the API server ends each watch well before that.
WATCH_SERVER_TIMEOUT = 300
WATCH_CLIENT_TIMEOUT = 330
CONNECT_TIMEOUT = 30


def retry_cap_seconds() -> float:
    """The longest wait between two attempts at something that keeps failing (OSOP_RETRY_MAX_SECONDS)."""
    return float(os.environ.get("OSOP_RETRY_MAX_SECONDS", str(MAX_RETRY_SECONDS)))


def new_registry(process: str) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    identify(process)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Given namespaces are served for good: no watch of namespaces (a cluster-wide read it would need) that would
        # stop serving one while it is being deleted, before its releases are uninstalled.
        settings.scanning.disabled = bool(watched_namespaces())
        settings.persistence.finalizer = f"{process}.{GROUP}/kopf-finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=f"{process}.{GROUP}")
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=f"{process}.{GROUP}", key="last-handled-configuration")
        settings.watching.server_timeout = WATCH_SERVER_TIMEOUT
        settings.watching.client_timeout = WATCH_CLIENT_TIMEOUT
        settings.watching.connect_timeout = CONNECT_TIMEOUT
        settings.posting.level = logging.WARNING  # k8s Events only for problems, not for every handler run

    @kopf.on.startup(registry=registry)
    async def wait_for_resources(**_: Any) -> None:
        await _served(f"{GROUP}/{VERSION}", {"openstackdeployments", "helmbundles", "nodemaintenancerequests"})

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        info: kopf.ConnectionInfo | None = kopf.login_with_service_account(**kwargs) or \
            kopf.login_with_kubeconfig(**kwargs)
        return info

    return registry


async def _served(api_version: str, plurals: set[str]) -> None:
    """Until the API server's discovery lists `plurals` in `api_version`. Kopf looks the resources of its handlers
    up once, when startup ends, and never again for a custom resource it did not find then: an API server that is
    starting (a restart, an upgrade) answers discovery before it serves the CRDs, and a process started at that
    moment would never watch them."""
    waited = False
    while True:
        try:
            response = await asyncio.to_thread(api().get, version=api_version)
            served = {r["name"] for r in response.json().get("resources", [])} if response.ok else set()
        except (OSError, ValueError, PyKubeError):
            served = set()
        if plurals <= served:
            return
        if not waited:
            log.warning("waiting for the API server to serve %s in %s", ", ".join(sorted(plurals - served)),
                        api_version)
            waited = True
        await asyncio.sleep(DISCOVERY_RETRY_SECONDS)


class JsonFormatter(logging.Formatter):
    """OSOP_LOG_FORMAT=json: one JSON object per line (time, level, logger, message, and the traceback if any),
    for log collectors that parse fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def watched_namespaces() -> list[str]:
    """OSOP_NAMESPACES: the deployment namespaces, comma-separated; empty, the default, watches every namespace. The
    operator chart sets the namespaces its RoleBindings cover, so a process needs no cluster-wide read of Secrets or
    workloads. Names only, no patterns: Kopf drops a pattern-matched namespace once it is being deleted, and the
    releases in it would never be uninstalled (their finalizers would hold the namespace forever)."""
    names = [n.strip() for n in os.environ.get("OSOP_NAMESPACES", "").split(",") if n.strip()]
    wrong = [n for n in names if not NAMESPACE_NAME.fullmatch(n)]
    if wrong:
        raise OperatorError(f"OSOP_NAMESPACES: {', '.join(map(repr, wrong))} is not a namespace name (names only, "
                            "comma-separated; no patterns)")
    return names


def run(process: str, registry: kopf.OperatorRegistry, catalog: Catalog) -> None:
    """Run one process's handlers until stopped; `catalog` (the command line's --templates-dir or the packaged one)
    reaches its startup handler as `memo.catalog`. With a leader election, only once this replica leads."""
    level = os.environ.get("OSOP_LOG_LEVEL", "INFO").upper()  # DEBUG shows Kopf's and our own debug lines too
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if os.environ.get("OSOP_LOG_FORMAT") == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    if level != "DEBUG":
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)  # not a line per watch event
    # pyhelm3 warns about every non-zero helm exit, including the expected "release not found" before a first
    # install; real failures are logged by the controllers, with the attempt count.
    logging.getLogger("pyhelm3.command").setLevel(logging.ERROR)
    namespaces = watched_namespaces()  # a wrong name stops the process here, before anything is done
    metrics.serve()  # before the election: a standby answers its probes too
    lease = election(process)
    if lease is not None:
        lease.acquire()
        lease.start_renewing()
    try:
        # standalone: one active replica is the Lease's job (kube.leader), not Kopf's peering
        kopf.run(registry=registry, standalone=True, clusterwide=not namespaces, namespaces=namespaces,
                 memo=kopf.Memo(catalog=catalog))
    finally:
        if lease is not None:
            lease.release()
