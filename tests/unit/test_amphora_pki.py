"""Octavia's amphora PKI record (core/secrets/amphora_pki.py): what generate() makes, the files the octavia pods
mount, the check of a record and the renewal of the controllers' client certificate."""

from __future__ import annotations

import datetime
import json
from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from openstack_operator.core.secrets import amphora_pki
from openstack_operator.core.secrets.amphora_pki import (CA_LIFETIME, CLIENT_LIFETIME, FILES, RECORD_KEYS,
                                                         RENEW_BEFORE, AmphoraFiles, PkiError, check, files,
                                                         generate, not_after, renewed)
from openstack_operator.core.secrets.credentials import ALPHABET, PASSWORD_LENGTH

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)


def _draw() -> Callable[[str], str]:
    """A deterministic `draw` walking the alphabet in steps of 7: a passphrase of varied characters."""
    state = {"n": 0}

    def draw(alphabet: str) -> str:
        state["n"] += 7
        return alphabet[state["n"] % len(alphabet)]
    return draw


@pytest.fixture(scope="module")
def record() -> str:
    return generate(NOW, _draw())


@pytest.fixture(scope="module")
def other() -> str:
    """Another deployment's record: its CAs are not ours."""
    return generate(NOW)


def _body(record: str) -> dict[str, str]:
    body: dict[str, str] = json.loads(record)
    return body


