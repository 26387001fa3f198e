"""Who may lead: the rule of a leader election on a Kubernetes Lease, without I/O.

A standby never compares the Lease's renewTime with its own clock (the holder's clock may differ): it remembers when
it last saw the Lease record change, and takes over only after the record stayed the same for a whole lease
duration. The holder gives the Lease up on a clean stop by clearing holderIdentity, so a standby takes over at once.

Two leaders never act at once. The holder acts only while its last successful renew is younger than the renew
deadline (`may_act`), timed from when that renew request was *sent*: a watchdog, independent of the request that
renews (which may hang), ends the holder's Helm children and the process once the deadline passes. Why that is
enough, with r the send time of the holder's last successful renew (its own monotonic clock):

- the Lease write of that renew was committed at c >= r; a standby saw that record at o >= c and takes over at
  o + lease or later: not before r + lease;
- the holder acts until r + deadline at most, plus one watchdog tick (ending Helm and exiting take milliseconds);
- every API request of the process is bounded by `request` seconds (the Lease's by `renew_request`): the client
  gives up (pykube's connect and read timeouts, Kopf's total and connect timeouts), pykube's requests also tell
  the API server to stop processing them by then (the `timeout` query parameter), and the API server cancels a
  request whose connection closed (a client that gave up, a Helm child killed at the deadline, the exited
  process). So a write sent while leading is done (applied or abandoned) by r + deadline + tick + request;
- hence the rule `deadline + tick + request < lease` (`Timing.overlap`), with a margin for the two clocks' rates.

What a Lease cannot fence: bytes a network holds back for longer than the lease and delivers after the sender died
(a real fence would need the API server to check a token on every write).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

LEASE_SECONDS = 15  # a standby takes over this long after it last saw the Lease change
RENEW_SECONDS = 2  # how often the holder renews
RENEW_DEADLINE_SECONDS = 8  # the holder stops acting (ends Helm, exits) this long after its last successful renew
RENEW_REQUEST_SECONDS = 3  # one renew request: short, so a hung one leaves time for two more before the deadline
REQUEST_SECONDS = 5  # every other API request of the process (pykube, Kopf), client and server side
WATCHDOG_TICK_SECONDS = 0.25  # how often the watchdog looks at the age of the last renew
RETRY_SECONDS = 1  # how often a standby looks at the Lease
MARGIN_SECONDS = 1  # left over in `deadline + tick + request < lease`: clock rates, a slow exit


@dataclass(frozen=True)
class Timing:
    """The election's durations in seconds (tests shrink them)."""

    lease: float = LEASE_SECONDS
    renew: float = RENEW_SECONDS
    deadline: float = RENEW_DEADLINE_SECONDS
    renew_request: float = RENEW_REQUEST_SECONDS
    request: float = REQUEST_SECONDS
    tick: float = WATCHDOG_TICK_SECONDS
    retry: float = RETRY_SECONDS

    def overlap(self) -> str:
        """Why two leaders could act at once with these durations; empty if they cannot."""
        longest = max(self.request, self.renew_request)
        if self.deadline + self.tick + longest + MARGIN_SECONDS > self.lease:
            return (f"renew deadline {self.deadline} s + watchdog tick {self.tick} s + longest request {longest} s "
                    f"+ margin {MARGIN_SECONDS} s exceeds the lease of {self.lease} s")
        if self.renew + self.renew_request >= self.deadline:
            return f"one hung renew ({self.renew} s + {self.renew_request} s) reaches the deadline {self.deadline} s"
        return ""


TIMING = Timing()


def may_act(renewed_at: float, now: float, deadline: float = RENEW_DEADLINE_SECONDS) -> bool:
    """Whether the holder may still act: its last successful renew, sent at `renewed_at`, is younger than the
    deadline (both on the holder's monotonic clock)."""
    return now - renewed_at < deadline


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
