"""The leader election's rule (core.runtime.leader): a standby takes over only after the holder stopped renewing for a whole
lease duration, timed by its own clock, or at once when the Lease was given up."""

from __future__ import annotations

from openstack_operator.core.runtime.leader import LEASE_SECONDS, RENEW_DEADLINE_SECONDS, may_take_over


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