def _cert(record: str, key: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(_body(record)[key].encode())


def test_generate_gives_every_key_sorted_and_passes_check(record: str) -> None:
    assert list(_body(record)) == sorted(RECORD_KEYS)
    assert record == json.dumps(_body(record), sort_keys=True)
    check(record, NOW)
    check(record, NOW + CA_LIFETIME - DAY)  # an expired client certificate is renewed(), not an error


def test_the_passphrase_is_drawn_with_draw_like_a_password(record: str) -> None:
    assert (amphora_pki.ALPHABET, amphora_pki.PASSPHRASE_LENGTH) == (ALPHABET, PASSWORD_LENGTH)
    draw = _draw()
    assert _body(record)["passphrase"] == "".join(draw(ALPHABET) for _ in range(PASSWORD_LENGTH))
    assert len(set(_body(record)["passphrase"])) > 1


def test_the_server_ca_key_is_encrypted_with_the_passphrase(record: str) -> None:
    body = _body(record)
    assert body["server_ca_key"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(body["server_ca_key"].encode(), password=None)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(body["server_ca_key"].encode(), password=b"wrong")
    key = serialization.load_pem_private_key(body["server_ca_key"].encode(), password=body["passphrase"].encode())
    assert key.public_key() == _cert(record, "server_ca_cert").public_key()


def test_the_other_keys_are_pkcs8_in_the_clear(record: str) -> None:
    for name in ("client_ca_key", "client_key"):
        pem = _body(record)[name]
        assert pem.startswith("-----BEGIN PRIVATE KEY-----")
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048


@pytest.mark.parametrize(("key", "common_name"), [("server_ca_cert", "Octavia amphora server CA"),
                                                  ("client_ca_cert", "Octavia amphora client CA")],
                         ids=["server_ca", "client_ca"])
def test_the_cas_are_self_signed_cas_for_ten_years(record: str, key: str, common_name: str) -> None:
    cert = _cert(record, key)
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == common_name
    cert.verify_directly_issued_by(cert)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (NOW - HOUR, NOW + CA_LIFETIME)
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048


def test_the_client_certificate_is_for_client_auth_from_the_client_ca(record: str) -> None:
    cert, ca = _cert(record, "client_cert"), _cert(record, "client_ca_cert")
    cert.verify_directly_issued_by(ca)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Octavia controller"
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (NOW - HOUR, NOW + CLIENT_LIFETIME)
    assert not_after(record) == NOW + CLIENT_LIFETIME and not_after(record).tzinfo is not None


def test_files_are_what_octavia_conf_points_at(record: str) -> None:
    body, mounted = _body(record), files(record)
    assert mounted.passphrase == body["passphrase"]
    assert list(mounted.files) == list(FILES)
    assert mounted.files["server_ca.cert.pem"] == body["server_ca_cert"]
    assert mounted.files["server_ca-chain.cert.pem"] == body["server_ca_cert"]
    assert mounted.files["private/server_ca.key.pem"] == body["server_ca_key"]
    assert mounted.files["client_ca.cert.pem"] == body["client_ca_cert"]
    both = mounted.files["private/client.cert-and-key.pem"]
    assert both == body["client_cert"] + body["client_key"]
    assert 0 == both.index("-----BEGIN CERTIFICATE-----") < both.index("-----END CERTIFICATE-----\n") < both.index(
        "-----BEGIN PRIVATE KEY-----")
    assert x509.load_pem_x509_certificate(both.encode()) == _cert(record, "client_cert")
    serialization.load_pem_private_key(both.encode(), password=None)  # the key is found after the certificate


def test_files_puts_the_key_on_its_own_line_after_a_certificate_without_a_final_newline(record: str) -> None:
    body = {**_body(record), "client_cert": _body(record)["client_cert"].rstrip("\n")}
    both = files(json.dumps(body)).files["private/client.cert-and-key.pem"]
    assert "-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----" in both


@pytest.mark.parametrize("placeholder", ["<octavia_amphora_pki>", "", "[]", "null", '{"passphrase": "x"}',
                                         json.dumps(dict.fromkeys(RECORD_KEYS, "x") | {"client_key": ""}),
                                         json.dumps(dict.fromkeys(RECORD_KEYS, "x") | {"client_key": 1})],
                         ids=["offline", "empty", "list", "null", "partial", "empty_value", "not_a_string"])
def test_files_of_no_usable_record_are_placeholders(placeholder: str) -> None:
    assert files(placeholder) == AmphoraFiles("<octavia_amphora_pki:passphrase>",
                                              {name: f"<octavia_amphora_pki:{name}>" for name in FILES})


def test_the_repr_of_files_shows_no_secret(record: str) -> None:
    text = repr(files(record))
    assert _body(record)["passphrase"] not in text and "BEGIN" not in text and "PRIVATE" not in text


def test_a_fresh_client_certificate_is_not_renewed(record: str) -> None:
    assert renewed(record, NOW) is None
    assert renewed(record, NOW + CLIENT_LIFETIME - RENEW_BEFORE - DAY) is None
    assert renewed(record, NOW + 310 * DAY, renew_before=60 * DAY) is not None


@pytest.mark.parametrize("days", [340, 400])  # within RENEW_BEFORE of its expiry, and expired
def test_renewal_replaces_the_client_certificate_only(record: str, days: int) -> None:
    later = NOW + days * DAY
    new = renewed(record, later, draw=_draw())
    assert new is not None
    before, after = _body(record), _body(new)
    assert list(after) == sorted(RECORD_KEYS) and new == json.dumps(after, sort_keys=True)
    assert {k: v for k, v in after.items() if k not in ("client_cert", "client_key")} == {
        k: v for k, v in before.items() if k not in ("client_cert", "client_key")}
    assert after["client_cert"] != before["client_cert"] and after["client_key"] != before["client_key"]
    _cert(new, "client_cert").verify_directly_issued_by(_cert(record, "client_ca_cert"))
    assert _cert(new, "client_cert").not_valid_before_utc == later - HOUR
    assert not_after(new) == later + CLIENT_LIFETIME
    check(new, later)
    assert renewed(new, later) is None


def _graft(*keys: str) -> Callable[[dict[str, str], dict[str, str]], dict[str, str]]:
    """A tampering: these keys taken from the other deployment's record."""
    return lambda ours, theirs: {**ours, **{key: theirs[key] for key in keys}}


def _set(key: str, value: str | None) -> Callable[[dict[str, str], dict[str, str]], dict[str, str]]:
    """A tampering: `key` set to `value`, or removed (None)."""
    return lambda ours, _: {k: v for k, v in {**ours, key: value}.items() if v is not None}


GARBLED_CERT = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
GARBLED_KEY = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(("tamper", "message"), [
    pytest.param(_graft("client_cert"), "client_cert: not signed by client_ca_cert", id="foreign_client_cert"),
    pytest.param(_graft("client_key"), "client_key: does not match client_cert", id="foreign_client_key"),
    pytest.param(_graft("client_ca_cert"), "client_ca_key: does not match client_ca_cert", id="foreign_client_ca"),
    pytest.param(_graft("client_ca_key"), "client_ca_key: does not match client_ca_cert", id="foreign_client_ca_key"),
    pytest.param(_graft("server_ca_cert"), "server_ca_key: does not match server_ca_cert", id="foreign_server_ca"),
    pytest.param(_graft("server_ca_key"), "server_ca_key: does not decrypt with passphrase",
                 id="foreign_server_ca_key"),
    pytest.param(_set("passphrase", "wrongpassphrase0wrongpassphrase0"),
                 "server_ca_key: does not decrypt with passphrase", id="wrong_passphrase"),
    pytest.param(_set("client_ca_cert", None), "client_ca_cert: missing", id="missing_key"),
    pytest.param(_set("client_key", ""), "client_key: empty", id="empty_key"),
    pytest.param(_set("server_ca_cert", GARBLED_CERT), "server_ca_cert: not a PEM certificate", id="garbled_cert"),
    pytest.param(_set("client_key", GARBLED_KEY), "client_key: not a PEM private key", id="garbled_key"),
])
def test_check_names_the_key_of_a_tampered_record(record: str, other: str, message: str,
                                                  tamper: Callable[[dict[str, str], dict[str, str]],
                                                                   dict[str, str]]) -> None:
    tampered = json.dumps(tamper(_body(record), _body(other)))
    attempts: list[Callable[[], object]] = [lambda: check(tampered, NOW), lambda: renewed(tampered, NOW + 340 * DAY)]
    for attempt in attempts:
        with pytest.raises(PkiError) as caught:
            attempt()
        assert str(caught.value).startswith(f"octavia_amphora_pki: {message}")
        _no_secret_in(caught.value, record, other, tampered)


def test_the_server_ca_key_in_the_clear_is_refused(record: str) -> None:
    body = _body(record)
    key = serialization.load_pem_private_key(body["server_ca_key"].encode(), password=body["passphrase"].encode())
    clear = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()
    with pytest.raises(PkiError, match="^octavia_amphora_pki: server_ca_key: not encrypted$"):
        check(json.dumps({**body, "server_ca_key": clear}), NOW)


@pytest.mark.parametrize("text", ["<octavia_amphora_pki>", "not json {", "[1, 2]", ""],
                         ids=["offline", "not_json", "list", "empty"])
def test_a_record_that_is_no_json_object_is_refused(text: str) -> None:
    attempts: list[Callable[[], object]] = [lambda: check(text, NOW), lambda: renewed(text, NOW),
                                            lambda: not_after(text)]
    for attempt in attempts:
        with pytest.raises(PkiError, match="^octavia_amphora_pki: not a JSON object$"):
            attempt()


@pytest.mark.parametrize(("at", "message"), [
    (NOW + CA_LIFETIME + DAY, "server_ca_cert: expired on 2036-05-29 12:00:00 UTC"),
    (NOW - 2 * HOUR, "server_ca_cert: not valid before 2026-06-01 11:00:00 UTC"),
], ids=["expired", "not_yet_valid"])
def test_a_ca_outside_its_validity_is_refused(record: str, at: datetime.datetime, message: str) -> None:
    with pytest.raises(PkiError) as caught:
        check(record, at)
    assert str(caught.value).startswith(f"octavia_amphora_pki: {message}")
    _no_secret_in(caught.value, record)


def test_pki_error_is_a_value_error() -> None:
    assert issubclass(PkiError, ValueError)


def _no_secret_in(error: BaseException, *records: str) -> None:
    text = str(error)
    assert "BEGIN" not in text and "PRIVATE" not in text
    # No parser error chained to it either: a traceback would print its text.
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    for record in records:
        assert _body(record)["passphrase"] not in text
