"""The operator's image (Dockerfile), built as CI builds it: tools/build-image.sh (buildah, from a Debian base made by
mmdebstrap), then run with `buildah run` in a working container of its own per test. Chroot isolation shares the
host's network, so a process inside reaches the local control plane on loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import pytest
import yaml

from devcluster.binaries import pinned_versions
from openstack_operator.core.apigroup import GROUP

from .. import operator_chart
from .conftest import Kubectl

REPO = Path(__file__).resolve().parents[2]
USER = "65532:65532"
BUILD_TIMEOUT = 1800  # a cold build may first build the pinned binaries (about 7 minutes on 2 cores)
OSDPL_FINALIZER = f"osdpl.{GROUP}/uninstall-releases"


def _version() -> str:
    version: str = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    return version


class Buildah:
    """buildah on the storage tools/build-image.sh builds into (below the per-user cache)."""

    def __init__(self) -> None:
        cache = subprocess.run([str(REPO / "tools" / "cache-dir.sh")], check=True, capture_output=True,
                               text=True).stdout.strip()
        self.env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(Path(cache) / "buildah" / "storage.conf")}
        self.argv = ["buildah", "--storage-driver", "vfs"]

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*self.argv, *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"buildah {' '.join(args[:2])} failed ({result.returncode}): {result.stderr[-2000:]}")
        return result

    def run_argv(self, container: str, command: Sequence[str], volumes: Sequence[str] = (),
                 env: Mapping[str, str] | None = None) -> list[str]:
        """`buildah run` of `command` as the image's user (its USER), chroot isolation, host network."""
        options = [f"--volume={v}" for v in volumes] + [f"--env={k}={v}" for k, v in (env or {}).items()]
        return [*self.argv, "run", "--isolation=chroot", *options, container, "--", *command]

    def run(self, container: str, *command: str, volumes: Sequence[str] = (), env: Mapping[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.run_argv(container, command, volumes, env), capture_output=True, text=True,
                              env=self.env, timeout=timeout)


@dataclass(frozen=True)
class Image:
    name: str
    buildah: Buildah
    config: dict[str, Any]  # the OCI image configuration: User, Env, Entrypoint, Labels, ...
    size: str


@pytest.fixture(scope="module")
def image() -> Image:
    """The image, built (or found unchanged) by tools/build-image.sh once for this module."""
    start = time.monotonic()
    built = subprocess.run([str(REPO / "tools" / "build-image.sh")], capture_output=True, text=True,
                           timeout=BUILD_TIMEOUT)
    if built.returncode != 0:
        raise AssertionError(f"tools/build-image.sh failed ({built.returncode}):\n{built.stderr[-6000:]}")
    name = built.stdout.strip().splitlines()[-1]
    seconds = time.monotonic() - start
    buildah = Buildah()
    inspected = json.loads(buildah("inspect", "--type", "image", name).stdout)
    size = buildah("images", "--format", "{{.Size}}", name).stdout.strip().splitlines()[0]
    print(f"\nimage {name}: {size}, {len(inspected['OCIv1']['rootfs']['diff_ids'])} layers, "
          f"tools/build-image.sh took {seconds:.1f}s ({built.stderr.strip().splitlines()[-1]})")
    return Image(name, buildah, inspected["OCIv1"]["config"], size)


@pytest.fixture
def container(image: Image) -> Iterator[str]:
    """A working container of the image for one test, removed afterwards."""
    name = image.buildah("from", "--pull=never", "--quiet", "--name", f"osop-test-{uuid.uuid4().hex[:8]}",
                         image.name).stdout.strip()
    try:
        yield name
    finally:
        image.buildah("rm", name, check=False)


def test_configuration_and_labels(image: Image) -> None:
    config = image.config
    env = dict(entry.split("=", 1) for entry in config["Env"])
    labels = config["Labels"]
    oci = {k.rsplit(".", 1)[-1]: v for k, v in labels.items() if k.startswith("org.opencontainers.image.")}
    print(f"user {config['User']}, entrypoint {config['Entrypoint']}, OCI labels {oci}")
    assert config["User"] == USER
    assert config["Entrypoint"] == ["openstack-operator"]
    for variable in ("HOME", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME", "OSOP_CHART_CACHE"):
        assert env[variable] == "/tmp" or env[variable].startswith("/tmp/"), (variable, env[variable])
    assert labels["org.opencontainers.image.title"] == "openstack-operator"
    assert labels["org.opencontainers.image.version"] == _version()
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", labels["org.opencontainers.image.revision"])
    assert "org.opencontainers.image.source" in labels and labels["org.opencontainers.image.licenses"]


def test_version_and_helm(image: Image, container: str) -> None:
    version = image.buildah.run(container, "openstack-operator", "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"openstack-operator {_version()}"
    helm = image.buildah.run(container, "helm", "version", "--template", "{{.Version}}")
    assert helm.returncode == 0, helm.stderr
    assert helm.stdout.strip() == pinned_versions()["HELM_VERSION"]
    helm_env = image.buildah.run(container, "helm", "env")
    assert 'HELM_CACHE_HOME="/tmp/helm/cache"' in helm_env.stdout.splitlines(), helm_env.stdout
    print(f"{version.stdout.strip()}; helm {helm.stdout.strip()}")


# Run inside as the image's user: who it is (with a name: Kopf asks), that every module of the package imports (nothing the installed
# command needs was left out of the venv), that no compiler or pip is there, and what it may write. Symlinks
# are skipped (their own mode means nothing); /proc, /sys and /dev are the runtime's, /tmp is the emptyDir.
PROBE = """
import getpass, importlib.util, json, os, pkgutil, shutil, subprocess, sys
import openstack_operator
modules = [m.name for m in pkgutil.walk_packages(openstack_operator.__path__, "openstack_operator.")
           if not m.name.endswith(".__main__")]
for module in modules:
    importlib.import_module(module)
skip = {"/proc", "/sys", "/dev", "/tmp"}
writable = []
for root, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip]
    writable += [p for p in (os.path.join(root, n) for n in dirs + files)
                 if not os.path.islink(p) and os.access(p, os.W_OK)]
refused = {}
for directory in ["/", "/etc", "/opt/venv/bin", "/opt/venv/lib/python3.11/site-packages", "/usr/local/bin", "/root"]:
    try:
        open(os.path.join(directory, "probe"), "w").close()
        refused[directory] = "written"
    except OSError as error:
        refused[directory] = error.strerror
for variable in ["HOME", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME", "OSOP_CHART_CACHE"]:
    os.makedirs(os.environ[variable], exist_ok=True)
    with open(os.path.join(os.environ[variable], "probe"), "w") as f:
        f.write("ok")
base = os.path.realpath(sys.executable)  # the interpreter under the venv
tools = [t for t in ["cc", "gcc", "c++", "make", "pip", "pip3"] if shutil.which(t)]
tools += [m for m in ["pip", "setuptools"] if importlib.util.find_spec(m)]
tools += [f"{m} ({base})" for m in ["pip", "setuptools"]
          if subprocess.run([base, "-c", f"import {m}"], capture_output=True).returncode == 0]
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "name": getpass.getuser(), "modules": len(modules),
                  "writable": writable[:20], "refused": refused, "tools": tools,
                  "var_tmp": os.path.realpath("/var/tmp")}))
"""


def test_non_root_and_nothing_writable_outside_tmp(image: Image, container: str) -> None:
    probe = image.buildah.run(container, "python", "-c", PROBE)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    print(f"uid {found['uid']}, {found['modules']} modules imported, writes outside /tmp: {found['refused']}")
    assert (found["uid"], found["gid"], found["name"]) == (65532, 65532, "nonroot")
    assert found["modules"] > 20
    assert found["writable"] == [], found["writable"]
    assert set(found["refused"].values()) == {"Permission denied"}, found["refused"]
    assert found["tools"] == []
    assert found["var_tmp"] == "/tmp"


IMAGE_ACCOUNT = "image-test"


@pytest.fixture
def image_identity(kubectl: Kubectl, crds: None, namespace: str, binaries: Path, tmp_path: Path) -> Iterator[Path]:
    """A ServiceAccount of the test's own holding the osdpl process's rules from the chart in `namespace`, and a
    directory with its kubeconfig that the image's user can read through a bind mount. While the test runs, a
    ValidatingAdmissionPolicy lets only that account write OpenStackDeployments in `namespace`: the session's own
    operator processes (which watch every namespace) cannot do the work of the process in the image."""
    user = f"system:serviceaccount:{namespace}:{IMAGE_ACCOUNT}"
    role = operator_chart.cluster_role(operator_chart.render(binaries / "helm"), "osdpl", "namespaced")
    policy = f"osop-image-test-{namespace}"
    rules = [{"apiGroups": [GROUP], "apiVersions": ["*"], "operations": ["UPDATE"],
              "resources": ["openstackdeployments", "openstackdeployments/status"]},
             {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["configmaps"]}]
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": IMAGE_ACCOUNT, "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "rules": role["rules"],
         "metadata": {"name": IMAGE_ACCOUNT, "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": IMAGE_ACCOUNT, "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": IMAGE_ACCOUNT},
         "subjects": [{"kind": "ServiceAccount", "name": IMAGE_ACCOUNT, "namespace": namespace}]},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": policy},
         "spec": {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": rules},
                  "validations": [{"expression": f"request.userInfo.username == {json.dumps(user)}",
                                   "message": "only the process in the image writes here (test_image)"}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": policy},
         "spec": {"policyName": policy, "validationActions": ["Deny"], "matchResources": {
             "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}}}]
    kubectl.run("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    try:
        token = kubectl.run("-n", namespace, "create", "token", IMAGE_ACCOUNT, "--duration=1h").stdout.strip()
        cluster = kubectl.json("config", "view", "--raw", "--minify", "--flatten")["clusters"][0]["cluster"]
        directory = tmp_path / "kube"
        directory.mkdir()
        (directory / "kubeconfig").write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "image-test",
            "clusters": [{"name": "test", "cluster": cluster}],
            "users": [{"name": IMAGE_ACCOUNT, "user": {"token": token}}],
            "contexts": [{"name": "image-test", "context": {"cluster": "test", "user": IMAGE_ACCOUNT}}]}))
        directory.chmod(0o755)  # the image's user is not root
        (directory / "kubeconfig").chmod(0o644)
        _wait_for_the_policy(kubectl, namespace)
        yield directory
    finally:
        kubectl.run("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", policy,
                    "--ignore-not-found")
        # The process that set the osdpl's finalizer is gone: it goes by hand (the policy no longer refuses it), so
        # that the namespace can go.
        kubectl.run("-n", namespace, "patch", "osdpl", "in-image", "--type=merge", "-p",
                    '{"metadata":{"finalizers":null}}', check=False)


def _wait_for_the_policy(kubectl: Kubectl, namespace: str) -> None:
    """Until the API server enforces the policy (its cache syncs): our own update of a probe ConfigMap is refused
    (the policy covers ConfigMaps for this probe only)."""
    kubectl.run("-n", namespace, "create", "configmap", "policy-probe")
    deadline = time.monotonic() + 30
    while kubectl.run("-n", namespace, "annotate", "configmap", "policy-probe", "--overwrite",
                      f"probe={time.monotonic()}", check=False).returncode == 0:
        assert time.monotonic() < deadline, "the ValidatingAdmissionPolicy never took effect"
        time.sleep(0.5)


def _processes_of_group(pgid: int) -> dict[int, tuple[int, str]]:
    """pid -> (uid, command line) of the live processes of a process group (chroot isolation shares the host's
    PID namespace)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            uid = int(next(line.split()[1] for line in (entry / "status").read_text().splitlines()
                           if line.startswith("Uid:")))
            found[int(entry.name)] = (uid, (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, StopIteration):
            continue  # gone meanwhile
    return found


def test_osdpl_process_in_the_image_works_against_the_cluster(
        image: Image, container: str, kubectl: Kubectl, crds: None, namespace: str, image_identity: Path,
        tmp_path: Path) -> None:
    directory = image_identity
    server = urlsplit(yaml.safe_load((directory / "kubeconfig").read_text())["clusters"][0]["cluster"]["server"])
    # The local API server listens on the host's loopback: reachable from inside only with the host's network.
    reach = image.buildah.run(container, "python", "-c", "import socket; socket.create_connection("
                              f"({server.hostname!r}, {server.port or 443}), timeout=5).close()")
    assert reach.returncode == 0, f"{server.netloc} not reachable from the container: {reach.stderr}"

    manifest = yaml.safe_load((REPO / "deploy" / "examples" / "minimal.yaml").read_text())
    manifest["metadata"].update(name="in-image", namespace=namespace)
    manifest["spec"]["draft"] = True  # paused: nothing is deployed
    log_path = tmp_path / "osdpl.log"
    try:
        kubectl.run("apply", "--server-side", "-f", "-", input=json.dumps(manifest))
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                image.buildah.run_argv(container, ["openstack-operator", "osdpl"],
                                       volumes=[f"{directory}:/config:ro"],
                                       env={"KUBECONFIG": "/config/kubeconfig", "OSOP_NAMESPACES": namespace}),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=image.buildah.env,
                start_new_session=True)
        try:
            _take_up_and_stop(proc, kubectl, namespace, log_path)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    finally:
        kubectl.run("-n", namespace, "delete", "osdpl", "in-image", "--wait=false", "--ignore-not-found")


def _take_up_and_stop(proc: subprocess.Popen[bytes], kubectl: Kubectl, namespace: str, log_path: Path) -> None:
    """Until the process in the image has taken the osdpl up (its finalizer, status Draft), then SIGTERM."""
    deadline = time.monotonic() + 90
    osdpl: dict[str, Any] = {}
    while time.monotonic() < deadline and proc.poll() is None:
        osdpl = kubectl.json("-n", namespace, "get", "osdpl", "in-image")
        conditions = {c["type"]: c for c in (osdpl.get("status") or {}).get("conditions") or []}
        if OSDPL_FINALIZER in osdpl["metadata"].get("finalizers", []) and \
                conditions.get("Progressing", {}).get("reason") == "Draft":
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the osdpl process in the image did not take up the osdpl (exit {proc.poll()}); "
                             f"status {osdpl.get('status')}\n{log_path.read_text()[-4000:]}")
    print(f"osdpl in the image: finalizer {OSDPL_FINALIZER}, Progressing "
          f"{conditions['Progressing']['reason']!r}: {conditions['Progressing']['message']}")
    # Stopped as the kubelet stops it: SIGTERM to the operator itself (buildah run would SIGKILL its child).
    inside = {pid: cmd for pid, (uid, cmd) in _processes_of_group(proc.pid).items()
              if uid == 65532 and "openstack-operator osdpl" in cmd and "buildah-chroot-exec" not in cmd}
    assert inside, _processes_of_group(proc.pid)
    for pid in inside:
        os.kill(pid, signal.SIGTERM)
    code = proc.wait(timeout=30)
    print(f"stopped by SIGTERM: buildah run exited {code}")
    assert code == 0, log_path.read_text()[-4000:]
