"""Cluster-wide objects every local control plane gets at `up`, before anything else uses it: the Gateway API CRDs
(public endpoints are HTTPRoutes) and StorageClasses whose claims kube-controller-manager's host-path provisioner
binds (the StatefulSets of MariaDB and RabbitMQ claim volumes; a pod with an unbound claim is never scheduled)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devcluster import crds
from devcluster.api import AdminClient

# Copied next to the binaries by tools/build-binaries.sh from the pinned sigs.k8s.io/gateway-api module.
GATEWAY_API_CRDS = "gateway-api-crds"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
STORAGE_CLASS_PATH = "/apis/storage.k8s.io/v1/storageclasses"
# kube-controller-manager's in-tree provisioner (--enable-hostpath-provisioner): it makes an (empty) directory
# under HOSTPATH_DIR on this machine per claim and removes it when the volume is released.
HOSTPATH_PROVISIONER = "kubernetes.io/host-path"
HOSTPATH_DIR = Path("/tmp/hostpath_pv")
# name -> whether it is the default class. The operator's defaults (local_volume_storage_class,
# persistent_volume_storage_class) are `local-storage` and `default`; a claim that names no class (OpenStack-Helm
# charts leave storageClassName out when their class_name is "default") gets the default one.
STORAGE_CLASSES = {"local-storage": False, "default": True}
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


class AddonError(Exception):
    pass


def _create(client: AdminClient, path: str, body: dict[str, Any]) -> None:
    """POST `body`; one that exists already (409) is left as it is."""
    status, response = client.request("POST", path, body, timeout=30.0)
    if status not in (201, 409):
        raise AddonError(f"cannot create {body['kind']} {body['metadata']['name']}: {status} {response}")


def gateway_api_crds(binaries: Path) -> list[dict[str, Any]]:
    """The CRDs of the pinned Gateway API release (standard channel)."""
    folder = binaries / GATEWAY_API_CRDS
    if not folder.is_dir():
        raise AddonError(f"{folder} is missing: tools/build-binaries.sh copies it")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the HTTPRoute CRD alone is 7000 lines
    crds = [doc for path in sorted(folder.glob("*.yaml")) for doc in yaml.load_all(path.read_text(), Loader=loader)
            if doc and doc.get("kind") == "CustomResourceDefinition"]
    if not crds:
        raise AddonError(f"no CustomResourceDefinition in {folder}")
    return crds


def storage_classes() -> list[dict[str, Any]]:
    """Immediate binding: the claim is provisioned and bound when it is created, so the scheduler sees a bound
    claim (a host-path volume has no node affinity: any node fits)."""
    return [{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
             "metadata": {"name": name, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"} if default else {}},
             "provisioner": HOSTPATH_PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}
            for name, default in STORAGE_CLASSES.items()]


def install(client: AdminClient, binaries: Path) -> list[str]:
    """Create the Gateway API CRDs and the StorageClasses; returns the CRD names, to wait until Established.
    About 2 s (the API server compiles each CRD's schema); creating them in parallel gains nothing on 2 cores."""
    crds = gateway_api_crds(binaries)
    for crd in crds:
        _create(client, CRD_PATH, crd)
    for storage_class in storage_classes():
        _create(client, STORAGE_CLASS_PATH, storage_class)
    return [crd["metadata"]["name"] for crd in crds]


def established(client: AdminClient, names: list[str]) -> bool:
    """Whether the API server serves every CRD of `names` (condition Established)."""
    for name in names:
        status, body = client.request("GET", f"{CRD_PATH}/{name}")
        if status != 200 or not crds.established(body):
            return False
    return True


def remove_volume_directories(client: AdminClient) -> None:
    """Remove the directories of the cluster's host-path volumes, which their deleter in kube-controller-manager
    would remove once their claims go, had `down` not stopped it first. Only empty ones under HOSTPATH_DIR: kwok
    runs no containers, and whatever else wrote into one keeps it."""
    try:
        status, body = client.request("GET", "/api/v1/persistentvolumes")
    except OSError:
        return  # the API server is going: leave them
    if status != 200:
        return
    for volume in body.get("items", []):
        path = Path((volume["spec"].get("hostPath") or {}).get("path", "/"))
        if path.parent == HOSTPATH_DIR:
            try:
                path.rmdir()
            except OSError:
                pass  # gone already, or not empty
