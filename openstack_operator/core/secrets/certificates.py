"""The certificate of the public endpoints: is the Secret of `features.ssl.public_endpoints.secret_name` one the
Gateway can serve for every public host name? Pure: the caller reads the Secret and passes a clock.

The public host names are the `hostnames` of the HTTPRoutes the rendered releases carry in their `extraObjects`
(templates/services/_macros.j2 `routes`): reading them from the render, rather than deriving them again from the
catalog, follows a disabled noVNC console or a route a user adds in `services.<service>.<chart>.values`.

Every problem names the Secret key or the host names at fault and never quotes key material: these messages reach
logs, events and the osdpl status.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from openstack_operator.core.rendering.renderer import RenderedService

TLS_TYPE = "kubernetes.io/tls"
CERT_KEY, PRIVATE_KEY = "tls.crt", "tls.key"
ERROR, WARNING = "error", "warning"
RENEW_BEFORE = datetime.timedelta(days=14)


@dataclass(frozen=True)
class Problem:
    severity: str  # ERROR: the Gateway cannot serve it (or clients reject it); WARNING: renew soon
    message: str

    def __str__(self) -> str:
        return self.message


def public_hosts(services: Iterable[RenderedService]) -> list[str]:
    """Every host name an HTTPRoute of the rendered releases serves, sorted, once each."""
    hosts: set[str] = set()
    for service in services:
        for release in service.releases:
            objects: Any = release.values.get("extraObjects") or {}
            # Our templates write a mapping; OpenStack-Helm's charts also accept a list (user values may).
            for obj in objects.values() if isinstance(objects, Mapping) else objects:
                if isinstance(obj, Mapping) and obj.get("kind") == "HTTPRoute":
                    hosts.update((obj.get("spec") or {}).get("hostnames") or [])
    return sorted(hosts)


def certificate_problems(secret_type: str | None, data: Mapping[str, str], hosts: Iterable[str],
                         now: datetime.datetime, renew_before: datetime.timedelta = RENEW_BEFORE) -> list[Problem]:
    """What is wrong with a TLS Secret (`secret_type` None: it does not exist; `data`: its `.data`, base64) for
    serving `hosts` at `now`; empty when nothing is. Expiry within `renew_before` is a WARNING, the rest ERRORs."""
    if secret_type is None:
        return [Problem(ERROR, "the Secret does not exist")]
    problems = []
    if secret_type != TLS_TYPE:
        # Gateway implementations only load kubernetes.io/tls Secrets; go on to say what else is wrong.
        problems.append(Problem(ERROR, f"the Secret's type is {secret_type!r}, not {TLS_TYPE}"))
    cert_pem = _pem(data, CERT_KEY, "certificate", rb"-----BEGIN CERTIFICATE-----", problems)
    # PKCS#8 ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY") or traditional ("RSA PRIVATE KEY", "EC PRIVATE KEY")
    key_pem = _pem(data, PRIVATE_KEY, "private key", rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----", problems)
    cert = _certificate(cert_pem, problems) if cert_pem is not None else None
    key = _private_key(key_pem, problems) if key_pem is not None else None
    if cert is None:
        return problems
    if key is not None and _spki(key.public_key()) != _spki(cert.public_key()):
        problems.append(Problem(ERROR, f"{PRIVATE_KEY}: does not match the certificate's public key in {CERT_KEY}"))
    problems.extend(_validity(cert, now, renew_before))
    names = _dns_names(cert)
    uncovered = [host for host in dict.fromkeys(hosts) if not any(_covers(name, host) for name in names)]
    if uncovered:
        problems.append(Problem(ERROR, f"{CERT_KEY}: not valid for {', '.join(uncovered)} (not in the certificate's "
                                       "subjectAltName DNS names; the subject CN does not count)"))
    return problems


def _pem(data: Mapping[str, str], key: str, what: str, header: bytes, problems: list[Problem]) -> bytes | None:
    """The decoded value of one Secret key if it holds a PEM block with this header, else a problem and None."""
    value = data.get(key)
    if not value:
        problems.append(Problem(ERROR, f"{key}: {'missing' if value is None else 'empty'}"))
        return None
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        problems.append(Problem(ERROR, f"{key}: not valid base64"))
        return None
    if not re.search(header, decoded):
        problems.append(Problem(ERROR, f"{key}: no PEM {what} in it"))
        return None
    return decoded


def _certificate(pem: bytes, problems: list[Problem]) -> x509.Certificate | None:
    # The first certificate is the server's own; any after it are the chain.
    try:
        cert = x509.load_pem_x509_certificate(pem)
        # Parsed lazily: a malformed extension or an unsupported key algorithm fails here, not at loading.
        cert.extensions
        cert.public_key()
        return cert
    except Exception:  # ValueError and others; never echo the reason, it may quote the input
        problems.append(Problem(ERROR, f"{CERT_KEY}: the certificate cannot be parsed"))
        return None


def _private_key(pem: bytes, problems: list[Problem]) -> PrivateKeyTypes | None:
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except TypeError:  # password protected: a Gateway has no passphrase to open it
        problems.append(Problem(ERROR, f"{PRIVATE_KEY}: the private key is encrypted"))
    except Exception:  # never echo the reason: it may quote key bytes
        problems.append(Problem(ERROR, f"{PRIVATE_KEY}: the private key cannot be parsed"))
    return None


def _spki(public_key: PublicKeyTypes) -> bytes:
    """A public key in one comparable form, whatever its algorithm."""
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _validity(cert: x509.Certificate, now: datetime.datetime, renew_before: datetime.timedelta) -> list[Problem]:
    if now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)  # a naive clock is taken as UTC, as X.509 times are
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < start:
        return [Problem(ERROR, f"{CERT_KEY}: not valid before {_time(start)}")]
    if now > end:  # notAfter is the last valid instant (RFC 5280 4.1.2.5)
        return [Problem(ERROR, f"{CERT_KEY}: expired on {_time(end)}")]
    if end - now <= renew_before:
        left = end - now
        when = f"in {left.days} day{'s' * (left.days != 1)}" if left.days else "in less than a day"
        return [Problem(WARNING, f"{CERT_KEY}: expires on {_time(end)}, {when}")]
    return []


def _time(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []  # browsers ignore the CN, so no SAN covers no host
    return [str(name) for name in san.get_values_for_type(x509.DNSName)]


def _covers(name: str, host: str) -> bool:
    """RFC 6125 6.4: DNS names compare case-insensitively; a `*` left-most label stands for exactly one label."""
    name, host = name.lower().rstrip("."), host.lower().rstrip(".")
    if name == host:
        return True
    if not name.startswith("*."):
        return False
    label, _, rest = host.partition(".")
    return bool(label) and rest == name[2:]
