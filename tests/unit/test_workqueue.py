"""The coalescing work queue: one worker per key, bursts coalesce, delays and errors reschedule."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Coroutine

from openstack_operator.core.runtime.workqueue import WorkQueue


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coroutine)


def test_a_burst_of_adds_runs_once() -> None:
    calls: list[str] = []

    async def work(key: str) -> float | None:
        calls.append(key)
        return None

    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue(work, 2, lambda k, e: None)
        for _ in range(100):
            queue.add("a")
        queue.add("b")
        await asyncio.wait_for(queue.join(), 2)

    _run(main())
    assert sorted(calls) == ["a", "b"]


def test_an_add_while_running_runs_again_after_never_concurrently() -> None:
    running = 0
    most = 0
    calls = 0
    release = asyncio.Event()

    async def main() -> None:
        nonlocal running, most, calls

        async def work(key: str) -> float | None:
            nonlocal running, most, calls
            running += 1
            most = max(most, running)
            calls += 1
            if calls == 1:
                await release.wait()
            running -= 1
            return None

        queue: WorkQueue[str] = WorkQueue(work, 4, lambda k, e: None)
        queue.add("a")
        await asyncio.sleep(0.01)
        queue.add("a")  # while the first run waits: must run once more, after it
        queue.add("a")
        release.set()
        await asyncio.wait_for(queue.join(), 2)

    _run(main())
    assert (calls, most) == (2, 1)


def test_returned_delay_and_errors_reschedule_with_backoff() -> None:
    calls: list[float] = []
    errors: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def work(key: str) -> float | None:
            calls.append(loop.time() - start)
            if len(calls) == 1:
                raise RuntimeError("boom")  # retried after ERROR_BACKOFF_FIRST (1 s)
            if len(calls) == 2:
                return 0.2
            return None

        queue: WorkQueue[str] = WorkQueue(work, 1, lambda k, e: errors.append(f"{k}: {e}"))
        queue.add("a")
        await asyncio.wait_for(queue.join(), 5)

    _run(main())
    assert errors == ["a: boom"]
    assert len(calls) == 3
    assert 0.9 <= calls[1] - calls[0] < 1.5
    assert 0.15 <= calls[2] - calls[1] < 0.6


def test_an_earlier_add_wins_over_a_later_delay() -> None:
    calls: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def work(key: str) -> float | None:
            calls.append(loop.time() - start)
            return None

        queue: WorkQueue[str] = WorkQueue(work, 1, lambda k, e: None)
        queue.add("a", 5.0)
        queue.add("a", 0.05)
        queue.add("a", 3.0)  # later than what is already due: ignored
        await asyncio.wait_for(queue.join(), 2)

    _run(main())
    assert len(calls) == 1 and calls[0] < 1.0


def test_each_run_is_reported_with_its_failure_and_the_waiting_keys_are_counted() -> None:
    done: list[tuple[float, bool]] = []
    gate = asyncio.Event()

    async def main() -> None:
        async def work(key: str) -> float | None:
            if key == "slow":
                await gate.wait()
            if key == "bad":
                raise RuntimeError("boom")
            return None

        queue: WorkQueue[str] = WorkQueue(work, 1, lambda k, e: None, lambda seconds, failed: done.append(
            (seconds, failed)))
        queue.add("slow")
        await asyncio.sleep(0.01)  # "slow" holds the only worker
        queue.add("bad")
        queue.add("later", 60)
        await asyncio.sleep(0.1)
        assert queue.depth() == 1  # "bad" waits for the worker; "later" is not due, "slow" runs
        assert 0.05 < queue.oldest_wait() < 1  # "bad" has waited since it was due, "later" is not due
        gate.set()
        for _ in range(100):
            if len(done) >= 2:
                break
            await asyncio.sleep(0.01)
        queue.close()

    _run(main())
    assert [failed for _, failed in done[:2]] == [False, True]
    assert done[0][0] >= 0.09  # "slow" ran while the others waited


def test_a_second_group_progresses_while_every_slot_of_the_first_is_stuck() -> None:
    """Slots per group (the helmbundle process: per namespace): eight stuck releases of one deployment hold that
    deployment's slots only; another deployment's work runs at once, and the stuck group's keys wait their turn."""
    stuck = asyncio.Event()  # never set while the second group runs: the first group's hooks hang
    done: list[tuple[str, str]] = []
    started: list[tuple[str, str]] = []

    async def main() -> None:
        async def work(key: tuple[str, str]) -> float | None:
            started.append(key)
            if key[0] == "cloud-a":
                await stuck.wait()
            done.append(key)
            return None

        queue: WorkQueue[tuple[str, str]] = WorkQueue(work, 4, lambda k, e: None, group=lambda key: key[0])
        for release in range(8):
            queue.add(("cloud-a", f"r{release}"))
        await asyncio.sleep(0.05)
        queue.add(("cloud-b", "r0"))
        queue.add(("cloud-b", "r1"))
        await asyncio.wait_for(_until(lambda: len(done) == 2), 2)
        assert sorted(done) == [("cloud-b", "r0"), ("cloud-b", "r1")]
        assert sum(1 for key in started if key[0] == "cloud-a") == 4  # its own limit: the other four wait
        stuck.set()
        await asyncio.wait_for(queue.join(), 2)
        assert len(done) == 10

    _run(main())


def test_without_groups_the_limit_is_for_all_keys() -> None:
    running = most = 0

    async def main() -> None:
        async def work(key: tuple[str, str]) -> float | None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.01)
            running -= 1
            return None

        queue: WorkQueue[tuple[str, str]] = WorkQueue(work, 2, lambda k, e: None)
        for namespace in ("a", "b", "c"):
            for release in range(3):
                queue.add((namespace, f"r{release}"))
        await asyncio.wait_for(queue.join(), 2)

    _run(main())
    assert most == 2


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)
