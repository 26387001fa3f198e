"""The operator as a user installs it: a wheel built from the project carries the templates and the catalog, and
every command works from the installed package alone, far from the source tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from openstack_operator import cli
from openstack_operator.core.catalog import Catalog

from .conftest import EXAMPLES, REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the directory it is installed into); built from a copy of the sources, so that the build leaves
    nothing in the checkout."""
    work = tmp_path_factory.mktemp("package")
    source = work / "source"
    source.mkdir()
    shutil.copy(REPO / "pyproject.toml", source)
    shutil.copytree(REPO / "openstack_operator", source / "openstack_operator",
                    ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(work / "dist"),
                    str(source)], check=True)
    wheel = next((work / "dist").glob("openstack_operator-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(work / "site"), str(wheel)], check=True)
    return wheel, work / "site"


def _command(site: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, run from an empty directory with only the installed package importable
    (besides the dependencies)."""
    script = site / "bin" / "openstack-operator"
    return subprocess.run([sys.executable, str(script), *args], input=stdin, capture_output=True, text=True,
                          cwd=site.parent, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, check=False)


def test_the_wheel_carries_the_catalog_and_every_template(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    source = REPO / "openstack_operator" / "templates"
    expected = {f"openstack_operator/templates/{p.relative_to(source)}" for p in source.rglob("*") if p.is_file()}
    assert "openstack_operator/templates/catalog.yaml" in expected
    assert expected <= names, sorted(expected - names)


def test_the_installed_command_renders_from_the_packaged_templates(installed: tuple[Path, Path]) -> None:
    _, site = installed
    version = _command(site, "--version")
    assert version.returncode == 0 and version.stdout.strip() == "openstack-operator 0.1.0", version
    where = subprocess.run([sys.executable, "-c", "import openstack_operator; print(openstack_operator.__file__)"],
                           capture_output=True, text=True, cwd=site.parent, env={"PYTHONPATH": str(site)},
                           check=True)
    assert Path(where.stdout.strip()).is_relative_to(site)
    manifest = (EXAMPLES / "minimal.yaml").read_text()
    rendered = _command(site, "render", "-f", "-", "--service", "identity", stdin=manifest)
    assert rendered.returncode == 0, rendered.stderr
    assert "openstack-keystone" in rendered.stdout
    assert _command(site, "validate", "-f", "-", stdin=manifest).returncode == 0


def test_the_processes_use_the_templates_dir_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "openstack_operator" / "templates", templates)
    started: dict[str, Any] = {}

    def run(process: str, catalog: Catalog) -> None:
        started.update(process=process, catalog=catalog)

    monkeypatch.setattr("openstack_operator.kube.process.run", run)
    assert cli.main(["--templates-dir", str(templates), "secrets"]) == 0
    assert started["catalog"].templates_dir == templates and started["process"] == "secrets"
