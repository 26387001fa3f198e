"""Octavia's amphora control-plane PKI as one credential record (JSON in the credentials Secret). Pure: the caller
passes the clock.

Controllers and amphorae authenticate each other with two CAs of their own, not the deployment's public certificate:
the server CA signs each amphora's server certificate (octavia's local cert generator, holding its key and the
passphrase of octavia.conf [certificates] ca_private_key_passphrase); the client CA signs the certificate the
controllers present to amphorae, which trust it as controller_worker.client_ca. Amphorae keep what they were built
with, so the record is generated once by the secrets process and only the client certificate is ever renewed.

Every error names the record key at fault and never quotes key material: these messages reach logs and the status.
"""

from __future__ import annotations

import datetime
import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NAME = "octavia_amphora_pki"  # the credential's name (catalog.yaml): prefix of every message and placeholder
RECORD_KEYS = ("passphrase", "server_ca_key", "server_ca_cert", "client_ca_key", "client_ca_cert", "client_cert",
               "client_key")
CA_LIFETIME = datetime.timedelta(days=3650)
CLIENT_LIFETIME = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=30)
BACKDATE = datetime.timedelta(hours=1)  # a node whose clock lags a little still accepts a new certificate
# The passphrase is drawn as credentials.new_password draws a password (not imported: credentials imports this
# module): letters and digits, which octavia.conf holds unquoted; 32 of them, about 190 bits.
ALPHABET = string.ascii_letters + string.digits
PASSPHRASE_LENGTH = 32
# Under /etc/octavia/certs, where the chart's octavia.conf defaults point: [certificates] ca_certificate and
# ca_private_key, [haproxy_amphora] server_ca and client_cert, [controller_worker] client_ca.
FILES = ("server_ca.cert.pem", "server_ca-chain.cert.pem", "private/server_ca.key.pem", "client_ca.cert.pem",
         "private/client.cert-and-key.pem")

IssuerKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class PkiError(ValueError):
    """The record is unusable; the message names the key at fault."""


@dataclass(frozen=True)
class AmphoraFiles:
    passphrase: str = field(repr=False)
    files: Mapping[str, str] = field(repr=False)  # FILES name -> PEM text


def generate(now: datetime.datetime, draw: Callable[[str], str] = secrets.choice) -> str:
    passphrase = "".join(draw(ALPHABET) for _ in range(PASSPHRASE_LENGTH))
    server_ca_key, client_ca_key = rsa.generate_private_key(65537, 2048), rsa.generate_private_key(65537, 2048)
    server_ca_cert = _ca("Octavia amphora server CA", server_ca_key, now)
    client_ca_cert = _ca("Octavia amphora client CA", client_ca_key, now)
    record = {"passphrase": passphrase, "server_ca_cert": _cert_pem(server_ca_cert),
              # Mounted into octavia's pods, where the local cert generator opens it with the passphrase. The client
              # CA key never leaves this Secret.
              "server_ca_key": _key_pem(server_ca_key, serialization.BestAvailableEncryption(passphrase.encode())),
              "client_ca_key": _key_pem(client_ca_key), "client_ca_cert": _cert_pem(client_ca_cert),
              **_client(client_ca_cert, client_ca_key, now)}
    return json.dumps(record, sort_keys=True)


def files(record: str) -> AmphoraFiles:
    """What the octavia pods mount, by FILES name, and the passphrase; placeholders (offline renders, or a record not
    generated yet) show where each lands. Never raises: check() is where a record is judged."""
    try:
        body = _body(record)
    except PkiError:
        return AmphoraFiles(f"<{NAME}:passphrase>", {name: f"<{NAME}:{name}>" for name in FILES})
    cert = body["client_cert"] if body["client_cert"].endswith("\n") else body["client_cert"] + "\n"
    # Amphorae's certificates are signed by the server CA directly: it is the whole chain.
    pems = (body["server_ca_cert"], body["server_ca_cert"], body["server_ca_key"], body["client_ca_cert"],
            cert + body["client_key"])
    return AmphoraFiles(body["passphrase"], dict(zip(FILES, pems)))


def check(record: str, now: datetime.datetime) -> None:
    """Raise PkiError unless octavia can use the record at `now`. An expired client certificate is no error here:
    renewed() replaces it."""
    _checked(record, now)


def renewed(record: str, now: datetime.datetime, renew_before: datetime.timedelta = RENEW_BEFORE,
            draw: Callable[[str], str] = secrets.choice) -> str | None:
    """None while the client certificate is valid for more than `renew_before`; else the record with a new client
    key and certificate from the same client CA, which every running amphora already trusts. The CAs are never
    renewed here: amphorae only learn a new CA when rebuilt, so one means failing over every amphora. (`draw` is
    unused: a renewal draws no passphrase; it is accepted so callers pass one randomness source everywhere.)"""
    body, client_ca_cert, client_ca_key, client_cert = _checked(record, now)
    if client_cert.not_valid_after_utc - _utc(now) > renew_before:
        return None
    return json.dumps({**body, **_client(client_ca_cert, client_ca_key, now)}, sort_keys=True)


