"""Runs many `python -m openstack_operator ...` invocations for tests/unit/test_cli_bad_inputs.py in one interpreter:
the CLI is loaded once, then each invocation is a forked process of its own, with its own stdin, stdout and stderr
files, that runs the package's __main__ exactly as `python -m` does (runpy), and ends as the interpreter would
(flushing standard output; a failure there is the 'Exception ignored' an interpreter prints, exit 120).

Usage: python tests/unit/cli_batch.py CASES.json RESULTS.json, CASES a list of {argv, env, stdin, stdout, stderr}
(stdin: a path or null; stdout, stderr: paths); RESULTS the exit code of each, in order."""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback
from typing import Any

import openstack_operator.cli  # noqa: F401 - loaded once, before the forks
from openstack_operator.core.catalog import Catalog

PARALLEL = 2
_CATALOG = Catalog.load()  # the bundled catalog, read once: every case reads the same one (no --templates-dir)


def _bundled(templates_dir: Any = None, check: bool = True) -> Catalog:
    return _CATALOG if templates_dir is None else _LOAD(templates_dir, check)


_LOAD = Catalog.load


def _child(case: dict[str, Any]) -> None:
    Catalog.load = _bundled  # type: ignore[method-assign]
    os.environ.update(case["env"])
    for fd, path, flags in ((0, case["stdin"] or os.devnull, os.O_RDONLY),
                            (1, case["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, case["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = ["openstack_operator", *case["argv"]]
    code = 0
    try:
        runpy.run_module("openstack_operator", run_name="__main__", alter_sys=True)
    except SystemExit as exited:
        code = exited.code if isinstance(exited.code, int) else 0 if exited.code is None else 1
    except BaseException:  # noqa: BLE001 - what the interpreter would print: the test looks for it
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
    except Exception as exc:  # noqa: BLE001
        print(f"Exception ignored while flushing sys.stdout: {exc!r}", file=sys.stderr)
        code = 120
    sys.stderr.flush()
    os._exit(code)


def main(cases_path: str, results_path: str) -> None:
    with open(cases_path) as handle:
        cases = json.load(handle)
    codes: list[int | None] = [None] * len(cases)
    running: dict[int, int] = {}
    pending = list(enumerate(cases))
    sys.stdout.flush()
    sys.stderr.flush()
    while pending or running:
        while pending and len(running) < PARALLEL:
            index, case = pending.pop(0)
            pid = os.fork()
            if pid == 0:
                _child(case)
            running[pid] = index
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
    with open(results_path, "w") as handle:
        json.dump(codes, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
