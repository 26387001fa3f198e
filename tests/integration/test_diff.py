"""End to end, `openstack-operator diff` against the live shared deployment: nothing to change for the applied
manifest (exit 0), exactly the changed release and value for an edit (exit 1), every release to install for a
deployment that does not exist yet; no credential in the output."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import REPO, Deployment, Kubectl, Operators


def _diff(kubeconfig: Path, manifest: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openstack_operator", "diff", "-f", "-"], input=json.dumps(manifest),
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONPATH": str(REPO)})


def _lines(result: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    """release -> [action, change lines...]"""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in result.stdout.splitlines():
        if line.startswith("  "):
            current.append(line.strip())
        else:
            release, action = line.split(": ", 1)
            current = found[release.split()[0]] = [action]
    return found


def test_diff_shows_what_an_apply_would_change_and_no_credential(
        deployment: Deployment, operators: Operators, kubectl: Kubectl, kubeconfig: Path) -> None:
    manifest = copy.deepcopy(deployment.manifest)
    manifest["metadata"]["namespace"] = deployment.namespace
    unchanged = _diff(kubeconfig, manifest)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert {entry[0] for entry in _lines(unchanged).values()} == {"unchanged"}

    manifest["spec"]["services"] = {"identity": {"keystone": {"values": {"pod": {"replicas": {"api": 2}}}}}}
    changed = _diff(kubeconfig, manifest)
    assert changed.returncode == 1, changed.stderr
    releases = _lines(changed)
    assert releases.pop("openstack-keystone") == ["upgrade", "~ pod.replicas.api: 1 -> 2"]
    assert {entry[0] for entry in releases.values()} == {"unchanged"}

    elsewhere = copy.deepcopy(manifest)
    elsewhere["metadata"]["namespace"] = "no-such-deployment"
    new = _diff(kubeconfig, elsewhere)
    assert new.returncode == 1 and set(_lines(new)) == set(releases) | {"openstack-keystone"}
    assert {entry[0] for entry in _lines(new).values()} == {"install"}

    broken = _diff(kubeconfig, {**manifest, "spec": {**manifest["spec"], "size": "no-such-size"}})
    assert broken.returncode == 2 and "spec.size" in broken.stderr

    secret = kubectl.json("-n", deployment.namespace, "get", "secret", f"{deployment.name}-credentials")
    passwords = {json.loads(base64.b64decode(v))["password"] for v in secret["data"].values()}
    output = unchanged.stdout + changed.stdout + new.stdout
    assert not [p for p in passwords if p and p in output]