def not_after(record: str) -> datetime.datetime:
    """The client certificate's expiry (UTC)."""
    return _cert(_body(record), "client_cert").not_valid_after_utc


def _ca(common_name: str, key: rsa.RSAPrivateKey, now: datetime.datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    usage = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                           "key_agreement", "encipher_only", "decipher_only"), False)
    return (_builder(name, name, key.public_key(), now, CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(key_cert_sign=True, crl_sign=True, **usage), critical=True)
            .sign(key, hashes.SHA256()))


def _client(ca_cert: x509.Certificate, ca_key: IssuerKey, now: datetime.datetime) -> dict[str, str]:
    key = rsa.generate_private_key(65537, 2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Octavia controller")])
    cert = (_builder(subject, ca_cert.subject, key.public_key(), now, CLIENT_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            # Strict verifiers (OpenSSL's X509_STRICT) want it to find the issuer.
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return {"client_cert": _cert_pem(cert), "client_key": _key_pem(key)}


def _builder(subject: x509.Name, issuer: x509.Name, public_key: rsa.RSAPublicKey, now: datetime.datetime,
             lifetime: datetime.timedelta) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now - BACKDATE)
            .not_valid_after(now + lifetime)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: rsa.RSAPrivateKey, encryption: serialization.KeySerializationEncryption
             = serialization.NoEncryption()) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


def _error(key: str, what: str) -> PkiError:
    return PkiError(f"{NAME}: {key}: {what}" if key else f"{NAME}: {what}")


def _body(record: str) -> dict[str, str]:
    try:
        body: Any = json.loads(record)
    except (ValueError, TypeError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise _error("", "not a JSON object")
    for key in RECORD_KEYS:
        if not isinstance(body.get(key), str):
            raise _error(key, "missing" if body.get(key) is None else "not a string")
        if not body[key]:
            raise _error(key, "empty")
    return body


def _checked(record: str, now: datetime.datetime) -> tuple[dict[str, str], x509.Certificate, IssuerKey,
                                                            x509.Certificate]:
    body = _body(record)
    server_ca_cert, client_ca_cert, client_cert = (_cert(body, k) for k in ("server_ca_cert", "client_ca_cert",
                                                                            "client_cert"))
    server_ca_key = _key(body, "server_ca_key", body["passphrase"].encode())
    client_ca_key, client_key = _key(body, "client_ca_key"), _key(body, "client_key")
    _matches(server_ca_key, "server_ca_key", server_ca_cert, "server_ca_cert")
    _matches(client_ca_key, "client_ca_key", client_ca_cert, "client_ca_cert")
    try:
        client_cert.verify_directly_issued_by(client_ca_cert)
    except Exception:  # wrong issuer name, bad signature or an unsupported algorithm: all "not signed by"
        raise _error("client_cert", "not signed by client_ca_cert") from None
    _matches(client_key, "client_key", client_cert, "client_cert")
    for key, cert in (("server_ca_cert", server_ca_cert), ("client_ca_cert", client_ca_cert)):
        if _utc(now) < cert.not_valid_before_utc:
            raise _error(key, f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC")
        if _utc(now) > cert.not_valid_after_utc:
            raise _error(key, f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC (a new CA means "
                              "failing over every amphora)")
    return body, client_ca_cert, client_ca_key, client_cert


def _cert(body: Mapping[str, str], key: str) -> x509.Certificate:
    try:
        cert = x509.load_pem_x509_certificate(body[key].encode())
        cert.extensions  # parsed lazily: a malformed one fails here, not later
        cert.public_key()
        return cert
    except Exception:  # never echo the reason: it may quote the input
        raise _error(key, "not a PEM certificate that can be parsed") from None


def _key(body: Mapping[str, str], key: str, password: bytes | None = None) -> IssuerKey:
    try:
        loaded = serialization.load_pem_private_key(body[key].encode(), password=password)
    except TypeError:  # encrypted without a password, or a password for a key stored in the clear
        raise _error(key, "encrypted" if password is None else "not encrypted") from None
    except Exception:  # never echo the reason: it may quote key bytes
        raise _error(key, "does not decrypt with passphrase, or is no PEM private key" if password
                     else "not a PEM private key that can be parsed") from None
    if not isinstance(loaded, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise _error(key, "neither an RSA nor an EC private key")
    return loaded


def _matches(key: IssuerKey, key_name: str, cert: x509.Certificate, cert_name: str) -> None:
    def spki(public_key: PublicKeyTypes) -> bytes:
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if spki(key.public_key()) != spki(cert.public_key()):
        raise _error(key_name, f"does not match {cert_name}")


def _utc(now: datetime.datetime) -> datetime.datetime:
    # X.509 times are UTC: a naive clock is taken as UTC
    return now if now.tzinfo is not None else now.replace(tzinfo=datetime.timezone.utc)
