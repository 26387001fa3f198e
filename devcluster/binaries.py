"""Where the pinned binaries are: built on first use by tools/build-binaries.sh, cached per user."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def bin_dir() -> Path:
    result = subprocess.run([str(REPO / "tools" / "build-binaries.sh")], check=True, stdout=subprocess.PIPE,
                            text=True)
    return Path(result.stdout.strip().splitlines()[-1])


@lru_cache(maxsize=1)
def helm_binary() -> Path:
    """helm alone, built first: what needs nothing else (checks, conformance, unit tests) need not wait for the
    control plane's build."""
    result = subprocess.run([str(REPO / "tools" / "build-binaries.sh"), "helm"], check=True, stdout=subprocess.PIPE,
                            text=True)
    return Path(result.stdout.strip().splitlines()[-1]) / "helm"


def pinned_versions() -> dict[str, str]:
    """tools/versions.env: the pinned versions (K8S_VERSION, HELM_VERSION, ...)."""
    lines = (REPO / "tools" / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
