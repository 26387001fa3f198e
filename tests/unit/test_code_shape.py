"""The shape of the processes, kept as the code changes: each controller module is Kopf wiring only (short), and no
function anywhere in the package grows past what a reader takes in at once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "openstack_operator"
PROCESSES = ("osdpl", "helmbundle", "health", "secrets", "node")
CONTROLLER_LINES = 250
FUNCTION_LINES = 60


@pytest.mark.parametrize("process", PROCESSES)
def test_each_process_has_its_three_parts_and_a_thin_controller(process: str) -> None:
    controller = PACKAGE / "controllers" / f"{process}.py"
    assert (PACKAGE / "reconcilers" / f"{process}.py").is_file() and (PACKAGE / "kube" / "gateways" /
                                                                      f"{process}.py").is_file()
    lines = len(controller.read_text().splitlines())
    assert lines <= CONTROLLER_LINES, f"{controller.name}: {lines} lines; move logic into its reconciler"
    assert "PROCESS = Process(" in controller.read_text()


def test_no_function_is_longer_than_a_screen() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "split into named steps: " + "; ".join(long)
