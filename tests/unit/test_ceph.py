"""The Ceph exchange: parsing the storage side's Secret, the objects and facts derived from it, the local copy."""

from __future__ import annotations

import base64
import json
from typing import Callable

import pytest

from openstack_operator.core.secrets.ceph import (CINDER_KEYRING_SECRET, CONFIGMAP, GLANCE_KEYRING_SECRET,
                                          LIBVIRT_SECRET_UUID, MANILA_KEYRING_SECRET, CephExchange, CephPool,
                                          GatewayUrl, GatewayUrls, NamespaceObject, chart_wiring_readers, copy_digest,
                                          consumers, rbd_charts,
                                          exchange_digest, from_secret_data, namespace_objects, parse_ceph_keys,
                                          placeholder_exchange, template_facts, to_secret_data)
from openstack_operator.core.errors import OperatorError

SOURCE = "openstack-ceph-shared/openstack-ceph-keys"
ADMIN_KEY = base64.b64encode(b"admin-secret-bytes-0123456789").decode()
GLANCE_KEY = base64.b64encode(b"glance-secret-bytes-012345678").decode()
CINDER_KEY = base64.b64encode(b"cinder-secret-bytes-012345678").decode()
NOVA_KEY = base64.b64encode(b"nova-secret-bytes-0123456789a").decode()
MANILA_KEY = base64.b64encode(b"manila-secret-bytes-012345678").decode()
SECRETS = (ADMIN_KEY, GLANCE_KEY, CINDER_KEY, NOVA_KEY, MANILA_KEY)


def pelagia_data() -> dict[str, str]:
    """A Secret as Pelagia writes it (decoded): a newline after each key, pools per service."""
    return {
        "client.admin": ADMIN_KEY,
        "mon_endpoints": "10.0.0.1:6789,10.0.0.2:6789,10.0.0.3:6789",
        "glance": f"client.glance;{GLANCE_KEY}\n;images-hdd:images:hdd",
        "cinder": f"client.cinder;{CINDER_KEY}\n;volumes-hdd:volumes:hdd;images-hdd:images:hdd;backup-hdd:backup:hdd",
        "nova": f"client.nova;{NOVA_KEY}\n;vms-hdd:vms:hdd;volumes-hdd:volumes:hdd;images-hdd:images:hdd",
        "rgw_internal": "https://rook-ceph-rgw.rook-ceph.svc:8443/",
    }


def with_manila(entry: str = f"client.manila;{MANILA_KEY}\n") -> dict[str, str]:
    """Pelagia's Secret with the optional `manila` client (CephFS shares: no pool needed)."""
    return {**pelagia_data(), "manila": entry}


def test_pelagia_secret_parses() -> None:
    exchange = parse_ceph_keys(pelagia_data(), SOURCE)
    assert exchange.mon_hosts == ("10.0.0.1:6789", "10.0.0.2:6789", "10.0.0.3:6789")
    assert (exchange.glance.user, exchange.glance.key) == ("glance", GLANCE_KEY)
    assert (exchange.cinder.user, exchange.cinder.key) == ("cinder", CINDER_KEY)
    assert exchange.images_pool.name == "images-hdd"
    assert exchange.volumes_pool.name == "volumes-hdd"
    assert [p.role for p in exchange.cinder.pools] == ["volumes", "images", "backup"]
    assert exchange.manila is None


@pytest.mark.parametrize("entry", ["", " \n"])
def test_an_empty_manila_key_is_no_manila_client(entry: str) -> None:
    assert parse_ceph_keys(with_manila(entry), SOURCE) == parse_ceph_keys(pelagia_data(), SOURCE)


def test_the_manila_client_is_read_when_published() -> None:
    exchange = parse_ceph_keys(with_manila(), SOURCE)
    assert exchange.manila is not None
    assert (exchange.manila.user, exchange.manila.key, exchange.manila.pools) == ("manila", MANILA_KEY, ())
    pooled = parse_ceph_keys(with_manila(json.dumps({"client_name": "client.manila-fs", "key": MANILA_KEY,
                                                     "pools": ["cephfs-data:cephfs:ssd"]})), SOURCE)
    assert pooled.manila is not None and pooled.manila.user == "manila-fs"
    assert pooled.manila.pools == (CephPool("cephfs-data", "cephfs", "ssd"),)


