"""kube.helm's recovery of a release a crash left mid-operation, with the real helm binary: a first install that
never finished is uninstalled without the chart's delete hooks. Those hooks clean up after a service that ran;
keystone's credential cleanup, for one, fails forever against a keystone that never started, and the release would
never install again. The chart here is made only to inject that failure: its pre-delete hook can never complete."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from openstack_operator.kube.helm import ChartCache, ChartSource
from openstack_operator.kube.helm import Helm as OperatorHelm

from .conftest import Helm, Kubectl

NOWHERE = {"nodeSelector": {"osop.dev/nowhere": "true"}, "restartPolicy": "Never",
           "containers": [{"name": "hook", "image": "quay.io/airshipit/openstack-client:2026.1-ubuntu_noble",
                           "command": ["true"]}]}


def _hook_job(name: str, hook: str) -> str:
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": name, "annotations": {"helm.sh/hook": hook}},
           "spec": {"backoffLimit": 0, "template": {"spec": NOWHERE}}}
    return yaml.safe_dump(job)


def _chart(directory: Path) -> Path:
    """Chart `stuck` 0.1.0: a ConfigMap, a post-install hook that never completes while `block` is set (the install
    a crash interrupts), and a pre-delete hook that never completes (the cleanup that cannot work)."""
    chart = directory / "stuck"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": "stuck", "version": "0.1.0"}))
    (chart / "templates" / "configmap.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "stuck"}, "data": {"ok": "yes"}}))
    (chart / "templates" / "post-install.yaml").write_text(
        "{{- if .Values.block }}\n" + _hook_job("stuck-post-install", "post-install") + "{{- end }}\n")
    (chart / "templates" / "pre-delete.yaml").write_text(_hook_job("stuck-pre-delete", "pre-delete"))
    return directory


def test_a_first_install_a_crash_interrupted_is_uninstalled_without_delete_hooks_and_installed_again(
        namespace: str, kubeconfig: Path, binaries: Path, helm: Helm, kubectl: Kubectl, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    charts = _chart(tmp_path / "charts")
    # The install a crash interrupts: helm waits on the post-install hook, the release is pending-install, and
    # helm is killed as a SIGKILL of the helmbundle process leaves it (then ended by the next process).
    interrupted = subprocess.Popen([str(binaries / "helm"), "--kubeconfig", str(kubeconfig), "install", "stuck",
                                    str(charts / "stuck"), "-n", namespace, "--set", "block=true", "--timeout",
                                    "600s"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (helm.releases(namespace).get("stuck", {}).get("status") == "pending-install" and kubectl.run(
                "-n", namespace, "get", "job", "stuck-post-install", check=False).returncode == 0):
            assert time.monotonic() < deadline, f"no pending install: {helm.releases(namespace)}"
            time.sleep(0.5)
    finally:
        os.kill(interrupted.pid, signal.SIGKILL)
        interrupted.wait()
    assert helm.releases(namespace)["stuck"]["status"] == "pending-install"

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    operator_helm = OperatorHelm(ChartSource(str(charts)), str(binaries / "helm"),
                                 ChartCache(tmp_path / "cache", str(binaries / "helm")))
    started = time.monotonic()
    # With the delete hooks the uninstall would wait on stuck-pre-delete for the whole 600 s timeout, and fail.
    installed = asyncio.run(asyncio.wait_for(operator_helm.install("stuck", namespace, "stuck", "0.1.0",
                                                                   {"block": False}, "f1", 600), 120))
    print(f"recovered and installed in {time.monotonic() - started:.1f} s")
    assert installed.revision == 1 and not installed.skipped
    assert [entry["status"] for entry in helm.history(namespace, "stuck")] == ["deployed"]
    assert kubectl.run("-n", namespace, "get", "job", "stuck-pre-delete", check=False).returncode != 0
    assert kubectl.json("-n", namespace, "get", "configmap", "stuck")["data"] == {"ok": "yes"}
