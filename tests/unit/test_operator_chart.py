"""The operator chart's files and docs/install.md, without helm: the chart is real files (a copied or packaged chart
follows no link), its CRDs are the generated ones, and the image build commands and defaults the doc gives are the
Dockerfile's. (tests/integration/test_chart.py renders the chart with helm.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .conftest import REPO

CHART = REPO / "charts" / "openstack-operator"
INSTALL = REPO / "docs" / "install.md"


def test_the_chart_holds_no_symlink() -> None:
    links = [str(path.relative_to(CHART)) for path in CHART.rglob("*") if path.is_symlink()]
    assert not links, f"symlinks in the chart (a copied chart breaks, helm warns): {links}; run 'make crds'"


def test_the_charts_crds_are_the_generated_ones_byte_for_byte() -> None:
    generated = {path.name: path.read_bytes() for path in (REPO / "crds").glob("*.yaml")}
    copied = {path.name: path.read_bytes() for path in (CHART / "files" / "crds").glob("*.yaml")}
    assert sorted(copied) == sorted(generated), "run 'make crds'"
    stale = [name for name in generated if copied[name] != generated[name]]
    assert not stale, f"files/crds is stale: {stale}; run 'make crds'"


def _build_argument_table() -> dict[str, str]:
    """docs/install.md's table of build arguments: name -> default as the doc writes it (`empty` is "")."""
    table: dict[str, str] = {}
    for line in INSTALL.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].strip("`").isupper():
            names = re.findall(r"`([A-Z_]+)`", cells[0])
            defaults = [d.strip().strip("`") if d.strip() != "empty" else "" for d in cells[1].split(", ")]
            assert len(names) == len(defaults), line
            table.update(zip(names, defaults))
    return table


def test_the_build_argument_defaults_are_the_dockerfiles() -> None:
    dockerfile = {name: default.strip('"') for name, default in
                  re.findall(r"^ARG ([A-Z_]+)=(.*)$", (REPO / "Dockerfile").read_text(), re.MULTILINE)}
    assert _build_argument_table() == dockerfile


def test_the_docs_helm_staging_command_works_without_a_build_folder(tmp_path: Path) -> None:
    """The doc's `cp ... build/helm`, as written, in a fresh tree (no build/): the pinned binaries are a stub here."""
    command = next(line.strip() for line in INSTALL.read_text().splitlines()
                   if "build/helm" in line and "cp " in line and "tools/build-binaries.sh" in line)
    binaries = tmp_path / "cache"
    binaries.mkdir()
    (binaries / "helm").write_text("helm\n")
    (tmp_path / "tools").mkdir()
    stub = tmp_path / "tools" / "build-binaries.sh"
    stub.write_text(f"#!/bin/sh\necho building >&2\necho {binaries}\n")
    stub.chmod(0o755)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=tmp_path, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, f"{command}: {result.stderr}"
    assert (tmp_path / "build" / "helm").read_text() == "helm\n"
