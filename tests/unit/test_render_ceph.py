"""Rendering with features.ceph: the four charts that read the exchange, and nothing else."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from openstack_operator.core.secrets.ceph import (CINDER_KEYRING_SECRET, CONFIGMAP, DIGEST_ANNOTATION, GLANCE_KEYRING_SECRET,
                                          LIBVIRT_SECRET_UUID, MANILA_KEYRING_SECRET, CephExchange, exchange_digest,
                                          manila_digest, parse_ceph_keys)
from openstack_operator.core.secrets.credentials import placeholder_credentials, required_credentials
from openstack_operator.core.errors import RenderError
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.rendering.renderer import RenderedService, Renderer

from .conftest import load_example
from .test_ceph import CINDER_KEY, GLANCE_KEY, NOVA_KEY, SOURCE, pelagia_data

READERS = ["openstack-cinder", "openstack-glance", "openstack-libvirt", "openstack-nova"]


def _doc(ceph: bool = True, glance: str = "rbd", cinder: str = "rbd") -> dict[str, Any]:
    doc = load_example("full")
    doc["spec"]["features"]["glance"] = {"backend": glance}
    doc["spec"]["features"]["cinder"] = {"backend": cinder}
    if ceph:
        doc["spec"]["features"]["ceph"] = {"enabled": True}
    return doc


def _render(renderer: Renderer, doc: dict[str, Any], ceph: CephExchange | None,
            only: set[str] | None = None) -> list[RenderedService]:
    osdpl = load_osdpl(renderer.catalog, doc)
    enabled = osdpl.spec.enabled_services(renderer.catalog)
    credentials = placeholder_credentials(renderer.catalog, required_credentials(renderer.catalog, enabled))
    return renderer.render(osdpl.spec, credentials, osdpl.namespace, only=only, ceph=ceph)


def _releases(services: list[RenderedService]) -> dict[str, Any]:
    return {release.name: release for service in services for release in service.releases}


def _exchange(**changes: str) -> CephExchange:
    return parse_ceph_keys({**pelagia_data(), **changes}, SOURCE)


def _changed(before: list[RenderedService], after: list[RenderedService]) -> list[str]:
    old, new = _releases(before), _releases(after)
    assert old.keys() == new.keys()
    return sorted(name for name in old if old[name].fingerprint != new[name].fingerprint)


@pytest.mark.parametrize("change", [
    {"mon_endpoints": "10.0.0.9:6789"},
    {"glance": f"client.glance;{NOVA_KEY}\n;images-hdd:images:hdd"},
    {"cinder": f"client.cinder;{NOVA_KEY}\n;volumes-hdd:volumes:hdd"},
])
def test_a_new_exchange_rerenders_exactly_its_four_readers(renderer: Renderer, change: dict[str, str]) -> None:
    doc = _doc()
    assert _changed(_render(renderer, doc, _exchange()), _render(renderer, doc, _exchange(**change))) == READERS


def test_what_no_chart_reads_rerenders_nothing(renderer: Renderer) -> None:
    doc = _doc()
    before = _render(renderer, doc, _exchange())
    after = _render(renderer, doc, _exchange(**{"client.admin": NOVA_KEY, "nova": "anything"}))
    assert _changed(before, after) == []


def test_glance_on_a_volume_does_not_read_the_exchange(renderer: Renderer) -> None:
    doc = _doc(glance="pvc")
    after = _render(renderer, doc, _exchange(mon_endpoints="1.2.3.4:1"))
    changed = _changed(_render(renderer, doc, _exchange()), after)
    assert changed == ["openstack-cinder", "openstack-libvirt", "openstack-nova"]


def test_without_features_ceph_the_exchange_changes_nothing(renderer: Renderer) -> None:
    doc = _doc(ceph=False)
    without = _releases(_render(renderer, doc, None))
    given = _releases(_render(renderer, doc, _exchange()))
    assert {n: r.values for n, r in without.items()} == {n: r.values for n, r in given.items()}


def test_only_the_readers_change_when_ceph_is_turned_on(renderer: Renderer) -> None:
    assert _changed(_render(renderer, _doc(ceph=False), None), _render(renderer, _doc(), _exchange())) == READERS


def test_the_readers_wait_for_the_copied_keys(renderer: Renderer) -> None:
    with pytest.raises(RenderError) as caught:
        _render(renderer, _doc(), None)
    assert str(caught.value) == (
        "spec.features.ceph.enabled: the Ceph keys of Secret openstack-ceph-shared/openstack-ceph-keys are not "
        "copied into namespace openstack yet (read by cinder, glance, libvirt, nova)")
    # Services that do not read them render meanwhile.
    assert [s.name for s in _render(renderer, _doc(), None, only={"identity", "networking"})] == [
        "identity", "networking"]
    doc = _doc()
    doc["spec"]["features"]["ceph"]["keys_secret"] = {"namespace": "storage", "name": "keys"}
    with pytest.raises(RenderError, match="Secret storage/keys are not copied"):
        _render(renderer, doc, None, only={"image"})


def test_values_use_the_exchange(renderer: Renderer) -> None:
    exchange = _exchange()
    releases = _releases(_render(renderer, _doc(), exchange))
    digest = exchange_digest(exchange)

    glance = releases["openstack-glance"].values
    assert glance["storage"] == "rbd"
    assert glance["conf"]["glance"]["rbd"]["rbd_store_user"] == "glance"
    assert glance["conf"]["glance"]["rbd"]["rbd_store_pool"] == "images-hdd"
    assert glance["ceph_client"]["configmap"] == CONFIGMAP and glance["secrets"]["rbd"] == GLANCE_KEYRING_SECRET
    assert glance["annotations"]["pod"]["glance_api"] == {DIGEST_ANNOTATION: digest}

    cinder = releases["openstack-cinder"].values
    rbd1 = cinder["conf"]["backends"]["rbd1"]
    assert (rbd1["rbd_user"], rbd1["rbd_pool"], rbd1["rbd_secret_uuid"]) == ("cinder", "volumes-hdd",
                                                                            LIBVIRT_SECRET_UUID)
    assert cinder["secrets"]["rbd"]["volume"] == CINDER_KEYRING_SECRET
    assert cinder["annotations"]["pod"]["cinder_volume"] == {DIGEST_ANNOTATION: digest}

    nova = releases["openstack-nova"].values
    assert nova["conf"]["ceph"]["cinder"] == {"user": "cinder", "keyring": CINDER_KEY}
    assert nova["conf"]["nova"]["libvirt"]["rbd_user"] == "cinder"
    assert nova["conf"]["nova"]["libvirt"]["rbd_secret_uuid"] == LIBVIRT_SECRET_UUID
    assert nova["annotations"]["pod"]["nova_compute"] == {DIGEST_ANNOTATION: digest}

    libvirt = releases["openstack-libvirt"].values
    assert libvirt["conf"]["ceph"]["cinder"] == {"user": "cinder", "keyring": CINDER_KEY,
                                                 "secret_uuid": LIBVIRT_SECRET_UUID}
    assert libvirt["conf"]["dynamic_options"]["libvirt"]["listen_interface"] == "ens6"  # the example's, kept
    assert libvirt["release_uuid"] == digest

    # The Jobs that need the admin key, or would delete the copied Secrets, are off.
    for values in (glance, cinder):
        assert values["manifests"]["job_storage_init"] is False and values["manifests"]["job_clean"] is False
    assert nova["manifests"]["job_storage_init"] is False
    # No value carries a key the charts do not need.
    text = repr([release.values for release in releases.values()])
    assert GLANCE_KEY not in text and NOVA_KEY not in text and pelagia_data()["client.admin"] not in text


def test_libvirt_without_a_migration_interface(renderer: Renderer) -> None:
    doc = _doc()
    del doc["spec"]["features"]["nova"]["live_migration_interface"]
    libvirt = _releases(_render(renderer, doc, _exchange()))["openstack-libvirt"].values
    assert "dynamic_options" not in libvirt["conf"] or "libvirt" not in libvirt["conf"]["dynamic_options"]
    assert libvirt["conf"]["ceph"]["cinder"]["user"] == "cinder"


def test_a_service_value_still_has_the_last_word(renderer: Renderer) -> None:
    doc = _doc()
    doc["spec"]["services"]["block-storage"] = {"cinder": {"values": {"conf": {"backends": {"rbd1": {
        "rbd_flatten_volume_from_snapshot": True}}}}}}
    cinder = _releases(_render(renderer, copy.deepcopy(doc), _exchange()))["openstack-cinder"].values
    assert cinder["conf"]["backends"]["rbd1"]["rbd_flatten_volume_from_snapshot"] is True
    assert cinder["conf"]["backends"]["rbd1"]["rbd_user"] == "cinder"


def _object_storage(doc: dict[str, Any]) -> dict[str, Any]:
    doc["spec"]["features"]["services"] = [*doc["spec"]["features"]["services"], "object-storage"]
    doc["spec"]["features"]["ceph"]["object_gateway"] = {"enabled": True}
    return doc


def test_object_storage_registers_the_published_gateway_urls(renderer: Renderer) -> None:
    exchange = _exchange(rgw_internal="https://rook-ceph-rgw.rook-ceph.svc:8443",
                         rgw_external="https://object-store.cloud.example.com")
    release = _releases(_render(renderer, _object_storage(_doc()), exchange, only={"object-storage"}))[
        "openstack-ceph-rgw"]
    store = release.values["endpoints"]["object_store"]
    assert store["host_fqdn_override"] == {"default": {"host": "rook-ceph-rgw.rook-ceph.svc"},
                                           "public": {"host": "object-store.cloud.example.com"}}
    assert store["port"]["api"] == {"default": 8443, "public": 443}
    assert release.values["conf"]["rgw_ks"]["enabled"] is True
    # The gateway itself is the storage side's; its Keystone user is object_gateway's, never the chart's default.
    assert not release.values["manifests"]["job_ks_user"] and not release.values["manifests"]["service_rgw"]
    swift = release.values["endpoints"]["identity"]["auth"]["swift"]
    assert (swift["username"], swift["password"], swift["user_domain_name"]) == (
        "ceph_rgw", "<ceph_rgw_keystone>", "default")


def test_object_storage_waits_for_the_gateway_urls_naming_the_secret(renderer: Renderer) -> None:
    with pytest.raises(RenderError, match=f"object-storage registers .* Secret {SOURCE} has no rgw_internal and "
                                          "rgw_external"):
        _render(renderer, _object_storage(_doc()), _exchange(), only={"object-storage"})


def _cephfs_doc() -> dict[str, Any]:
    doc = _doc()
    doc["spec"]["features"]["services"].append("shared-file-system")
    doc["spec"]["features"]["manila"] = {"share": {"backends": {"cephfs": {"driver": "cephfs"}}}}
    return doc


def test_a_cephfs_share_backend_waits_for_the_manila_client(renderer: Renderer) -> None:
    with pytest.raises(RenderError) as caught:
        _render(renderer, _cephfs_doc(), _exchange(), only={"shared-file-system"})
    assert str(caught.value) == (
        "spec.features.manila.share.backends: a cephfs backend (cephfs) mounts the storage side's manila client, "
        "and Secret openstack-ceph-shared/openstack-ceph-keys has no 'manila' key yet")


def test_manila_mounts_its_client_and_restarts_alone_when_it_changes(renderer: Renderer) -> None:
    exchange = _exchange(manila=f"client.manila;{NOVA_KEY}")
    manila = _releases(_render(renderer, _cephfs_doc(), exchange))["openstack-manila"].values
    assert manila["conf"]["manila"]["cephfs"]["cephfs_auth_id"] == "manila"
    assert manila["secrets"]["rbd"] == MANILA_KEYRING_SECRET and manila["ceph_client"]["configmap"] == CONFIGMAP
    assert manila["annotations"]["pod"]["manila_share"] == {DIGEST_ANNOTATION: manila_digest(exchange)}
    other_key = _exchange(manila=f"client.manila;{GLANCE_KEY}")
    assert _changed(_render(renderer, _cephfs_doc(), exchange),
                    _render(renderer, _cephfs_doc(), other_key)) == ["openstack-manila"]
