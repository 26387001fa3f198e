"""The leader election's rule (core.runtime.leader): a standby takes over only after the holder stopped renewing for a whole
lease duration, timed by its own clock, or at once when the Lease was given up; the holder acts only while its last
successful renew is younger than the renew deadline, enforced by a watchdog that a hung renew cannot hold up
(kube.leader, with a fake Lease store)."""

from __future__ import annotations

import copy
import math
import threading
import time
from typing import Any

from openstack_operator.core.runtime.leader import (LEASE_SECONDS, RENEW_DEADLINE_SECONDS, TIMING, Timing, may_act,
                                                    may_take_over)
from openstack_operator.kube.leader import LeaderLease


def _spec(holder: str | None, renewed: str, duration: int = LEASE_SECONDS) -> dict[str, object]:
    return {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": duration, "leaseTransitions": 3}


def test_a_standby_waits_a_whole_lease_after_the_last_renewal_it_saw() -> None:
    free, seen = may_take_over(_spec("a", "t1"), "b", None, now=100.0)
    assert not free  # first look: it cannot know how old the renewal is
    free, seen = may_take_over(_spec("a", "t1"), "b", seen, now=100.0 + LEASE_SECONDS - 0.5)
    assert not free
    free, seen = may_take_over(_spec("a", "t2"), "b", seen, now=100.0 + LEASE_SECONDS + 1)
    assert not free  # renewed meanwhile: the clock starts again
    free, _ = may_take_over(_spec("a", "t2"), "b", seen, now=100.0 + 2 * LEASE_SECONDS + 1)
    assert free


def test_the_holders_clock_does_not_matter() -> None:
    # a renewTime far in the past (a skewed clock on the holder's node) is no reason to take over
    free, _ = may_take_over(_spec("a", "1970-01-01T00:00:00.000000Z"), "b", None, now=5.0)
    assert not free


def test_a_lease_given_up_or_already_ours_is_taken_at_once() -> None:
    assert may_take_over(_spec(None, "t1"), "b", None, now=1.0)[0]
    assert may_take_over(_spec("", "t1"), "b", None, now=1.0)[0]
    assert may_take_over(_spec("b", "t1"), "b", None, now=1.0)[0]


def test_the_leader_gives_up_before_a_standby_may_take_over() -> None:
    assert RENEW_DEADLINE_SECONDS < LEASE_SECONDS


# -- acting only while the last renew is young: the rule, then the watchdog against a renew that hangs ------------

def test_the_holder_acts_only_while_its_last_renew_is_younger_than_the_deadline() -> None:
    assert may_act(renewed_at=100.0, now=100.0 + RENEW_DEADLINE_SECONDS - 0.01)
    assert not may_act(renewed_at=100.0, now=100.0 + RENEW_DEADLINE_SECONDS)
    assert not may_act(renewed_at=-math.inf, now=0.0)  # never renewed: never acts


def test_the_durations_leave_no_overlap() -> None:
    # deadline + watchdog tick + the longest API request (with a margin) stays inside the lease
    assert TIMING.overlap() == ""
    assert TIMING.deadline + TIMING.tick + max(TIMING.request, TIMING.renew_request) < TIMING.lease
    assert "exceeds the lease" in Timing(lease=8, deadline=6, request=30).overlap()  # the durations before issue 23
    assert "hung renew" in Timing(renew=2, renew_request=6, deadline=8, request=1, lease=20).overlap()


class HangingLeases:
    """A Lease store whose every request hangs once `hang` is set (an API server that no longer answers), until
    `release` is set; counts the requests that completed."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.hang, self.release = threading.Event(), threading.Event()
        self.done = 0

    def _request(self) -> None:
        if self.hang.is_set():
            self.release.wait()
            raise TimeoutError("read timed out")
        self.done += 1

    def get(self) -> dict[str, Any] | None:
        self._request()
        return copy.deepcopy(self.lease)

    def create(self, body: dict[str, Any]) -> None:
        self._request()
        self.lease = copy.deepcopy(body)

    def replace(self, body: dict[str, Any]) -> None:
        self._request()
        self.lease = copy.deepcopy(body)


FAST = Timing(lease=1.2, renew=0.05, deadline=0.4, renew_request=0.1, request=0.1, tick=0.02, retry=0.05)


def _leader(store: HangingLeases, lost: list[tuple[str, float]]) -> LeaderLease:
    lease = LeaderLease("ns", "helmbundle", "replica-a", store=store, timing=FAST,
                        on_lost=lambda why: lost.append((why, time.monotonic())))
    lease.acquire()
    lease.start_renewing()
    return lease


def test_the_watchdog_stops_the_holder_by_the_deadline_while_a_renew_hangs() -> None:
    store, lost = HangingLeases(), list[tuple[str, float]]()
    lease = _leader(store, lost)
    try:
        time.sleep(FAST.renew * 6)
        assert not lost and store.done > 3  # renewing: it may act
        store.hang.set()  # every request from now on hangs, and never returns by itself
        hung_at = time.monotonic()
        renewed = lease.renewed_at
        deadline = time.monotonic() + 5
        while not lost and time.monotonic() < deadline:
            time.sleep(0.01)
        assert lost, "the holder kept acting while its renew hung"
        why, at = lost[0]
        assert "not renewed for 0.4 s" in why
        # by the deadline after the last successful renew (plus a tick and scheduling), well before the lease runs out
        assert at - renewed < FAST.deadline + FAST.tick + 0.2 < FAST.lease
        assert at - hung_at < FAST.deadline + FAST.tick + 0.2
        time.sleep(FAST.tick * 5)
        assert len(lost) == 1  # once
    finally:
        store.release.set()
        lease.release()


def test_a_renew_seen_taken_by_another_replica_stops_the_holder_at_once() -> None:
    store, lost = HangingLeases(), list[tuple[str, float]]()
    lease = _leader(store, lost)
    try:
        assert store.lease is not None
        store.lease["spec"]["holderIdentity"] = "replica-b"
        deadline = time.monotonic() + 5
        while not lost and time.monotonic() < deadline:
            time.sleep(0.01)
        assert lost and "another replica holds the lease" in lost[0][0]
    finally:
        lease.release()


def test_a_clean_stop_clears_the_holder_and_never_counts_as_lost() -> None:
    store, lost = HangingLeases(), list[tuple[str, float]]()
    lease = _leader(store, lost)
    time.sleep(FAST.renew * 3)
    lease.release()
    assert store.lease is not None and store.lease["spec"]["holderIdentity"] is None
    time.sleep(FAST.deadline * 2)
    assert not lost
