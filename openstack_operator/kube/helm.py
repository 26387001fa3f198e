"""Helm releases through pyhelm3 and the real helm binary.

Values go to Helm on stdin (pyhelm3 does that), never on the command line. Each release's Helm description
carries the fingerprint it was installed with, so after a restart the operator can tell that a release is already
at the wanted values and skip a duplicate upgrade (a new revision for nothing).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml
from pyhelm3 import Client
from pyhelm3.errors import Error as PyHelmError
from pyhelm3.errors import ReleaseNotFoundError
from pyhelm3.models import Chart, ReleaseRevision, ReleaseRevisionStatus

FINGERPRINT_PREFIX = "osop fingerprint "


class HelmError(Exception):
    """A Helm command failed; the message is Helm's own (callers redact it before showing it)."""


@dataclass(frozen=True)
class Installed:
    revision: int
    chart_version: str
    skipped: bool  # the release already ran these values: no Helm upgrade was made


class ChartSource:
    """Where charts come from: a local directory (`<dir>/<chart>`) or a chart repository URL."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.local = "://" not in location
        if self.local and not Path(location).is_dir():
            raise HelmError(f"chart source {location!r} is neither a directory nor a repository URL")

    async def chart(self, client: Client, name: str, version: str) -> Chart:
        if self.local:
            path = Path(self.location) / name
            metadata = _read_chart_yaml(path)
            if version and str(metadata.get("version")) != version:
                raise HelmError(f"chart {name} in {self.location} has version {metadata.get('version')}, "
                                f"the bundle asks for {version}")
            return await client.get_chart(path)
        return await client.get_chart(name, repo=self.location, version=version or None)


def _read_chart_yaml(path: Path) -> Mapping[str, Any]:
    try:
        metadata: Mapping[str, Any] = yaml.safe_load((path / "Chart.yaml").read_text())
    except OSError:
        raise HelmError(f"chart {path.name} not found in {path.parent}") from None
    return metadata


def helm_binary() -> str:
    binary = os.environ.get("OSOP_HELM") or shutil.which("helm")
    if not binary:
        raise HelmError("no helm binary: set OSOP_HELM or put helm on PATH")
    return binary


class Helm:
    def __init__(self, source: ChartSource, binary: str | None = None) -> None:
        self.source = source
        self.client = Client(executable=binary or helm_binary(), history_max_revisions=5)

    async def install(self, name: str, namespace: str, chart: str, version: str, values: Mapping[str, Any],
                      fingerprint: str, timeout_seconds: int) -> Installed:
        """`helm upgrade --install`, unless the release already runs exactly this fingerprint."""
        description = FINGERPRINT_PREFIX + fingerprint
        try:
            # Also unsticks a release left pending-install/-upgrade by a crash mid-operation.
            current = await self.client.get_proceedable_revision(name, namespace=namespace,
                                                                 timeout=f"{timeout_seconds}s")
            if (current is not None and current.status == ReleaseRevisionStatus.DEPLOYED
                    and current.description == description):
                return Installed(current.revision, await _chart_version(current), skipped=True)
            chart_ref = await self.source.chart(self.client, chart, version)
            revision = await self.client.install_or_upgrade_release(
                name, chart_ref, dict(values), namespace=namespace, description=description,
                timeout=f"{timeout_seconds}s", create_namespace=False, reset_values=True)
        except PyHelmError as error:
            raise HelmError(_message(error)) from None
        return Installed(revision.revision, await _chart_version(revision), skipped=False)

    async def uninstall(self, name: str, namespace: str, timeout_seconds: int) -> None:
        """`helm uninstall`; a release that is not there counts as uninstalled."""
        try:
            revision = await self.client.get_current_revision(name, namespace=namespace)
            await revision.release.uninstall(timeout=f"{timeout_seconds}s", wait=False)
        except ReleaseNotFoundError:
            return
        except PyHelmError as error:
            if "not found" in _message(error).lower():
                return
            raise HelmError(_message(error)) from None


async def _chart_version(revision: ReleaseRevision) -> str:
    metadata = await revision.chart_metadata()
    return str(metadata.version)


def _message(error: PyHelmError) -> str:
    """Helm's error, without the warnings it prints before it (they are not the failure)."""
    text = error.stderr.decode(errors="replace").strip() if error.stderr else str(error)
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Error: ")), 0)
    return "\n".join(lines[start:]).removeprefix("Error: ")
