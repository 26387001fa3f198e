"""python -m devcluster up|down|status [--dir DIR] [--real-node]"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from devcluster.cluster import Cluster, ClusterError


def main() -> int:
    parser = argparse.ArgumentParser(prog="devcluster", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=Path(".cluster"), help="state folder (default .cluster)")
    parser.add_argument("--real-node", action="store_true",
                        help="up: a real node (containerd, kubelet) in a network namespace next to the kwok nodes")
    args = parser.parse_args()
    cluster = Cluster(args.dir)
    if args.action == "up":
        start = time.monotonic()
        reused = cluster.running() is not None
        try:
            kubeconfig = cluster.up(real_node=args.real_node)
        except ClusterError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        verb = "reused running" if reused else f"started in {time.monotonic() - start:.1f}s:"
        print(f"cluster {verb} control plane; kubeconfig: {kubeconfig}")
    elif args.action == "down":
        cluster.down()
        print("cluster stopped")
    else:
        state = cluster.running()
        if state is None:
            print("cluster is down")
            return 1
        print(f"cluster is up: {state.server}; ports {state.ports}; kubeconfig: {cluster.kubeconfig}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