def test_json_entries_parse_like_the_legacy_form() -> None:
    data = pelagia_data()
    data["glance"] = json.dumps({"client_id": "glance", "client_name": "client.glance", "key": GLANCE_KEY,
                                 "pools": ["images-hdd:images:hdd"]})
    data["cinder"] = json.dumps({"client_name": "client.cinder", "key": CINDER_KEY,
                                 "pools": ["volumes-hdd:volumes:hdd", "images-hdd:images:hdd",
                                           "backup-hdd:backup:hdd"]})
    assert parse_ceph_keys(data, SOURCE) == parse_ceph_keys(pelagia_data(), SOURCE)


def test_the_client_name_gives_the_user_and_ipv6_monitors_keep_brackets() -> None:
    data = pelagia_data()
    data["cinder"] = f"client.cinder-az1;{CINDER_KEY};volumes-ssd:volumes:ssd"
    data["mon_endpoints"] = "[fd00::1]:3300, 10.0.0.2:6789"
    exchange = parse_ceph_keys(data, SOURCE)
    assert exchange.cinder.user == "cinder-az1"
    assert exchange.mon_hosts == ("[fd00::1]:3300", "10.0.0.2:6789")


def test_several_pools_of_a_role_use_the_first_listed() -> None:
    data = pelagia_data()
    data["cinder"] = f"client.cinder;{CINDER_KEY}\n;volumes-ssd:volumes:ssd;volumes-hdd:volumes:hdd"
    assert parse_ceph_keys(data, SOURCE).volumes_pool.name == "volumes-ssd"


def _without(key: str) -> Callable[[dict[str, str]], None]:
    def edit(data: dict[str, str]) -> None:
        del data[key]
    return edit


def _setting(key: str, value: str) -> Callable[[dict[str, str]], None]:
    return lambda data: data.__setitem__(key, value)


