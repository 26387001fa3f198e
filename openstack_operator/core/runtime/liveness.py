"""Liveness from the event loop: /healthz is served by a thread (it answers while the loop is busy), so on its own
it would stay green while the loop hangs. The loop beats a heartbeat every second instead, and /healthz answers 500
once the last beat is older than STALE_SECONDS: the kubelet then restarts the process (liveness probe: 3 failures
10 s apart). A standby, which has no loop yet, beats on every look at the Lease."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

BEAT_SECONDS = 1.0
STALE_SECONDS = 10.0  # far above a beat, and above a standby's slowest look at the Lease (two bounded requests)


class Heartbeat:
    def __init__(self, stale_after: float = STALE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.stale_after, self._clock = stale_after, clock
        self._last = clock()

    def beat(self) -> None:
        self._last = self._clock()

    def age(self) -> float:
        return self._clock() - self._last

    def fresh(self) -> bool:
        return self.age() < self.stale_after

    async def keep_beating(self, every: float = BEAT_SECONDS) -> None:
        """On the event loop, until cancelled: a loop that hangs stops the beats."""
        while True:
            self.beat()
            await asyncio.sleep(every)
