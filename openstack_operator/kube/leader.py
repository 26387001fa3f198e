"""One active replica per process: a leader election on a Lease in the operator's namespace
(OSOP_LEADER_ELECTION_NAMESPACE; unset: no election, the process acts at once).

A standby does nothing but look at the Lease (no watches, no Helm); it starts its handlers once it holds the Lease.
The holder renews it in a thread, each request bounded by a short timeout. A watchdog thread of its own, which no
hung request can hold up, ends the Helm children and exits the process at once (the pod restarts it as a standby)
as soon as the last successful renew is as old as the renew deadline: so the holder has stopped, its API requests
included, before a standby may take over (the rule and why it holds: core.runtime.leader). On a clean stop it
clears the holder, and a standby takes over within a second.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

from pykube.exceptions import HTTPError, PyKubeError
from requests.exceptions import RequestException

from openstack_operator.core.runtime.leader import TIMING, Seen, Timing, may_act, may_take_over
from openstack_operator.core.settings import Settings
from openstack_operator.kube import metrics
from openstack_operator.kube.children import end_own_children
from openstack_operator.kube.client import Lease, count_write, lease_api

log = logging.getLogger("osop.leader")
NOT_FOUND, CONFLICT = 404, 409
TRANSIENT = (HTTPError, PyKubeError, RequestException, OSError)


class Conflict(Exception):
    """The Lease changed since it was read: another replica wrote it first."""


class LeaseStore(Protocol):
    """The one Lease, read and written whole (the write carries the resourceVersion read)."""

    def get(self) -> dict[str, Any] | None: ...

    def create(self, body: dict[str, Any]) -> None: ...

    def replace(self, body: dict[str, Any]) -> None: ...


class ApiLeases:
    """The Lease on the API server, through the election's own client (kube.client.lease_api: short timeouts)."""

    def __init__(self, namespace: str, name: str) -> None:
        self.namespace, self.name = namespace, name

    def get(self) -> dict[str, Any] | None:
        response = lease_api().get(version=Lease.version, namespace=self.namespace, url=f"leases/{self.name}")
        if response.status_code == NOT_FOUND:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def create(self, body: dict[str, Any]) -> None:
        self._check(lease_api().post(version=Lease.version, namespace=self.namespace, url="leases",
                                     data=json.dumps(body)))
        count_write("create", "Lease")

    def replace(self, body: dict[str, Any]) -> None:
        self._check(lease_api().put(version=Lease.version, namespace=self.namespace, url=f"leases/{self.name}",
                                    data=json.dumps(body)))
        count_write("update", "Lease")

    @staticmethod
    def _check(response: Any) -> None:
        if response.status_code == CONFLICT:
            raise Conflict()
        response.raise_for_status()


def _micro_time() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def identity(pod_name: str) -> str:
    """The pod's name where the chart sets it, else host and pid: unique among the replicas."""
    return pod_name or f"{socket.gethostname()}_{os.getpid()}"


def _exit(why: str) -> None:
    # Exit now, with no clean stop: a standby may take over soon, and two replicas must never act at once.
    ended = end_own_children()
    log.critical("leader election: %s; ended %d helm processes; exiting", why, len(ended))
    logging.shutdown()
    os._exit(1)


