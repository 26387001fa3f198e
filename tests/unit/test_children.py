"""Helm processes a killed helmbundle process left behind are ended by the next one; live ones are not (real
processes: `sleep` stands in for `helm`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from openstack_operator.kube.children import OWNER_ENV, end_orphans, owner_tag


def _sleeper(tag: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"], env={**os.environ, OWNER_ENV: tag})


def test_a_child_whose_starter_is_gone_is_ended_and_one_whose_starter_runs_is_not() -> None:
    starter = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead_starter = subprocess.Popen(["true"])
    dead_starter.wait()
    orphan = _sleeper(f"{dead_starter.pid}:0")  # a starter that is gone (or a reused pid: other start time)
    sibling = _sleeper(owner_tag(starter.pid))
    own = _sleeper(owner_tag(os.getpid()))
    try:
        time.sleep(0.2)  # the children have exec'd: their environment is readable
        ended = end_orphans()
        assert orphan.pid in ended and orphan.wait(timeout=5) == -9
        assert sibling.pid not in ended and own.pid not in ended
        assert sibling.poll() is None and own.poll() is None
    finally:
        for proc in (starter, orphan, sibling, own):
            proc.kill()
            proc.wait()