BAD = [
    ("no-monitors", _without("mon_endpoints"), "key 'mon_endpoints' is missing or empty"),
    ("empty-monitors", _setting("mon_endpoints", " "), "key 'mon_endpoints' is missing or empty"),
    ("monitor-without-port", _setting("mon_endpoints", "10.0.0.1:6789,10.0.0.2"),
     "key 'mon_endpoints': endpoint 2 is not <ip>:<port>"),
    ("monitor-by-name", _setting("mon_endpoints", "a=10.0.0.1:6789"), "key 'mon_endpoints': endpoint 1"),
    ("monitor-port-range", _setting("mon_endpoints", "10.0.0.1:70000"), "key 'mon_endpoints': endpoint 1"),
    ("ipv6-unbracketed", _setting("mon_endpoints", "fd00::1:6789"), "key 'mon_endpoints': endpoint 1"),
    ("no-glance", _without("glance"), "key 'glance' is missing or empty"),
    ("no-cinder", _without("cinder"), "key 'cinder' is missing or empty"),
    ("no-separator", _setting("glance", GLANCE_KEY), "key 'glance': not client.<name>;<key>"),
    ("bad-client-name", _setting("glance", f"glance;{GLANCE_KEY};images:images:hdd"),
     "key 'glance': the client name is not client.<name>"),
    ("shell-in-client-name", _setting("cinder", f"client.$(reboot);{CINDER_KEY};v:volumes:hdd"),
     "key 'cinder': the client name is not client.<name>"),
    ("key-not-base64", _setting("cinder", f"client.cinder;{CINDER_KEY[:-4]}$(id);v:volumes:hdd"),
     "key 'cinder': the client key is not a base64 cephx key"),
    ("key-bad-padding", _setting("cinder", f"client.cinder;{CINDER_KEY[:-1]};v:volumes:hdd"),
     "key 'cinder': the client key is not a base64 cephx key"),
    ("bad-pool", _setting("cinder", f"client.cinder;{CINDER_KEY};volumes-hdd:volumes"),
     "key 'cinder': pool 1 is not <pool>:<role>:<device class>"),
    ("no-images-pool", _setting("glance", f"client.glance;{GLANCE_KEY};vms:vms:hdd"),
     "key 'glance' lists no pool with role 'images'"),
    ("no-volumes-pool", _setting("cinder", f"client.cinder;{CINDER_KEY}\n"),
     "key 'cinder' lists no pool with role 'volumes'"),
    ("json-no-name", _setting("glance", json.dumps({"key": GLANCE_KEY, "pools": ["i:images:hdd"]})),
     "key 'glance': client_name and key must be strings"),
    ("json-broken", _setting("glance", '{"key": "' + GLANCE_KEY), "key 'glance': not valid JSON"),
    ("json-key-type", _setting("glance", json.dumps({"client_name": "client.glance", "key": 1})),
     "key 'glance': client_name and key must be strings"),
    ("json-pools-type", _setting("glance", json.dumps({"client_name": "client.glance", "key": GLANCE_KEY,
                                                       "pools": "images:images:hdd"})),
     "key 'glance': pools must be a list of strings"),
    ("json-client-id", _setting("glance", json.dumps({"client_id": "nova", "client_name": "client.glance",
                                                      "key": GLANCE_KEY, "pools": ["i:images:hdd"]})),
     "key 'glance': client_id does not match client_name"),
    ("manila-no-separator", _setting("manila", MANILA_KEY), "key 'manila': not client.<name>;<key>"),
    ("manila-bad-key", _setting("manila", f"client.manila;{MANILA_KEY[:-4]}$(id)"),
     "key 'manila': the client key is not a base64 cephx key"),
    ("manila-bad-pool", _setting("manila", f"client.manila;{MANILA_KEY};cephfs-data"),
     "key 'manila': pool 1 is not <pool>:<role>:<device class>"),
    ("manila-json-broken", _setting("manila", '{"key": "' + MANILA_KEY), "key 'manila': not valid JSON"),
]


@pytest.mark.parametrize("edit, expected", [(edit, expected) for _, edit, expected in BAD],
                         ids=[name for name, _, _ in BAD])
def test_bad_secrets_name_the_secret_and_key_and_quote_no_key(edit: Callable[[dict[str, str]], None],
                                                              expected: str) -> None:
    data = pelagia_data()
    edit(data)
    with pytest.raises(OperatorError) as caught:
        parse_ceph_keys(data, SOURCE)
    message = str(caught.value)
    assert message.startswith(f"Secret {SOURCE}: ") and expected in message
    assert not any(secret[:12] in message for secret in SECRETS)


def test_the_object_gateways_urls_are_read_when_both_are_published() -> None:
    assert parse_ceph_keys(pelagia_data(), SOURCE).gateway is None  # rgw_internal alone: no gateway for users
    data = {**pelagia_data(), "rgw_external": "https://object-store.cloud.example.com"}
    assert parse_ceph_keys(data, SOURCE).gateway == GatewayUrls(
        internal=GatewayUrl("https", "rook-ceph-rgw.rook-ceph.svc", 8443),
        external=GatewayUrl("https", "object-store.cloud.example.com", 443))
    data.update({"rgw_internal": "http://[fd00::10]", "rgw_external": "http://198.51.100.7:8080/"})
    gateway = parse_ceph_keys(data, SOURCE).gateway
    assert gateway is not None and (str(gateway.internal), str(gateway.external)) == (
        "http://[fd00::10]:80", "http://198.51.100.7:8080")


