"""Helm child processes across restarts of the helmbundle process.

Each `helm` the process starts carries, in its environment, the pid and start time of the process that started
it. A helmbundle process killed mid-operation (SIGKILL, OOM) leaves its `helm` running, reparented: that operation
would go on beside the one the next process starts on the same release. So the next process ends, before it does
any Helm work, every tagged process whose starter is gone (a pid alone could have been reused: the start time tells).
The release such a child was working on is left `pending-*`; Helm.install recovers that state.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

log = logging.getLogger("osop.children")
OWNER_ENV = "OSOP_HELM_OWNER"
PROC = Path("/proc")


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), None if it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after the command name, which may hold spaces


def owner_tag(pid: int) -> str:
    return f"{pid}:{_start_time(pid)}"


def tag_children() -> None:
    """Every process started from now on carries this process's tag."""
    os.environ[OWNER_ENV] = owner_tag(os.getpid())


def _tag_of(pid: int) -> str | None:
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:  # gone, or not ours to read
        return None
    prefix = f"{OWNER_ENV}=".encode()
    return next((entry[len(prefix):].decode() for entry in environ.split(b"\0") if entry.startswith(prefix)), None)


def _owner_alive(tag: str) -> bool:
    pid, _, started = tag.partition(":")
    return pid.isdigit() and _start_time(int(pid)) == started


def end_orphans() -> list[int]:
    """SIGKILL every tagged process whose starter is no longer running; returns their pids."""
    ended = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        tag = _tag_of(int(entry.name))
        if tag is None or _owner_alive(tag):
            continue
        try:
            os.kill(int(entry.name), signal.SIGKILL)
        except ProcessLookupError:
            continue
        ended.append(int(entry.name))
    if ended:
        log.warning("ended %d helm processes left running by a helmbundle process that is gone: pids %s",
                    len(ended), ", ".join(map(str, ended)))
    return ended


def end_own_children() -> list[int]:
    """SIGKILL every process this one started with its tag (before it exits without a clean stop: a lost lease)."""
    mine, ended = owner_tag(os.getpid()), []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and _tag_of(int(entry.name)) == mine:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                continue
            ended.append(int(entry.name))
    return ended
