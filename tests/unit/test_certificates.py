"""The public endpoints' certificate: the host names it must cover, and every check on its Secret, against
certificates made here with `cryptography`."""

from __future__ import annotations

import base64
import datetime
import ipaddress
from typing import Any, Sequence

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from openstack_operator.core.secrets.certificates import (ERROR, RENEW_BEFORE, WARNING, Problem, certificate_problems,
                                                  public_hosts)
from openstack_operator.core.secrets.credentials import placeholder_credentials, required_credentials
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.rendering.renderer import RenderedRelease, RenderedService, Renderer

from .conftest import load_example

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
DAY = datetime.timedelta(days=1)
DOMAIN = "cloud.example.com"
HOSTS = [f"keystone.{DOMAIN}", f"glance.{DOMAIN}"]
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
NOT_COVERED = "(not in the certificate's subjectAltName DNS names; the subject CN does not count)"


def _cert(key: CertificateIssuerPrivateKeyTypes = KEY, sans: Sequence[x509.GeneralName] | None = (
              x509.DNSName(f"*.{DOMAIN}"),),
          cn: str = DOMAIN, not_before: datetime.datetime = NOW - 30 * DAY,
          not_after: datetime.datetime = NOW + 90 * DAY) -> x509.Certificate:
    """Self-signed; sans None: no subjectAltName extension at all."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after))
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(key, hashes.SHA256())


def _b64(pem: bytes) -> str:
    return base64.b64encode(pem).decode()


def _key_pem(key: Any = KEY, fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
             encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()) -> bytes:
    pem: bytes = key.private_bytes(serialization.Encoding.PEM, fmt, encryption)
    return pem


def _data(cert: x509.Certificate | None = None, key: Any = KEY) -> dict[str, str]:
    """A Secret's .data: the certificate and the key, PEM in base64."""
    return {"tls.crt": _b64((cert or _cert()).public_bytes(serialization.Encoding.PEM)), "tls.key": _b64(_key_pem(key))}


def _messages(problems: list[Problem], severity: str = ERROR) -> list[str]:
    assert all(p.severity == severity for p in problems)
    return [str(p) for p in problems]


