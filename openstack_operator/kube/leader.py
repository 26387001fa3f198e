"""One active replica per process: a leader election on a Lease in the operator's namespace
(OSOP_LEADER_ELECTION_NAMESPACE; unset: no election, the process acts at once).

A standby does nothing but look at the Lease (no watches, no Helm); it starts its handlers once it holds the Lease.
The holder renews it in a thread; if it cannot renew before RENEW_DEADLINE_SECONDS it ends its Helm children and
exits at once (the pod restarts it as a standby), so it has stopped before any standby may take over. On a clean
stop it clears the holder, and a standby takes over within a second. The rule itself is core.runtime.leader.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any

from pykube.exceptions import HTTPError, PyKubeError
from requests.exceptions import RequestException

from openstack_operator.core.runtime.leader import (LEASE_SECONDS, RENEW_DEADLINE_SECONDS, RENEW_SECONDS, RETRY_SECONDS,
                                            Seen, may_take_over)
from openstack_operator.core.settings import Settings
from openstack_operator.kube import metrics
from openstack_operator.kube.children import end_own_children
from openstack_operator.kube.client import Lease, api, count_write
from openstack_operator.kube.objects import get_or_none

log = logging.getLogger("osop.leader")
CONFLICT = 409
TRANSIENT = (HTTPError, PyKubeError, RequestException, OSError)


def _micro_time() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def identity(pod_name: str) -> str:
    """The pod's name where the chart sets it, else host and pid: unique among the replicas."""
    return pod_name or f"{socket.gethostname()}_{os.getpid()}"


class LeaderLease:
    def __init__(self, namespace: str, process: str, pod_name: str = "") -> None:
        self.namespace, self.name, self.process = namespace, f"openstack-operator-{process}", process
        self.identity = identity(pod_name)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._gauge = metrics.LEADER.labels(process)

    def _get(self) -> Any:
        return get_or_none(Lease, self.namespace, self.name)

    def _try_take(self, seen: Seen | None) -> tuple[bool, Seen | None]:
        lease = self._get()
        now = time.monotonic()
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": LEASE_SECONDS,
                "acquireTime": _micro_time(), "renewTime": _micro_time()}
        if lease is None:
            Lease(api(), {"apiVersion": Lease.version, "kind": Lease.kind, "spec": {**spec, "leaseTransitions": 0},
                          "metadata": {"name": self.name, "namespace": self.namespace}}).create()
            count_write("create", "Lease")
            return True, None
        current = lease.obj.get("spec") or {}
        free, seen = may_take_over(current, self.identity, seen, now)
        if not free:
            return False, seen
        lease.obj["spec"] = {**spec, "leaseTransitions": int(current.get("leaseTransitions") or 0) +
                             (current.get("holderIdentity") != self.identity)}
        lease.update()  # carries the resourceVersion read: a standby that moved first makes this a conflict
        count_write("update", "Lease")
        return True, None

    def acquire(self) -> None:
        """Block until this replica holds the Lease."""
        seen: Seen | None = None
        said = False
        while True:
            try:
                taken, seen = self._try_take(seen)
            except HTTPError as error:
                if error.code != CONFLICT:
                    log.error("leader election: lease %s/%s: %s", self.namespace, self.name, error)
                taken = False
            except TRANSIENT as error:
                log.error("leader election: lease %s/%s: %s: %s", self.namespace, self.name,
                          type(error).__name__, error)
                taken = False
            if taken:
                log.info("leader election: %s leads %s (lease %s/%s)", self.identity, self.process, self.namespace,
                         self.name)
                self._gauge.set(1)
                return
            if not said:
                log.info("leader election: standby; waiting for lease %s/%s", self.namespace, self.name)
                said = True
            time.sleep(RETRY_SECONDS)

    def _renew_once(self) -> bool:
        """True if renewed; False if another replica holds the Lease now."""
        lease = self._get()
        if lease is None or (lease.obj.get("spec") or {}).get("holderIdentity") != self.identity:
            return False
        lease.obj["spec"]["renewTime"] = _micro_time()
        lease.update()
        return True

    def _renew_until_stopped(self) -> None:
        renewed = time.monotonic()
        while not self._stop.wait(RENEW_SECONDS):
            try:
                if not self._renew_once():
                    self._lost("another replica holds the lease")
                renewed = time.monotonic()
            except TRANSIENT as error:
                log.warning("leader election: renewing lease %s/%s: %s: %s", self.namespace, self.name,
                            type(error).__name__, error)
                if time.monotonic() - renewed > RENEW_DEADLINE_SECONDS:
                    self._lost(f"not renewed for {RENEW_DEADLINE_SECONDS} s")

    def _lost(self, why: str) -> None:
        # Exit now, with no clean stop: a standby may take over soon, and two replicas must never act at once.
        ended = end_own_children()
        log.critical("leader election: lost lease %s/%s (%s); ending %d helm processes and exiting",
                     self.namespace, self.name, why, len(ended))
        logging.shutdown()
        os._exit(1)

    def start_renewing(self) -> None:
        self._renewer = threading.Thread(target=self._renew_until_stopped, name="lease-renewer", daemon=True)
        self._renewer.start()

    def release(self) -> None:
        """After a clean stop: clear the holder, so a standby takes over at once."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        self._gauge.set(0)
        try:
            lease = self._get()
            if lease is not None and (lease.obj.get("spec") or {}).get("holderIdentity") == self.identity:
                lease.obj["spec"]["holderIdentity"] = None
                lease.update()
                log.info("leader election: released lease %s/%s", self.namespace, self.name)
        except TRANSIENT as error:  # the lease runs out by itself
            log.warning("leader election: releasing lease %s/%s: %s", self.namespace, self.name, error)


def election(process: str, settings: Settings) -> LeaderLease | None:
    namespace = settings.leader_election_namespace
    return LeaderLease(namespace, process, settings.pod_name) if namespace else None
