"""/healthz follows the event loop, not the thread that serves it: a loop that hangs makes the probe fail
(core.runtime.liveness, kube.metrics)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Iterator

import pytest

from openstack_operator.core.runtime.liveness import Heartbeat
from openstack_operator.kube import metrics

STALE = 0.5


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    yield running
    running.call_soon_threadsafe(running.stop)
    thread.join(timeout=10)
    running.close()


def test_healthz_fails_while_the_event_loop_is_blocked_and_recovers_after(loop: asyncio.AbstractEventLoop) -> None:
    heartbeat = Heartbeat(stale_after=STALE)
    beating = asyncio.run_coroutine_threadsafe(heartbeat.keep_beating(every=0.05), loop)
    port = metrics.serve("127.0.0.1", _free_port(), heartbeat)
    try:
        time.sleep(STALE * 2)
        assert _healthz(port) == (200, "ok\n")  # the loop runs: beats keep it fresh
        loop.call_soon_threadsafe(time.sleep, STALE * 4)  # a handler that blocks the loop
        time.sleep(STALE * 2)
        status, text = _healthz(port)  # the serving thread still answers, but tells the truth
        assert status == 500 and "event loop stalled" in text
        time.sleep(STALE * 3)
        assert _healthz(port) == (200, "ok\n")  # unblocked: beating again
    finally:
        beating.cancel()


def test_a_heartbeat_is_fresh_until_it_is_older_than_its_limit() -> None:
    now = [0.0]
    heartbeat = Heartbeat(stale_after=10, clock=lambda: now[0])
    now[0] = 9.9
    assert heartbeat.fresh()
    now[0] = 10.0
    assert not heartbeat.fresh()
    heartbeat.beat()
    assert heartbeat.fresh() and heartbeat.age() == 0