def _problems(data: dict[str, str], hosts: Sequence[str] = HOSTS, **kwargs: Any) -> list[Problem]:
    return certificate_problems("kubernetes.io/tls", data, hosts, kwargs.pop("now", NOW), **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# public host names, from a real render


def _render(renderer: Renderer, doc: dict[str, Any]) -> list[RenderedService]:
    osdpl = load_osdpl(renderer.catalog, doc)
    enabled = osdpl.spec.enabled_services(renderer.catalog)
    credentials = placeholder_credentials(renderer.catalog, required_credentials(renderer.catalog, enabled))
    return renderer.render(osdpl.spec, credentials, osdpl.namespace)


def test_public_hosts_of_the_minimal_example(renderer: Renderer) -> None:
    assert public_hosts(_render(renderer, load_example("minimal"))) == [
        f"{host}.{DOMAIN}" for host in ["glance", "horizon", "keystone", "neutron", "placement"]]


def test_public_hosts_of_the_full_example(renderer: Renderer) -> None:
    # Two routes for nova (API, noVNC console) and for heat (API, CloudFormation API).
    assert public_hosts(_render(renderer, load_example("full"))) == [
        f"{host}.{DOMAIN}" for host in ["barbican", "cinder", "cloudformation", "designate", "glance", "heat",
                                        "horizon", "keystone", "masakari", "neutron", "nova", "novncproxy", "octavia",
                                        "placement"]]


def test_public_hosts_follow_the_features(renderer: Renderer) -> None:
    doc = load_example("full")
    doc["spec"]["features"]["nova"]["console"] = {"novnc": {"enabled": False}}
    assert f"novncproxy.{DOMAIN}" not in public_hosts(_render(renderer, doc))


def test_public_hosts_skip_the_gateway_the_deployment_creates(renderer: Renderer) -> None:
    doc = load_example("minimal")
    doc["spec"].setdefault("features", {})["gateway"] = {"class_name": "example"}
    services = _render(renderer, doc)
    keystone = next(s for s in services if s.name == "identity").releases[0]
    assert {obj["kind"] for obj in keystone.values["extraObjects"].values()} == {"Gateway", "HTTPRoute"}
    assert public_hosts(services) == public_hosts(_render(renderer, load_example("minimal")))


def test_public_hosts_read_a_list_of_extra_objects_too() -> None:
    def release(values: dict[str, Any]) -> RenderedRelease:
        return RenderedRelease(name="r", chart="c", version="1", digest="", namespace="n", timeout_seconds=1,
                               values=values, fingerprint="f")

    route = {"kind": "HTTPRoute", "spec": {"hostnames": ["b.example", "a.example"]}}
    service = RenderedService(name="s", depends_on=(), releases=(
        release({"extraObjects": [route, {"kind": "ConfigMap"}, "not an object"]}),
        release({"extraObjects": {"again": route}}), release({"extraObjects": None}), release({})))
    assert public_hosts([service]) == ["a.example", "b.example"]


def test_a_wildcard_certificate_covers_every_public_host(renderer: Renderer) -> None:
    assert _problems(_data(), public_hosts(_render(renderer, load_example("full")))) == []


# ---------------------------------------------------------------------------------------------------------------
# the Secret and its keys


def test_a_missing_secret_is_the_only_problem() -> None:
    assert certificate_problems(None, {}, HOSTS, NOW) == [Problem(ERROR, "the Secret does not exist")]


def test_a_secret_of_another_type_is_an_error_and_the_rest_is_still_checked() -> None:
    assert _messages(certificate_problems("Opaque", _data(), HOSTS, NOW)) == [
        "the Secret's type is 'Opaque', not kubernetes.io/tls"]
    assert _messages(certificate_problems("Opaque", {}, HOSTS, NOW)) == [
        "the Secret's type is 'Opaque', not kubernetes.io/tls", "tls.crt: missing", "tls.key: missing"]


GARBAGE_CERT = b"-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n"
GARBAGE_KEY = b"-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize("key, value, message", [
    ("tls.crt", None, "tls.crt: missing"),
    ("tls.key", None, "tls.key: missing"),
    ("tls.crt", "", "tls.crt: empty"),
    ("tls.key", "", "tls.key: empty"),
    ("tls.crt", "not base64!", "tls.crt: not valid base64"),
    ("tls.key", "QUJ", "tls.key: not valid base64"),  # bad padding
    ("tls.crt", _b64(b"hello"), "tls.crt: no PEM certificate in it"),
    ("tls.crt", _b64(_key_pem()), "tls.crt: no PEM certificate in it"),  # the key under the wrong name
    ("tls.key", _b64(_cert().public_bytes(serialization.Encoding.PEM)), "tls.key: no PEM private key in it"),
    ("tls.crt", _b64(GARBAGE_CERT), "tls.crt: the certificate cannot be parsed"),
    ("tls.key", _b64(GARBAGE_KEY), "tls.key: the private key cannot be parsed"),
    ("tls.key", _b64(_key_pem(encryption=serialization.BestAvailableEncryption(b"passphrase"))),
     "tls.key: the private key is encrypted"),
])
def test_a_bad_key_of_the_secret_is_named(key: str, value: str | None, message: str) -> None:
    data = _data()
    if value is None:
        del data[key]
    else:
        data[key] = value
    # The other key is fine and is not blamed; without a key the certificate's dates and names are still checked.
    assert _messages(_problems(data)) == [message]
    assert _messages(_problems(data, now=NOW + 365 * DAY)) == (
        [message] if key == "tls.crt" else [message, "tls.crt: expired on 2026-08-30 12:00:00 UTC"])


