"""Starting the operator processes outside a cluster, as users run them (`python -m openstack_operator <process>`):
the one launcher of the demo, the benchmarks and the integration tests.

One place builds the command and the environment, so that every caller runs the processes the same way and states
their configuration as a typed `Settings` (checked, with its defaults) rather than as hand-written `OSOP_*` strings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType
from typing import IO, Mapping

from devcluster.binaries import REPO
from devcluster.cluster import Cluster
from openstack_operator.core.settings import Settings

NOTHING: Mapping[str, str] = MappingProxyType({})


def operator_command(process: str) -> list[str]:
    """This interpreter (the caller's, i.e. the pinned venv) running the package as a module, as the image does."""
    return [sys.executable, "-m", "openstack_operator", process]


def operator_environ(kubeconfig: Path, settings: Settings, extra: Mapping[str, str] = NOTHING,
                     code: Path = REPO) -> dict[str, str]:
    """The caller's environment, then the code to run (PYTHONPATH: the repository, or a copy of it that stays the
    same while the tree is edited), the cluster (KUBECONFIG), the settings that differ from their defaults, and
    `extra` last (a test's raw override, or a variable that is not a setting).

    The caller's environment comes first so that a setting left at its default passes through as the caller has it:
    `OSOP_HELM_CONCURRENCY=1 make bench-deploy` reaches the processes."""
    return {**os.environ, "PYTHONPATH": str(code), "KUBECONFIG": str(kubeconfig), **settings.environ(), **extra}


def launch(process: str, kubeconfig: Path, settings: Settings, log: Path | IO[bytes] | None,
           extra_env: Mapping[str, str] = NOTHING, code: Path = REPO) -> subprocess.Popen[bytes]:
    """One process as a child of the caller, which owns it (kill, terminate, wait, restart). No stdin; stdout and
    stderr go to `log`: a file appended to (restarts keep the earlier lines), an open file, or None: discarded."""
    argv, env = operator_command(process), operator_environ(kubeconfig, settings, extra_env, code)
    if isinstance(log, Path):
        with log.open("ab") as out:
            return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL if log is None else log, stderr=subprocess.STDOUT)


def launch_detached(cluster: Cluster, process: str, settings: Settings,
                    extra_env: Mapping[str, str] = NOTHING) -> int:
    """One process that lives with `cluster` rather than with the caller (the demo exits, the operators keep
    running): in a session of its own, logging to `operator-<process>.log` in the cluster's log folder, its pid in
    the cluster's state so that `cluster.down()` (`make cluster-down`) stops it; one started before under that name
    is stopped first. Returns the pid."""
    return cluster.start_process(f"operator-{process}", operator_command(process),
                                 operator_environ(cluster.kubeconfig, settings, extra_env))
