"""The operator chart (charts/openstack-operator) as users install it: `helm lint`, `helm install` into the real
API server and `helm uninstall`, and the kustomize base rendered from it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from openstack_operator.cli import PROCESSES

from .. import operator_chart
from .conftest import Kubectl, temporary_namespace

REPO = Path(__file__).resolve().parents[2]
EVERY_OPTION = "serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true,ceph.enabled=true"


def _helm(binaries: Path, kubectl: Kubectl, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binaries / "helm"), "--kubeconfig", str(kubectl.kubeconfig), *args],
                          capture_output=True, text=True, timeout=300)


def test_helm_lint_is_clean_with_the_defaults_and_every_option(binaries: Path, kubectl: Kubectl) -> None:
    for extra in ([], ["--set", EVERY_OPTION]):
        result = _helm(binaries, kubectl, "lint", "--strict", str(operator_chart.CHART), *extra)
        print(result.stdout)
        assert result.returncode == 0 and "0 chart(s) failed" in result.stdout, result.stdout + result.stderr
        assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


def test_bad_values_are_refused_naming_them(binaries: Path) -> None:
    for value, named in [("namespaces={Open_Stack}", "/namespaces/0"),
                         ("processes.nova.replicas=1", "processes.nova: no such operator process"),
                         ("metrics.port=0", "/metrics/port")]:
        result = subprocess.run([str(binaries / "helm"), "template", "x", str(operator_chart.CHART), "--kube-version",
                                 operator_chart.KUBE_VERSION, "--set", value], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode != 0 and named in result.stderr, (value, result.stderr)


def test_the_chart_installs_every_process_and_uninstalls_keeping_the_crds(binaries: Path, kubectl: Kubectl,
                                                                         crds: None) -> None:
    with temporary_namespace(kubectl, "t-operator") as home, temporary_namespace(kubectl, "t-cloud") as cloud:
        # The CRDs are in the cluster already (applied by the tests' fixture): the chart's own copy stays out. No
        # ServiceMonitor or PrometheusRule: the local cluster has no Prometheus operator CRDs.
        installed = _helm(binaries, kubectl, "install", "osop", str(operator_chart.CHART), "-n", home, "--set",
                          f"crds.install=false,namespaces={{{cloud}}},grafanaDashboard.enabled=true")
        assert installed.returncode == 0, installed.stderr
        deployments = kubectl.json("-n", home, "get", "deployments")["items"]
        assert {d["metadata"]["name"]: d["spec"]["replicas"] for d in deployments} == {
            f"osop-openstack-operator-{p}": 2 for p in PROCESSES}
        for deployment in deployments:
            pod = deployment["spec"]["template"]["spec"]
            container = pod["containers"][0]
            assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["OSOP_NAMESPACES"] == cloud and env["OSOP_LEADER_ELECTION_NAMESPACE"] == home
        assert len(kubectl.json("-n", home, "get", "poddisruptionbudgets")["items"]) == len(PROCESSES)
        assert kubectl.json("-n", home, "get", "service", "osop-openstack-operator-metrics")["spec"]["ports"]
        assert kubectl.json("-n", home, "get", "configmap", "osop-openstack-operator-dashboard")["data"]
        bound = {b["metadata"]["name"] for b in kubectl.json("-n", cloud, "get", "rolebindings")["items"]}
        assert bound == {f"osop-openstack-operator-{p}-namespaced" for p in PROCESSES}
        uninstalled = _helm(binaries, kubectl, "uninstall", "osop", "-n", home, "--wait")
        assert uninstalled.returncode == 0, uninstalled.stderr
        assert not kubectl.json("-n", home, "get", "deployments")["items"]
        assert not [r for r in kubectl.json("get", "clusterroles")["items"]
                    if r["metadata"]["name"].startswith(f"{home}:")]
    kubectl.run("get", "crd", "openstackdeployments.openstack.osop.dev")


def test_the_crds_in_the_chart_are_the_generated_ones_and_survive_an_uninstall(binaries: Path) -> None:
    rendered = {(d["kind"], d["metadata"]["name"]): d for d in operator_chart.render(binaries / "helm")}
    for path in sorted((REPO / "crds").glob("*.yaml")):  # the CRDs and the upgrade policy that goes with them
        generated = yaml.safe_load(path.read_text())
        chart = rendered[generated["kind"], generated["metadata"]["name"]]
        # helm uninstall leaves them: deleting a CRD deletes every OpenStackDeployment, and so the clouds
        assert chart["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert chart["spec"] == generated["spec"]


def test_the_kustomize_base_is_the_chart_and_the_api_server_accepts_it(binaries: Path, kubectl: Kubectl) -> None:
    base = [d for d in yaml.safe_load_all(kubectl.run("kustomize", str(REPO / "deploy" / "kustomize")).stdout) if d]
    chart = operator_chart.render(binaries / "helm")
    key = lambda d: (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])  # noqa: E731
    assert sorted(map(key, base)) == sorted([*map(key, chart), ("Namespace", "", "openstack-operator")])
    for namespace in ("openstack", "openstack-operator"):  # the base's deployment and operator namespaces
        if kubectl.run("get", "namespace", namespace, check=False).returncode != 0:
            kubectl.run("create", "namespace", namespace)
    kubectl.run("apply", "--dry-run=server", "--server-side", "--force-conflicts", "-f", "-",
                input=json.dumps({"apiVersion": "v1", "kind": "List", "items": base}))
