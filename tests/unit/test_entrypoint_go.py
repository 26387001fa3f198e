"""Our kubernetes-entrypoint (tools/go/entrypoint, the charts' dependency-check init container on the real node) is
Go: its own tests run in the test command with the Go the README asks for, offline (standard library only)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

MODULE = Path(__file__).resolve().parents[2] / "tools" / "go" / "entrypoint"


def test_the_entrypoints_go_tests_pass() -> None:
    result = subprocess.run(["go", "test", "-count=1", "./..."], cwd=MODULE, capture_output=True, text=True,
                            timeout=600, env={**os.environ, "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert result.stdout.startswith("ok"), result.stdout
