"""Who may lead: the rule of a leader election on a Kubernetes Lease, without I/O.

A standby never compares the Lease's renewTime with its own clock (the holder's clock may differ): it remembers when
it last saw the Lease record change, and takes over only after the record stayed the same for a whole lease
duration. The holder gives the Lease up on a clean stop by clearing holderIdentity, so a standby takes over at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

LEASE_SECONDS = 8  # a standby takes over this long after the holder stopped renewing
RENEW_SECONDS = 2  # how often the holder renews
RENEW_DEADLINE_SECONDS = 6  # the holder gives up (exits) if it could not renew for this long: before a standby may
# take over, so two never act at once
RETRY_SECONDS = 1  # how often a standby looks at the Lease


@dataclass(frozen=True)
class Seen:
    """The Lease record a standby saw last, and when (its own monotonic clock)."""

    record: tuple[Any, ...]
    at: float


def record_of(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    """What changes when the holder renews or changes."""
    return (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions"))


def may_take_over(spec: Mapping[str, Any], identity: str, seen: Seen | None, now: float) -> tuple[bool, Seen]:
    """Whether `identity` may take the Lease whose spec is `spec`, and what to remember for the next look."""
    record = record_of(spec)
    holder = spec.get("holderIdentity")
    if not holder or holder == identity:
        return True, Seen(record, now)
    if seen is None or seen.record != record:
        return False, Seen(record, now)  # the holder is alive, or we just started watching: wait a lease out
    duration = float(spec.get("leaseDurationSeconds") or LEASE_SECONDS)
    return now - seen.at >= duration, seen