def test_both_keys_bad_are_both_named() -> None:
    assert _messages(_problems({"tls.crt": "", "tls.key": "%%"})) == ["tls.crt: empty", "tls.key: not valid base64"]


def test_a_private_key_of_another_certificate() -> None:
    assert _messages(_problems(_data(key=OTHER_KEY))) == [
        "tls.key: does not match the certificate's public key in tls.crt"]


def test_keys_of_other_algorithms_and_formats() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_cert = _cert(key=rsa_key)
    traditional = {**_data(rsa_cert), "tls.key": _b64(_key_pem(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL))}
    assert b"BEGIN RSA PRIVATE KEY" in base64.b64decode(traditional["tls.key"])
    assert _problems(traditional) == []
    assert _messages(_problems(_data(rsa_cert, KEY))) == [
        "tls.key: does not match the certificate's public key in tls.crt"]


def test_the_first_certificate_of_a_chain_is_the_servers() -> None:
    issuer = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(key=issuer, sans=None, cn="Example CA")
    chain = _cert().public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    assert _problems({**_data(), "tls.crt": _b64(chain)}) == []
    reversed_chain = ca.public_bytes(serialization.Encoding.PEM) + _cert().public_bytes(serialization.Encoding.PEM)
    assert _messages(_problems({**_data(), "tls.crt": _b64(reversed_chain)})) == [
        "tls.key: does not match the certificate's public key in tls.crt",
        f"tls.crt: not valid for {', '.join(HOSTS)} {NOT_COVERED}"]


# ---------------------------------------------------------------------------------------------------------------
# validity period


def test_not_yet_valid() -> None:
    data = _data(_cert(not_before=NOW + DAY))
    assert _messages(_problems(data)) == ["tls.crt: not valid before 2026-06-02 12:00:00 UTC"]


def test_expired_says_when() -> None:
    data = _data(_cert(not_after=NOW - DAY))
    assert _messages(_problems(data)) == ["tls.crt: expired on 2026-05-31 12:00:00 UTC"]


@pytest.mark.parametrize("left, when", [
    (3 * DAY, "in 3 days"),
    (DAY + datetime.timedelta(hours=5), "in 1 day"),
    (datetime.timedelta(hours=5), "in less than a day"),
    (datetime.timedelta(0), "in less than a day"),  # notAfter itself is still valid
    (RENEW_BEFORE, "in 14 days"),
])
def test_expiring_soon_is_a_warning(left: datetime.timedelta, when: str) -> None:
    end = NOW + left
    problems = _problems(_data(_cert(not_after=end)))
    assert _messages(problems, WARNING) == [f"tls.crt: expires on {end:%Y-%m-%d %H:%M:%S} UTC, {when}"]


def test_the_renewal_window_is_the_callers() -> None:
    data = _data(_cert(not_after=NOW + 20 * DAY))
    assert _problems(data) == []
    assert _messages(_problems(data, renew_before=30 * DAY), WARNING) == [
        "tls.crt: expires on 2026-06-21 12:00:00 UTC, in 20 days"]
    assert _problems(data, renew_before=datetime.timedelta(0)) == []


def test_a_naive_clock_is_utc() -> None:
    data = _data(_cert(not_after=NOW + 20 * DAY))
    naive = NOW.replace(tzinfo=None)
    assert _problems(data, now=naive) == []
    assert _messages(_problems(data, now=naive + 21 * DAY)) == ["tls.crt: expired on 2026-06-21 12:00:00 UTC"]


# ---------------------------------------------------------------------------------------------------------------
# host names


