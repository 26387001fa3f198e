"""A coalescing work queue, as controllers use: events add keys, workers reconcile keys.

- a key is reconciled by at most one worker at a time; adding it while it runs marks it dirty, so it runs once
  more afterwards (never twice at once, never lost);
- adding a key many times before it starts runs it once (a burst of events costs one reconcile);
- `add(key, delay)` schedules a run no later than `delay` seconds from now (earlier requests win);
- the work function returns a delay to be called again after (retries, polling) or None;
- an exception from the work function is logged by the caller's `on_error` and retried after `backoff(failures
  in a row)` seconds (the process's retry policy; by default a doubling from 1 s to 60 s);
- `on_done` (optional) learns how long each run took and whether it failed; `depth` and `oldest_wait` tell how
  much waits for a worker (the metrics of kube.metrics);
- `concurrency` bounds the keys run at once, in all, or with `group` (a function of the key, e.g. its namespace) per
  group: work that hangs in one group then holds that group's slots only, and every other group keeps its own.
Pure asyncio: no Kubernetes here.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)

ERROR_BACKOFF_FIRST = 1.0
ERROR_BACKOFF_MAX = 60.0


def _doubling(failures: int) -> float:
    return min(ERROR_BACKOFF_FIRST * 2.0 ** (failures - 1), ERROR_BACKOFF_MAX)


def _one_group(key: Hashable) -> Hashable:
    return None


class WorkQueue(Generic[K]):
    def __init__(self, work: Callable[[K], Awaitable[float | None]], concurrency: int,
                 on_error: Callable[[K, BaseException], None],
                 on_done: Callable[[float, bool], None] | None = None,
                 backoff: Callable[[int], float] | None = None,
                 group: Callable[[K], Hashable] | None = None) -> None:
        self._work = work
        self._backoff = backoff or _doubling
        self._on_error = on_error
        self._on_done = on_done
        self._concurrency = concurrency
        self._group = group or _one_group
        # group -> its slots and the keys started that use them (dropped with the last: groups come and go)
        self._slots: dict[Hashable, tuple[asyncio.Semaphore, set[K]]] = {}
        self._due: dict[K, float] = {}        # key -> monotonic time it should run at
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._running: set[K] = set()
        self._errors: dict[K, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, key: K, delay: float = 0.0) -> None:
        loop = asyncio.get_running_loop()
        due = time.monotonic() + max(delay, 0.0)
        if key in self._due and self._due[key] <= due:
            return  # already due as early or earlier
        self._due[key] = due
        if key in self._timers:
            self._timers.pop(key).cancel()
        self._idle.clear()
        if key in self._running:
            return  # the running worker picks it up when it finishes
        self._timers[key] = loop.call_later(max(delay, 0.0), self._start, key)

    def _start(self, key: K) -> None:
        self._timers.pop(key, None)
        if key in self._running or key not in self._due:
            return
        if self._due[key] > time.monotonic() + 0.001:
            self._timers[key] = asyncio.get_running_loop().call_later(self._due[key] - time.monotonic(),
                                                                      self._start, key)
            return
        self._running.add(key)
        task = asyncio.get_running_loop().create_task(self._run(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: K) -> None:
        again: float | None = None
        group = self._group(key)
        slots, users = self._slots.setdefault(group, (asyncio.Semaphore(self._concurrency), set()))
        users.add(key)
        try:
            async with slots:
                del self._due[key]  # from now on, a new add() means "run again after this one"
                started, failed = time.monotonic(), False
                try:
                    again = await self._work(key)
                    self._errors.pop(key, None)
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # noqa: BLE001 - a controller must survive any one failure
                    failed = True
                    self._on_error(key, error)
                    failures = self._errors.get(key, 0) + 1
                    self._errors[key] = failures
                    again = self._backoff(failures)
                if self._on_done is not None:
                    self._on_done(time.monotonic() - started, failed)
        finally:
            self._running.discard(key)
            users.discard(key)
            if not users:
                self._slots.pop(group, None)
        if again is not None:
            due = time.monotonic() + again
            self._due[key] = min(self._due.get(key, due), due)
        if key in self._due:
            self._timers[key] = asyncio.get_running_loop().call_later(
                max(self._due[key] - time.monotonic(), 0.0), self._start, key)
        elif not self._due and not self._running:
            self._idle.set()

    def depth(self) -> int:
        """Keys due that no worker has taken yet (a key scheduled for later does not count until its time)."""
        now = time.monotonic()
        return sum(1 for due in self._due.values() if due <= now)

    def oldest_wait(self) -> float:
        """How long the key that has waited longest past its due time has waited for a worker (0: none waits)."""
        now = time.monotonic()
        return max((now - due for due in self._due.values() if due <= now), default=0.0)

    def pending(self) -> set[K]:
        return set(self._due) | self._running

    async def join(self) -> None:
        """Until nothing is due or running (delayed retries count as due)."""
        await self._idle.wait()

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