@pytest.mark.parametrize("url, expected", [
    ("rook-ceph-rgw:8443", "not an http(s)://<host>[:<port>] URL"),
    ("ftp://rgw.example.com", "not an http(s)://<host>[:<port>] URL"),
    ("https://rgw.example.com:99999", "not a URL"),
    ("https://$(reboot).example.com", "not an http(s)://<host>[:<port>] URL"),
    ("https://rgw.example.com/swift/v1", "only <scheme>://<host>[:<port>], no user, path or query"),
    ("https://admin:s3cr3t@rgw.example.com", "only <scheme>://<host>[:<port>], no user, path or query"),
])
def test_a_bad_gateway_url_names_the_key_and_quotes_nothing(url: str, expected: str) -> None:
    data = {**pelagia_data(), "rgw_internal": "https://rgw.example.com", "rgw_external": url}
    with pytest.raises(OperatorError) as caught:
        parse_ceph_keys(data, SOURCE)
    assert str(caught.value) == f"Secret {SOURCE}: key 'rgw_external': {expected}"


def test_unused_keys_are_not_read() -> None:
    """The admin and nova keys and anything else the charts do not need may be anything: nothing reads them."""
    data = pelagia_data()
    data.update({"client.admin": "not a key", "nova": "garbage", "rgw_internal_cacert": "x"})
    parse_ceph_keys(data, SOURCE)


def test_secrets_do_not_show_keys() -> None:
    exchange = parse_ceph_keys(with_manila(), SOURCE)
    text = repr(exchange) + str(exchange) + repr(namespace_objects(exchange))
    assert not any(secret in text for secret in SECRETS)
    assert MANILA_KEY not in repr(template_facts(exchange))  # manila's pods mount it from its Secret


def test_namespace_objects_are_what_the_charts_mount() -> None:
    exchange = parse_ceph_keys(pelagia_data(), SOURCE)
    assert namespace_objects(exchange) == [
        NamespaceObject("ConfigMap", CONFIGMAP,
                        {"ceph.conf": "[global]\nmon_host = 10.0.0.1:6789,10.0.0.2:6789,10.0.0.3:6789\n"}),
        NamespaceObject("Secret", GLANCE_KEYRING_SECRET, {"key": GLANCE_KEY}),
        NamespaceObject("Secret", CINDER_KEYRING_SECRET, {"key": CINDER_KEY}),
    ]
    assert not any(ADMIN_KEY in value or NOVA_KEY in value
                   for obj in namespace_objects(exchange) for value in obj.data.values())


def test_the_manila_client_adds_its_keyring_secret() -> None:
    without = namespace_objects(parse_ceph_keys(pelagia_data(), SOURCE))
    assert namespace_objects(parse_ceph_keys(with_manila(), SOURCE)) == [
        *without, NamespaceObject("Secret", MANILA_KEYRING_SECRET, {"key": MANILA_KEY})]


def test_template_facts() -> None:
    exchange = parse_ceph_keys(pelagia_data(), SOURCE)
    facts = template_facts(exchange)
    assert facts["glance"] == {"user": "glance", "pool": "images-hdd", "keyring_secret": GLANCE_KEYRING_SECRET}
    assert facts["cinder"] == {"user": "cinder", "pool": "volumes-hdd", "keyring_secret": CINDER_KEYRING_SECRET,
                               "key": CINDER_KEY}
    assert facts["secret_uuid"] == LIBVIRT_SECRET_UUID and facts["configmap"] == CONFIGMAP
    assert facts["digest"] == exchange_digest(exchange)
    assert facts["manila"] is None


def _manila_facts(data: dict[str, str]) -> dict[str, str]:
    facts: dict[str, str] = template_facts(parse_ceph_keys(data, SOURCE))["manila"]
    return facts


def test_manila_template_facts_have_a_digest_of_their_own() -> None:
    """manila's share pods restart when its key or the monitors change, and only then."""
    facts = _manila_facts(with_manila())
    assert set(facts) == {"user", "keyring_secret", "digest"} and len(facts["digest"]) == 20
    assert (facts["user"], facts["keyring_secret"]) == ("manila", MANILA_KEYRING_SECRET)
    changed = [
        with_manila(f"client.manila;{NOVA_KEY}"),
        with_manila(f"client.manila2;{MANILA_KEY}"),
        {**with_manila(), "mon_endpoints": "10.0.0.1:6789"},
    ]
    digests = [_manila_facts(data)["digest"] for data in changed]
    assert facts["digest"] not in digests and len(set(digests)) == len(digests)
    unchanged = [
        with_manila(f"client.manila;{MANILA_KEY};cephfs-data:cephfs:ssd"),
        {**with_manila(), "glance": f"client.glance;{NOVA_KEY};images-hdd:images:hdd"},
    ]
    assert {_manila_facts(data)["digest"] for data in unchanged} == {facts["digest"]}


