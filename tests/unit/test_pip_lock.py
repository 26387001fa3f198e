"""tools/pip_lock.py, which writes the OpenStack images' lock files from pip's install report: every distribution
pinned by exact version and archive digest, names in one normal form, and nothing it cannot pin."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "pip_lock.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pip_lock", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _item(name: str, version: str, sha: str | None) -> dict[str, Any]:
    archive = {"hashes": {"sha256": sha}} if sha else {}
    return {"metadata": {"name": name, "version": version},
            "download_info": {"url": f"https://example.invalid/{name}.whl", "archive_info": archive}}


def test_lines_are_sorted_normalized_and_hashed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = {"install": [_item("oslo.config", "10.7.0", "ab" * 32), _item("Flask_RESTful", "0.3.10", "cd" * 32)]}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    assert _tool().main([str(path), "--header", "written by a test"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "# written by a test",
        f"flask-restful==0.3.10 --hash=sha256:{'cd' * 32}",
        f"oslo-config==10.7.0 --hash=sha256:{'ab' * 32}",
    ]


def test_a_distribution_without_an_archive_digest_is_refused() -> None:
    with pytest.raises(SystemExit, match="local-thing"):
        _tool().lock_lines({"install": [_item("local-thing", "1.0", None)]})
