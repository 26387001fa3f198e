"""features.ceph Secrets only in the install-time Ceph namespaces (OSOP_CEPH_NAMESPACES, issue 23 item 7): the
secrets process holds Secrets in every deployment namespace, so an osdpl naming another one is refused."""

from __future__ import annotations

from typing import Any

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.ceph import refused_namespaces

from .test_secrets_reconciler import KEY, FakeCluster, _osdpl, _reconciler, cluster, run  # noqa: F401 - fixture

B_KEYS = {"enabled": True, "keys_secret": {"namespace": "tenant-b", "name": "tenant-b-credentials"}}


def test_refused_namespaces_names_each_field(catalog: Catalog) -> None:
    features: dict[str, Any] = {"ceph": {"enabled": True, "keys_secret": {"namespace": "tenant-b", "name": "k"},
                         "object_gateway": {"enabled": True, "credentials_secret": {"namespace": "kube-system",
                                                                                    "name": "c"}}},
                "glance": {"backend": "rbd"}, "cinder": {"backend": "lvm"}}
    assert refused_namespaces(features, ("openstack-ceph-shared",), "openstack") == {
        "ceph": "spec.features.ceph.keys_secret.namespace: tenant-b is not a Ceph namespace the operator is "
                "installed for (openstack-ceph-shared; the operator chart's ceph.namespace)",
        "object_gateway": "spec.features.ceph.object_gateway.credentials_secret.namespace: kube-system is not a "
                          "Ceph namespace the operator is installed for (openstack-ceph-shared; the operator "
                          "chart's ceph.namespace)"}
    assert refused_namespaces(features, ("tenant-b", "kube-system"), "openstack") == {}
    assert refused_namespaces({**features, "ceph": {**features["ceph"], "enabled": False}}, (), "openstack") == {}


def test_the_deployments_own_namespace_is_always_allowed(catalog: Catalog) -> None:
    """Its own Secrets are the osdpl writer's already: nothing of another deployment is reached."""
    features: dict[str, Any] = {"ceph": {"enabled": True, "keys_secret": {"namespace": "openstack", "name": "k"},
                         "object_gateway": {"enabled": True, "credentials_secret": {"namespace": "openstack",
                                                                                    "name": "c"}}},
                "glance": {"backend": "rbd"}, "cinder": {"backend": "lvm"}}
    assert refused_namespaces(features, (), "openstack") == {}
    assert set(refused_namespaces(features, (), "tenant-b")) == {"ceph", "object_gateway"}


def test_a_keys_secret_in_another_namespace_is_never_read(catalog: Catalog, cluster: FakeCluster) -> None:
    cluster.add_osdpl(_osdpl(ceph=B_KEYS, glance={"backend": "rbd"}))
    run(_reconciler(catalog, cluster).reconcile(KEY))
    assert cluster.ceph_copies == []  # the gateway was not asked to read anything
    report = cluster.status()["ceph"]
    assert report["state"] == "Invalid"
    assert report["message"].startswith("spec.features.ceph.keys_secret.namespace: tenant-b is not a Ceph namespace")
    assert ("Warning", "CephKeysInvalid", report["message"]) in cluster.events


def test_the_allow_list_is_the_setting(catalog: Catalog, cluster: FakeCluster) -> None:
    cluster.add_osdpl(_osdpl(ceph=B_KEYS, glance={"backend": "rbd"}))
    run(_reconciler(catalog, cluster, ceph_namespaces=("tenant-b",)).reconcile(KEY))
    assert len(cluster.ceph_copies) == 1


def test_a_gateway_secret_in_another_namespace_is_never_written(catalog: Catalog, cluster: FakeCluster) -> None:
    cluster.add_osdpl(_osdpl(ceph={"enabled": True, "object_gateway": {
        "enabled": True, "credentials_secret": {"namespace": "tenant-b", "name": "x"}}}, glance={"backend": "rbd"}))
    run(_reconciler(catalog, cluster).reconcile(KEY))
    assert cluster.published == []
    assert cluster.status()["object_gateway"]["message"].startswith(
        "spec.features.ceph.object_gateway.credentials_secret.namespace: tenant-b is not")