def _digest(edit: Callable[[dict[str, str]], None]) -> str:
    data = pelagia_data()
    edit(data)
    return exchange_digest(parse_ceph_keys(data, SOURCE))


def test_digest_follows_what_is_rendered() -> None:
    base = _digest(lambda data: None)
    assert len(base) == 20 and base == _digest(lambda data: None)
    changed = [
        _setting("mon_endpoints", "10.0.0.1:6789,10.0.0.2:6789"),
        _setting("glance", f"client.glance;{NOVA_KEY};images-hdd:images:hdd"),
        _setting("glance", f"client.glance;{GLANCE_KEY};images-ssd:images:ssd"),
        _setting("cinder", f"client.cinder;{NOVA_KEY};volumes-hdd:volumes:hdd"),
        _setting("cinder", f"client.cinder2;{CINDER_KEY};volumes-hdd:volumes:hdd"),
    ]
    digests = [_digest(edit) for edit in changed]
    assert base not in digests and len(set(digests)) == len(digests)
    # What no chart reads leaves it alone: no pod restarts for it.
    unchanged = [
        _setting("client.admin", NOVA_KEY),
        _setting("nova", f"client.nova;{ADMIN_KEY}\n;vms-ssd:vms:ssd"),
        _setting("cinder", f"client.cinder;{CINDER_KEY};volumes-hdd:volumes:hdd;backup-ssd:backup:ssd"),
    ]
    assert {_digest(edit) for edit in unchanged} == {base}


def test_the_manila_client_restarts_no_rbd_pod() -> None:
    """Its Secret and facts are outside the rbd charts' digest: adding, changing or dropping it leaves it alone."""
    base = _digest(lambda data: None)
    manila = [f"client.manila;{MANILA_KEY}", f"client.manila;{NOVA_KEY}", f"client.other;{MANILA_KEY}", ""]
    assert {_digest(_setting("manila", entry)) for entry in manila} == {base}
    with_it, without = parse_ceph_keys(with_manila(), SOURCE), parse_ceph_keys(pelagia_data(), SOURCE)
    assert template_facts(with_it)["digest"] == template_facts(without)["digest"]
    assert copy_digest(with_it) != copy_digest(without)  # it renders the deployment again


def test_local_copy_round_trips() -> None:
    exchange = parse_ceph_keys(pelagia_data(), SOURCE)
    data = to_secret_data(exchange)
    assert set(data) == {"mon_endpoints", "glance", "cinder"}
    assert ADMIN_KEY not in "".join(data.values()) and NOVA_KEY not in "".join(data.values())
    back = from_secret_data(data, "openstack/osh-ceph-keys")
    assert back == exchange and exchange_digest(back) == exchange_digest(exchange)
    assert to_secret_data(back) == data
    with_gateway = parse_ceph_keys({**pelagia_data(), "rgw_external": "https://s3.example.com"}, SOURCE)
    data = to_secret_data(with_gateway)
    assert (data["rgw_internal"], data["rgw_external"]) == ("https://rook-ceph-rgw.rook-ceph.svc:8443",
                                                            "https://s3.example.com:443")
    assert from_secret_data(data, "openstack/osh-ceph-keys") == with_gateway


def test_local_copy_round_trips_the_manila_client() -> None:
    without = parse_ceph_keys(pelagia_data(), SOURCE)
    for entry in (f"client.manila;{MANILA_KEY}", f"client.manila;{MANILA_KEY};cephfs-data:cephfs:ssd"):
        exchange = parse_ceph_keys(with_manila(entry), SOURCE)
        data = to_secret_data(exchange)
        assert set(data) == {"mon_endpoints", "glance", "cinder", "manila"}
        assert {k: v for k, v in data.items() if k != "manila"} == to_secret_data(without)
        back = from_secret_data(data, "openstack/osh-ceph-keys")
        assert back == exchange and to_secret_data(back) == data
        assert copy_digest(back) == copy_digest(exchange)
        assert template_facts(back)["manila"] == template_facts(exchange)["manila"]


