"""The numbers README.md and docs/quickstart.md say `make demo` ends with, computed from the code and the real charts
rather than trusted: HEALTH (components the health process counts for the minimal example's releases) and the
objects the releases create. LCM PROGRESS (services) is checked without charts in tests/unit/test_docs_commands.py.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.health.workloads import RELEASE_ANNOTATION, scheduled_run, workload_release

from . import lib
from .conftest import REPO, render_deployment
from ..unit.test_docs_commands import demo_claims

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")  # what the health process watches


def _installed(release: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    """`obj` as it stands in the cluster once the release is installed and Ready, None if it does not: Helm runs
    delete and test hooks only on `helm uninstall` / `helm test`, deletes a hook that asks for it once it
    succeeded, and annotates what is not a hook with the release's name."""
    annotations = dict((obj.get("metadata") or {}).get("annotations") or {})
    hook = annotations.get("helm.sh/hook")
    if hook is not None:
        events = {h.strip() for h in hook.split(",")}
        if not events & {"pre-install", "post-install", "pre-upgrade", "post-upgrade"}:
            return None
        if "hook-succeeded" in annotations.get("helm.sh/hook-delete-policy", ""):
            return None
        return obj
    return {**obj, "metadata": {**obj["metadata"], "annotations": {**annotations, RELEASE_ANNOTATION: release}}}


def minimal_manifests(catalog: Catalog, charts: Path, helm: Path) -> dict[str, list[dict[str, Any]]]:
    doc = yaml.safe_load((REPO / "deploy" / "examples" / "minimal.yaml").read_text())
    deployment = render_deployment(catalog, doc, charts)
    return {name: lib.helm_template(helm, name, r.chart_tgz, r.release.namespace, r.release.values)
            for name, r in deployment.releases.items()}


def health_components(manifests: dict[str, list[dict[str, Any]]]) -> set[tuple[str, str]]:
    """(application, component) of every workload the health process counts for these releases."""
    components = set()
    for release, objects in manifests.items():
        for obj in objects:
            installed = _installed(release, obj)
            if installed is None or installed.get("kind") not in WORKLOAD_KINDS or scheduled_run(installed):
                continue
            labels = installed["metadata"].get("labels") or {}
            if "application" in labels and "component" in labels and workload_release(installed) == release:
                components.add((labels["application"], labels["component"]))
    return components


def test_the_demo_health_is_the_minimal_examples_components(catalog: Catalog, charts: Path, helm: Path) -> None:
    total = len(health_components(minimal_manifests(catalog, charts, helm)))
    claims = demo_claims()
    assert claims and {health for _, _, health in claims} == {f"{total}/{total}"}, (total, claims)


def test_the_demo_object_count_is_the_releases(catalog: Catalog, charts: Path, helm: Path) -> None:
    """quickstart.md's "N releases created M objects in openstack: ..." (devcluster.demo.created_objects: every
    object of every release's manifest and hooks, as `helm template` renders them)."""
    manifests = minimal_manifests(catalog, charts, helm)
    kinds = Counter(obj["kind"] for objects in manifests.values() for obj in objects)
    text = (REPO / "docs" / "quickstart.md").read_text()
    match = re.search(r"^(\d+) releases created (\d+) objects in \w+: (.*), \.\.\.$", text, re.M)
    assert match is not None
    assert (int(match.group(1)), int(match.group(2))) == (len(manifests), sum(kinds.values()))
    shown = {kind: int(count) for count, kind in (item.split(" ", 1) for item in match.group(3).split(", "))}
    assert shown == {kind: kinds[kind] for kind in shown}  # the most frequent kinds, as the demo prints them
    assert min(shown.values()) >= max(c for k, c in kinds.items() if k not in shown)
