"""The operator chart (charts/openstack-operator) as users install it: `helm lint`, `helm install` into the real
API server and `helm uninstall`, and the kustomize base rendered from it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
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
        # the helmbundle process's cluster RBAC rule: installed with the chart, removed with it (install.md)
        policy = f"{home}-osop-openstack-operator-helmbundle-cluster-rbac"
        admission = ("validatingadmissionpolicy", "validatingadmissionpolicybinding")
        for kind in admission:
            kubectl.run("get", kind, policy)
        uninstalled = _helm(binaries, kubectl, "uninstall", "osop", "-n", home, "--wait")
        assert uninstalled.returncode == 0, uninstalled.stderr
        assert not kubectl.json("-n", home, "get", "deployments")["items"]
        assert not [r for r in kubectl.json("get", "clusterroles")["items"]
                    if r["metadata"]["name"].startswith(f"{home}:")]
        for kind in admission:
            assert "NotFound" in kubectl.run("get", kind, policy, check=False).stderr
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


# -- helm's own defaults (no --kube-version), the schema, and docs/install.md against what the chart renders ----------

def _template(binaries: Path, chart: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`helm template` as a user runs it: no --kube-version, no kubeconfig."""
    return subprocess.run([str(binaries / "helm"), "template", "openstack-operator", str(chart), *args],
                          capture_output=True, text=True, timeout=60)


def test_a_copy_of_the_chart_templates_with_helms_defaults(binaries: Path, tmp_path: Path) -> None:
    """A copy as `cp -r` makes it (links kept as links) renders for helm's default Kubernetes version, silently,
    with every generated CRD and the upgrade rule."""
    copy = tmp_path / "openstack-operator"
    shutil.copytree(operator_chart.CHART, copy, symlinks=True)
    result = _template(binaries, copy)
    assert result.returncode == 0 and not result.stderr, result.stderr
    rendered = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(result.stdout) if d}
    generated = {(d["kind"], d["metadata"]["name"]) for d in map(yaml.safe_load, map(Path.read_text,
                                                                                    (REPO / "crds").glob("*.yaml")))}
    assert len(generated) == 5 and generated <= rendered


REFUSED = [  # (values, what helm's error names)
    (["--set", "namespaces=null"], "missing property 'namespaces'"),
    (["-f", "EMPTY_NAMESPACES"], "/namespaces': minItems: got 0, want 1"),
    (["--set", "processes.node=null"], "/processes': missing property 'node'"),
    (["--set", "processes.osdpl.replicas=0"], "/processes/osdpl/replicas': minimum: got 0, want 1"),
    (["--set", "processes.osdpl.replica=1"], "/processes/osdpl': additional properties 'replica'"),
    (["--set", "processes.osdpl.resources.requests.memory=128MB"], "/processes/osdpl/resources/requests/memory'"),
    (["--set", "processes.osdpl.resources.limit.memory=1Gi"], "/processes/osdpl/resources': additional properties"),
    (["--set", "image.repository=registry.example.org/openstack-operator:0.1.0"], "/image/repository'"),
    (["--set", "image.tag=0.1.0 beta"], "/image/tag'"),
    (["--set", "image.tag=1"], "/image/tag': got number, want string"),
    (["--set", "imagePullSecrets={regcred}"], "/imagePullSecrets/0': got string, want object"),
    (["--set", "ceph.namespace=null"], "/ceph': missing property 'namespace'"),
    (["--set", "log.level=TRACE"], "/log/level'"),
    (["--set", "extraEnv[0].name=OSOP_HELM_CONCURRENCY,extraEnv[0].value=4"], "/extraEnv/0/value': got number"),
    (["--set", "podDisruptionBudget.maxUnavailable=0"], "/podDisruptionBudget/maxUnavailable'"),
    (["--set", "chartSource=https://user:secret@charts.example.org/"], "/chartSource': 'not' failed"),
    (["--set", "serviceMonitor.interval=30 seconds"], "/serviceMonitor/interval'"),
    (["--set", "metrics.port=0"], "/metrics/port"),
    (["--set", "namespaces={Open_Stack}"], "/namespaces/0"),
]
ACCEPTED = [  # what works stays accepted
    "image.tag=",
    "image.repository=registry.example.org:5000/osop/openstack-operator,image.tag=0.1.0@sha256:" + "a" * 64,
    "processes.osdpl.replicas=1,processes.osdpl.resources.requests.cpu=1,processes.node.resources.limits.memory=1.5Gi",
    "podDisruptionBudget.maxUnavailable=50%,ceph.enabled=true,namespaces={openstack,openstack-two}",
    "extraEnv[0].name=OSOP_HELM_CONCURRENCY,extraEnv[0].value=4",  # with --set-string below
    "chartSource=https://charts.example.org/openstack-helm,log.level=CRITICAL",
]


