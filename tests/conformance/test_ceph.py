"""features.ceph against the real charts: the pods that read the exchange need exactly the objects the operator
copies into the namespace (core.ceph.namespace_objects), agree on the Ceph client and libvirt secret, and restart
when the exchange changes."""

from __future__ import annotations

import pytest

from openstack_operator.core.ceph import (DIGEST_ANNOTATION, LIBVIRT_SECRET_UUID, exchange_digest,
                                          namespace_objects)

from . import lib
from .conftest import Deployment, Deployments, Rendered

READERS = ("openstack-glance", "openstack-cinder", "openstack-nova", "openstack-libvirt")


def conforms(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


@pytest.fixture
def ceph(deployments: Deployments) -> Deployment:
    return deployments.get_ok("ceph")


def _release(deployment: Deployment, name: str) -> Rendered:
    rendered = deployment.releases[name]
    if rendered.problem:
        pytest.fail(f"{name}: {rendered.problem}")
    return rendered


def test_readers_need_exactly_the_copied_objects(ceph: Deployment) -> None:
    """No admin key (pvc-ceph-client-key) and nothing else from outside: each ConfigMap or Secret the four
    releases' pods mount from outside the release is one the operator copies, with the keys they read."""
    copied = {(o.kind, o.name): set(o.data) for o in namespace_objects(ceph.ceph)}
    needed: dict[tuple[str, str], set[str]] = {}
    problems = []
    for name in READERS:
        for ref, keys in lib.external_objects(_release(ceph, name).manifests).items():
            needed.setdefault(ref, set()).update(keys)
            if ref not in copied:
                problems.append(f"{name}: pods need {ref[0]}/{ref[1]}, which the operator does not create")
            elif not keys <= copied[ref]:
                problems.append(f"{name}: pods read keys {sorted(keys - copied[ref])} of {ref[0]}/{ref[1]}")
    problems += [f"{kind}/{obj} is copied but no pod mounts it" for kind, obj in sorted(copied.keys() - needed)]
    conforms(problems)


def test_no_other_release_needs_ceph_objects(ceph: Deployment) -> None:
    copied = {(o.kind, o.name) for o in namespace_objects(ceph.ceph)}
    conforms([f"{name}: pods need {kind}/{obj}" for name, r in sorted(ceph.releases.items())
              if name not in READERS and r.problem is None
              for kind, obj in lib.external_objects(r.manifests) if (kind, obj) in copied])


def test_client_pool_and_secret_uuid_agree(ceph: Deployment) -> None:
    exchange = ceph.ceph
    glance = lib.config_file(_release(ceph, "openstack-glance").manifests, "Secret", "glance-etc", "glance-api.conf")
    cinder = lib.config_file(_release(ceph, "openstack-cinder").manifests, "Secret", "cinder-etc", "backends.conf")
    nova = lib.config_file(_release(ceph, "openstack-nova").manifests, "Secret", "nova-etc", "nova.conf")
    libvirt = lib.container_env(_release(ceph, "openstack-libvirt").manifests, "DaemonSet", "libvirt-libvirt-default",
                                "libvirt")
    expected = [
        ("glance-api.conf [glance_store] default_backend",
         lib.ini_has(glance, "glance_store", "default_backend", "rbd")),
        ("glance-api.conf [rbd] rbd_store_user", lib.ini_has(glance, "rbd", "rbd_store_user", exchange.glance.user)),
        ("glance-api.conf [rbd] rbd_store_pool", lib.ini_has(glance, "rbd", "rbd_store_pool",
                                                             exchange.images_pool.name)),
        ("backends.conf [rbd1] rbd_user", lib.ini_has(cinder, "rbd1", "rbd_user", exchange.cinder.user)),
        ("backends.conf [rbd1] rbd_pool", lib.ini_has(cinder, "rbd1", "rbd_pool", exchange.volumes_pool.name)),
        ("backends.conf [rbd1] rbd_secret_uuid", lib.ini_has(cinder, "rbd1", "rbd_secret_uuid", LIBVIRT_SECRET_UUID)),
        ("backends.conf [rbd1] volume_driver", lib.ini_has(cinder, "rbd1", "volume_driver",
                                                           "cinder.volume.drivers.rbd.RBDDriver")),
        ("nova.conf [libvirt] rbd_user", lib.ini_has(nova, "libvirt", "rbd_user", exchange.cinder.user)),
        ("nova.conf [libvirt] rbd_secret_uuid", lib.ini_has(nova, "libvirt", "rbd_secret_uuid", LIBVIRT_SECRET_UUID)),
        ("libvirt env CEPH_CINDER_USER", libvirt.get("CEPH_CINDER_USER") == exchange.cinder.user),
        ("libvirt env CEPH_CINDER_KEYRING", libvirt.get("CEPH_CINDER_KEYRING") == exchange.cinder.key),
        ("libvirt env LIBVIRT_CEPH_CINDER_SECRET_UUID",
         libvirt.get("LIBVIRT_CEPH_CINDER_SECRET_UUID") == LIBVIRT_SECRET_UUID),
    ]
    conforms([f"{what}: not set from the exchange" for what, ok in expected if not ok])


def test_compute_hosts_get_the_cinder_key_as_a_value(ceph: Deployment) -> None:
    """nova writes the keyring from conf.ceph.cinder.keyring (its ceph-keyring.sh), so no admin key is used."""
    script = lib.config_file(_release(ceph, "openstack-nova").manifests, "ConfigMap", "nova-bin", "ceph-keyring.sh")
    assert f"[client.{ceph.ceph.cinder.user}]" in script and f"key = {ceph.ceph.cinder.key}" in script
    assert "ceph auth get-or-create" not in script


def test_pods_that_read_the_exchange_carry_its_digest(ceph: Deployment) -> None:
    """A new exchange changes the pod template of every workload that mounts a copied object or holds the key."""
    digest = exchange_digest(ceph.ceph)
    copied = {(o.kind, o.name) for o in namespace_objects(ceph.ceph)}
    problems, readers = [], []
    for name in READERS:
        for workload in lib.workloads(_release(ceph, name).manifests):
            if not (lib.external_objects([workload]).keys() & copied):
                continue
            readers.append(lib.name_of(workload))
            annotations = lib.pod_annotations([workload], workload["kind"], workload["metadata"]["name"])
            if digest not in (annotations.get(DIGEST_ANNOTATION),
                              annotations.get("openstackhelm.openstack.org/release_uuid")):
                problems.append(f"{name}: {lib.name_of(workload)} pods do not carry the exchange digest")
    conforms(problems)
    assert {"Deployment/glance-api", "Deployment/cinder-volume", "DaemonSet/libvirt-libvirt-default"} <= set(readers)
    assert any(r.startswith("DaemonSet/nova-compute") for r in readers)