@pytest.mark.parametrize("san, host, covered", [
    (f"keystone.{DOMAIN}", f"keystone.{DOMAIN}", True),
    (f"KeyStone.{DOMAIN.upper()}", f"keystone.{DOMAIN}", True),  # DNS names are case-insensitive
    (f"keystone.{DOMAIN}.", f"keystone.{DOMAIN}", True),  # an absolute name is the same name
    (f"keystone.{DOMAIN}", f"glance.{DOMAIN}", False),
    (f"*.{DOMAIN}", f"keystone.{DOMAIN}", True),
    (f"*.{DOMAIN}", DOMAIN, False),  # a wildcard needs its one label
    (f"*.{DOMAIN}", f"a.keystone.{DOMAIN}", False),  # and covers exactly one
    (f"*.{DOMAIN}", f".{DOMAIN}", False),  # an empty label is no label
    (f"*.{DOMAIN}", f"*.{DOMAIN}", True),  # a wildcard route host is served by the same wildcard name
    (f"*.keystone.{DOMAIN}", f"keystone.{DOMAIN}", False),
    (f"key*.{DOMAIN}", f"keystone.{DOMAIN}", False),  # partial-label wildcards: not honoured (CA/B Forum)
    (f"keystone.*.com", f"keystone.{DOMAIN}", False),  # only the left-most label may be a wildcard
])
def test_subject_alt_name_matching(san: str, host: str, covered: bool) -> None:
    problems = _problems(_data(_cert(sans=[x509.DNSName(san)])), [host])
    assert _messages(problems) == ([] if covered else [f"tls.crt: not valid for {host} {NOT_COVERED}"])


def test_uncovered_hosts_are_listed_in_one_message_in_order_once() -> None:
    cert = _cert(sans=[x509.DNSName(f"glance.{DOMAIN}"), x509.DNSName(f"nova.{DOMAIN}")])
    hosts = [f"keystone.{DOMAIN}", f"glance.{DOMAIN}", f"horizon.{DOMAIN}", f"keystone.{DOMAIN}"]
    assert _messages(_problems(_data(cert), hosts)) == [
        f"tls.crt: not valid for keystone.{DOMAIN}, horizon.{DOMAIN} {NOT_COVERED}"]


def test_without_subject_alt_names_no_host_is_covered_whatever_the_cn() -> None:
    host = f"keystone.{DOMAIN}"
    assert _messages(_problems(_data(_cert(sans=None, cn=host)), [host])) == [
        f"tls.crt: not valid for {host} {NOT_COVERED}"]
    only_ip = _cert(sans=[x509.IPAddress(ipaddress.ip_address("192.0.2.1"))], cn=host)
    assert _messages(_problems(_data(only_ip), [host])) == [f"tls.crt: not valid for {host} {NOT_COVERED}"]


def test_no_hosts_nothing_to_cover() -> None:
    assert _problems(_data(_cert(sans=None)), []) == []


def test_problems_then_all_together_in_order_and_never_with_key_material() -> None:
    cert = _cert(sans=None, not_after=NOW - DAY)
    problems = certificate_problems("Opaque", _data(cert, OTHER_KEY), HOSTS, NOW)
    assert _messages(problems) == [
        "the Secret's type is 'Opaque', not kubernetes.io/tls",
        "tls.key: does not match the certificate's public key in tls.crt",
        "tls.crt: expired on 2026-05-31 12:00:00 UTC",
        f"tls.crt: not valid for {', '.join(HOSTS)} {NOT_COVERED}"]
    # Whatever is wrong with the key, no message quotes it: neither its PEM nor the Secret's base64 of it.
    keys = [_key_pem(), _key_pem(OTHER_KEY), GARBAGE_KEY]
    bad_keys = [{**_data(), "tls.key": _b64(prefix + pem)} for pem in keys for prefix in (b"", b"x")]
    messages = [str(p) for data in bad_keys for p in _problems(data)] + [str(p) for p in problems]
    for pem in keys:
        body = b"".join(pem.splitlines()[1:-1]).decode()
        chunks = {body[i:i + 16] for i in range(len(body) - 16)} | {_b64(pem)[i:i + 16] for i in range(40)}
        assert not [m for m in messages for chunk in chunks if chunk in m or "-----" in m]