def test_the_schema_refuses_values_the_operator_cannot_work_with(binaries: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-namespaces.yaml"
    empty.write_text("namespaces: []\n")
    for args, named in REFUSED:
        args = [str(empty) if a == "EMPTY_NAMESPACES" else a for a in args]
        result = _template(binaries, operator_chart.CHART, *args)
        assert result.returncode != 0 and named in result.stderr, (args, result.stderr)
        assert "secret@" not in result.stderr  # a chartSource's password is not echoed


def test_the_schema_accepts_what_works(binaries: Path) -> None:
    for values in ACCEPTED:
        flag = "--set-string" if "extraEnv" in values else "--set"
        result = _template(binaries, operator_chart.CHART, flag, values)
        assert result.returncode == 0, (values, result.stderr)


def _install_md() -> str:
    return (REPO / "docs" / "install.md").read_text()


def _objects_table() -> dict[str, int]:
    """install.md's table of what the chart creates with its defaults: kind -> count."""
    section = _install_md().split("With the defaults it holds:", 1)[1].split("\n\n", 2)[1]
    counts: dict[str, int] = {}
    for row in section.splitlines()[2:]:
        kinds, numbers = (cell.strip() for cell in row.strip("|").split("|")[:2])
        pairs = list(zip(kinds.split(", "), numbers.split(", "), strict=True))
        counts.update((kind, int(number)) for kind, number in pairs)
    return counts


def test_install_md_counts_what_the_chart_creates(binaries: Path) -> None:
    docs = operator_chart.render(binaries / "helm")
    assert _objects_table() == dict(Counter(d["kind"] for d in docs))
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert set(re.findall(r"(\d+) Deployments of (\d+) replicas", _install_md())) == {
        (str(len(deployments)), str(d["spec"]["replicas"])) for d in deployments}
    namespaced = [d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["name"].endswith("-namespaced")]
    assert set(re.findall(r"the (\d+) `\*-namespaced` RoleBindings", _install_md())) == {str(len(namespaced))}
    # "5 per namespace; one more, the secrets process's, in ceph.namespace with ceph.enabled"
    wider = operator_chart.render(binaries / "helm", "namespaces={a,b}", "ceph.enabled=true")
    where = Counter(d["metadata"]["namespace"] for d in wider if d["kind"] == "RoleBinding")
    assert where == {"openstack-operator": len(PROCESSES), "a": len(namespaced), "b": len(namespaced),
                     "openstack-ceph-shared": 1}


def test_install_md_removes_by_hand_exactly_what_helm_uninstall_keeps(binaries: Path) -> None:
    kept = {(d["kind"].lower(), d["metadata"]["name"]) for d in operator_chart.render(binaries / "helm")
            if d["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep"}
    uninstalling = _install_md().split("## Uninstalling", 1)[1]
    by_hand = set()
    for kind, names in re.findall(r"^kubectl delete (\w+) ([^-\s][^\n#]*?)\s*$", uninstalling, re.MULTILINE):
        if kind != "namespace":
            kind = {"crd": "customresourcedefinition"}.get(kind, kind)
            by_hand |= {(kind, name) for name in names.split()}
    assert by_hand == kept
