"""A real Kubernetes control plane on loopback for tests and demos: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (simulated nodes and pods), built from pinned Go modules by tools/build-binaries.sh."""

from devcluster.cluster import Cluster

__all__ = ["Cluster"]