def test_the_gateways_urls_restart_no_rbd_pod() -> None:
    """Only the registering chart reads them: they are outside the digest of what the rbd charts render (their
    pods' annotation), inside the status's, whose change renders the deployment again."""
    with_gateway = parse_ceph_keys({**pelagia_data(), "rgw_external": "https://s3.example.com"}, SOURCE)
    without = parse_ceph_keys(pelagia_data(), SOURCE)
    assert exchange_digest(with_gateway) == exchange_digest(without)
    assert copy_digest(with_gateway) != copy_digest(without)
    assert template_facts(with_gateway)["gateway"] == {
        "internal": {"scheme": "https", "host": "rook-ceph-rgw.rook-ceph.svc", "port": 8443},
        "external": {"scheme": "https", "host": "s3.example.com", "port": 443}}


def test_local_copy_errors_name_the_copy() -> None:
    data = to_secret_data(parse_ceph_keys(pelagia_data(), SOURCE))
    del data["cinder"]
    with pytest.raises(OperatorError, match="^Secret openstack/osh-ceph-keys: key 'cinder'"):
        from_secret_data(data, "openstack/osh-ceph-keys")


@pytest.mark.parametrize("ceph, glance, cinder, enabled, expected", [
    (False, "rbd", "rbd", {"image", "block-storage", "compute"}, set()),
    (True, "rbd", "rbd", {"image", "block-storage", "compute"}, {"glance", "cinder", "nova", "libvirt"}),
    (True, "pvc", "rbd", {"image", "block-storage", "compute"}, {"cinder", "nova", "libvirt"}),
    (True, "rbd", "lvm", {"image", "block-storage", "compute"}, {"glance"}),
    (True, "rbd", "rbd", {"image", "compute"}, {"glance"}),  # no cinder: nova attaches no rbd volume
    (True, "rbd", "rbd", {"block-storage"}, {"cinder", "nova", "libvirt"}),
    (True, "rbd", "lvm", {"image", "object-storage"}, {"glance", "ceph-rgw"}),  # it registers the gateway
    (False, "rbd", "lvm", {"image", "object-storage"}, set()),
])
def test_consumers(ceph: bool, glance: str, cinder: str, enabled: set[str], expected: set[str]) -> None:
    features = {"ceph": {"enabled": ceph}, "glance": {"backend": glance}, "cinder": {"backend": cinder}}
    assert consumers(features, enabled) == expected
    assert chart_wiring_readers(features, enabled) == (set() if ceph else rbd_charts(features, enabled))


@pytest.mark.parametrize("backends, enabled, expected", [
    ({"cephfs": {"driver": "cephfs"}}, {"image", "shared-file-system"}, {"glance", "manila"}),
    ({"cephfs": {"driver": "cephfs", "enabled": False}}, {"image", "shared-file-system"}, {"glance"}),
    ({"generic": {"driver": "generic"}}, {"image", "shared-file-system"}, {"glance"}),
    ({"cephfs": {"driver": "cephfs"}}, {"image"}, {"glance"}),  # no manila
])
def test_manila_reads_the_exchange_with_a_cephfs_backend(backends: dict[str, dict[str, object]], enabled: set[str],
                                                          expected: set[str]) -> None:
    features = {"ceph": {"enabled": True}, "glance": {"backend": "rbd"}, "cinder": {"backend": "lvm"},
                "manila": {"share": {"backends": backends}}}
    assert consumers(features, enabled) == expected


def test_placeholder_exchange_renders_facts() -> None:
    exchange: CephExchange = placeholder_exchange()
    assert template_facts(exchange)["cinder"]["key"] == "<ceph-cinder-key>"
    assert template_facts(exchange)["manila"]["user"] == "manila"
