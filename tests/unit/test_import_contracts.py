"""The import contracts of pyproject.toml bite: a copy of the package where a controller imports pykube, or one
process imports another, fails `lint-imports` naming the contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(tree)})


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    shutil.copytree(REPO / "openstack_operator", tmp_path / "openstack_operator",
                    ignore=shutil.ignore_patterns("templates", "__pycache__"))
    return tmp_path


def _prepend(module: Path, line: str) -> None:
    text = module.read_text()
    head, rest = text.split("from __future__ import annotations\n", 1)
    module.write_text(f"{head}from __future__ import annotations\n{line}\n{rest}")


@pytest.mark.parametrize("module, line, broken", [
    ("controllers/osdpl.py", "import pykube  # noqa", "Only kube/ talks to the API server: pykube nowhere else"),
    ("controllers/health.py", "import openstack_operator.controllers.node  # noqa",
     "The five processes are independent of each other"),
    ("reconcilers/secrets.py", "import openstack_operator.controllers.secrets  # noqa", "Layers:"),
])
def test_a_forbidden_import_breaks_its_contract(copy: Path, module: str, line: str, broken: str) -> None:
    _prepend(copy / "openstack_operator" / module, line)
    result = _lint(copy)
    assert result.returncode != 0
    assert any(row.startswith(broken) and row.rstrip().endswith("BROKEN") for row in result.stdout.splitlines()), \
        result.stdout
