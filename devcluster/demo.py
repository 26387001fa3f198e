"""The main job, locally: a control plane, the CRDs, the operator processes and an example, then `kubectl get osdpl`
until it is Ready (or the reason it is not).

Where the machine allows it (root, network namespaces), the cluster has a real node and the example is
deploy/examples/real-node.yaml: the identity service and its dependencies run there as real containers, the rest on
kwok's simulated nodes. Elsewhere it says why and deploys deploy/examples/minimal.yaml on kwok alone.

python -m devcluster.demo [-f MANIFEST] [--timeout SECONDS] [--kwok-only]
The operators keep running with the cluster; `make cluster-down` stops both. Charts come from $OSOP_CHART_SOURCE
(a chart repository URL or a directory) when set; by default from a chart repository on loopback that serves the
OpenStack-Helm chart set the catalog pins (devcluster.charts), started with the cluster and stopped with it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from devcluster import crds, images, netns
from devcluster.binaries import REPO, bin_dir
from devcluster.charts import ChartSetError, chart_directory, wait_until_serving
from devcluster.cluster import Cluster, ClusterError
from devcluster.operators import launch_detached
from devcluster.processes import free_port
from openstack_operator.cli import PROCESSES
from openstack_operator.core.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser(prog="devcluster.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", "--file", type=Path, help="default: the real-node example, or the minimal one on kwok")
    parser.add_argument("--timeout", type=float, help="seconds until Ready (default: 1200 with a real node, else 300)")
    parser.add_argument("--kwok-only", action="store_true", help="no real node even where the machine allows one")
    args = parser.parse_args()
    reason = "--kwok-only" if args.kwok_only else netns.unavailable()
    if reason:
        print(f"no real node ({reason}): every pod is simulated by kwok")
    real_node = reason is None
    examples = REPO / "deploy" / "examples"
    args.file = args.file or examples / ("real-node.yaml" if real_node else "minimal.yaml")
    args.timeout = args.timeout or (1200.0 if real_node else 300.0)
    cluster = Cluster(REPO / ".cluster")
    try:
        node_images = [images.entrypoint(), *images.identity_stack()] if real_node else []
        kubeconfig = cluster.up(real_node=real_node, images=node_images)
    except (ClusterError, images.ImageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    binaries = bin_dir()

    def kubectl(*argv: str, capture: bool = False) -> str:
        result = subprocess.run([str(binaries / "kubectl"), f"--kubeconfig={kubeconfig}", *argv], check=True,
                                text=True, stdout=subprocess.PIPE if capture else None)
        return result.stdout or ""

    try:
        crds.install(binaries / "kubectl", kubeconfig)
    except crds.CRDError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    manifest = json.loads(kubectl("create", "--dry-run=client", "-o", "json", "-f", str(args.file), capture=True))
    namespace = manifest["metadata"].get("namespace", "default")
    if not kubectl("get", "namespace", namespace, "--ignore-not-found", "-o", "name", capture=True).strip():
        kubectl("create", "namespace", namespace)
    try:
        chart_source = os.environ.get("OSOP_CHART_SOURCE") or start_chart_repository(cluster)
    except (ChartSetError, ClusterError, subprocess.SubprocessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    settings = Settings(helm=str(binaries / "helm"), chart_source=chart_source)
    for process in PROCESSES:
        launch_detached(cluster, process, settings)
    print(f"operators started; logs in {cluster.logs}/operator-*.log")
    kubectl("apply", "--server-side", "-f", str(args.file))
    name = manifest["metadata"]["name"]
    deadline = time.monotonic() + args.timeout
    ready = ""
    while time.monotonic() < deadline:
        ready = kubectl("-n", namespace, "get", "osdpl", name, "-o",
                        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}", capture=True)
        if ready == "True":
            break
        time.sleep(2)
    kubectl("get", "osdpl", "-A")
    helm = [str(binaries / "helm"), "--kubeconfig", str(kubeconfig), "-n", namespace]
    subprocess.run([*helm, "list"], check=True)
    print(created_objects(helm, namespace))
    kubectl("get", "httproutes", "-A")
    if real_node:
        kubectl("get", "nodes", "-o", "wide")
        kubectl("-n", namespace, "get", "pods", "-o", "wide", "--field-selector", "spec.nodeName=real-0")
    if ready != "True":
        kubectl("-n", namespace, "get", "osdpl", name, "-o",
                "jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{\"\\n\"}{end}")
        return 1
    print(f"kubeconfig: {kubeconfig}   stop everything: make cluster-down")
    return 0


def created_objects(helm: list[str], namespace: str) -> str:
    """How many objects the releases hold (their manifests plus their hooks, e.g. bootstrap and db-sync Jobs)."""
    releases = json.loads(subprocess.run([*helm, "list", "-o", "json"], check=True, capture_output=True,
                                         text=True).stdout)
    kinds: dict[str, int] = {}
    for release in releases:
        for what in ("manifest", "hooks"):
            text = subprocess.run([*helm, "get", what, release["name"]], check=True, capture_output=True,
                                  text=True).stdout
            for document in yaml.safe_load_all(text):
                if isinstance(document, dict) and "kind" in document:
                    kinds[document["kind"]] = kinds.get(document["kind"], 0) + 1
    top = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items(), key=lambda item: -item[1])[:8])
    return f"{len(releases)} releases created {sum(kinds.values())} objects in {namespace}: {top}, ..."


def start_chart_repository(cluster: Cluster) -> str:
    """The pinned chart set (checked, or fetched into the cache, here, so that problems show now) served by a
    process that lives with the cluster; returns its URL."""
    directory = chart_directory()
    port = free_port()
    cluster.start_process("chart-repository", [sys.executable, "-m", "devcluster.charts", "serve", "--port",
                                               str(port), "--directory", str(directory)],
                          {**os.environ, "PYTHONPATH": str(REPO)})
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url)
    print(f"chart repository {url} serving {directory}")
    return url


if __name__ == "__main__":
    sys.exit(main())