class LeaderLease:
    def __init__(self, namespace: str, process: str, pod_name: str = "", store: LeaseStore | None = None,
                 timing: Timing = TIMING, on_lost: Callable[[str], None] = _exit) -> None:
        self.namespace, self.name, self.process = namespace, f"openstack-operator-{process}", process
        self.identity = identity(pod_name)
        self.store: LeaseStore = store if store is not None else ApiLeases(namespace, self.name)
        self.timing, self._on_lost = timing, on_lost
        self.renewed_at = -math.inf  # monotonic send time of the last successful renew (or take)
        self._stop = threading.Event()
        self._lost_once = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._gauge = metrics.LEADER.labels(process)

    def _try_take(self, seen: Seen | None) -> tuple[bool, Seen | None]:
        lease = self.store.get()
        now = time.monotonic()
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": math.ceil(self.timing.lease),
                "acquireTime": _micro_time(), "renewTime": _micro_time()}
        if lease is None:
            self.store.create({"apiVersion": Lease.version, "kind": Lease.kind,
                               "spec": {**spec, "leaseTransitions": 0},
                               "metadata": {"name": self.name, "namespace": self.namespace}})
            return True, None
        current = lease.get("spec") or {}
        free, seen = may_take_over(current, self.identity, seen, now)
        if not free:
            return False, seen
        lease["spec"] = {**spec, "leaseTransitions": int(current.get("leaseTransitions") or 0) +
                         (current.get("holderIdentity") != self.identity)}
        self.store.replace(lease)  # carries the resourceVersion read: a standby that moved first makes this a conflict
        return True, None

    def acquire(self, alive: Callable[[], None] = lambda: None) -> None:
        """Block until this replica holds the Lease; `alive` is called on every look (the liveness heartbeat)."""
        seen: Seen | None = None
        said = False
        while True:
            alive()
            sent = time.monotonic()
            try:
                taken, seen = self._try_take(seen)
            except Conflict:
                taken = False
            except TRANSIENT as error:
                log.error("leader election: lease %s/%s: %s: %s", self.namespace, self.name,
                          type(error).__name__, error)
                taken = False
            if taken:
                self.renewed_at = sent
                log.info("leader election: %s leads %s (lease %s/%s)", self.identity, self.process, self.namespace,
                         self.name)
                self._gauge.set(1)
                return
            if not said:
                log.info("leader election: standby; waiting for lease %s/%s", self.namespace, self.name)
                said = True
            time.sleep(self.timing.retry)

    def _renew_once(self) -> bool:
        """True if renewed; False if another replica holds the Lease now."""
        lease = self.store.get()
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return False
        lease["spec"]["renewTime"] = _micro_time()
        self.store.replace(lease)
        return True

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.timing.renew):
            sent = time.monotonic()  # the standby's wait starts no earlier than this write: time from the sending
            try:
                if not self._renew_once():
                    self._lost("another replica holds the lease")
                    return
                self.renewed_at = sent
            except (Conflict, *TRANSIENT) as error:  # the watchdog decides when it is too late
                log.warning("leader election: renewing lease %s/%s: %s: %s", self.namespace, self.name,
                            type(error).__name__, error)

    def _watch(self) -> None:
        """Independent of the renewing request, which may hang: stop acting once the last renew is too old."""
        while not self._stop.wait(self.timing.tick):
            if not may_act(self.renewed_at, time.monotonic(), self.timing.deadline):
                self._lost(f"lease not renewed for {self.timing.deadline:g} s")
                return

    def _lost(self, why: str) -> None:
        if not self._lost_once.acquire(blocking=False):
            return  # the other thread is on it
        self._stop.set()
        self._gauge.set(0)
        self._on_lost(f"lost lease {self.namespace}/{self.name} ({why})")

    def start_renewing(self) -> None:
        self._threads = [threading.Thread(target=self._renew_until_stopped, name="lease-renewer", daemon=True),
                         threading.Thread(target=self._watch, name="lease-watchdog", daemon=True)]
        for thread in self._threads:
            thread.start()

    def release(self) -> None:
        """After a clean stop: clear the holder, so a standby takes over at once."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._gauge.set(0)
        try:
            lease = self.store.get()
            if lease is not None and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = None
                self.store.replace(lease)
                log.info("leader election: released lease %s/%s", self.namespace, self.name)
        except (Conflict, *TRANSIENT) as error:  # the lease runs out by itself
            log.warning("leader election: releasing lease %s/%s: %s", self.namespace, self.name, error)


def election(process: str, settings: Settings) -> LeaderLease | None:
    namespace = settings.leader_election_namespace
    return LeaderLease(namespace, process, settings.pod_name) if namespace else None
