"""Credentials: their records as stored, generation, rotation and the check that none was lost. Pure.

The secrets process is their only writer (controllers/secrets.py); the renderer only reads a mapping from credential
name (as listed per chart in catalog.yaml) to a Credential. A credential is generated once and never again: a
database or a message queue still holds it, so a lost one is an outage, not a fresh start. It changes only by a
rotation, which gives it a new user name as well, so the old and the new one both work until every consumer has
moved (the charts' init Jobs create the new user; the old one is dropped afterwards).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from openstack_operator.core.apigroup import GROUP
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets import amphora_pki

# Letters and digits only: every consumer accepts them unquoted (SQL, RabbitMQ URLs, Erlang cookies, INI files).
ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 32  # about 190 bits
SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
SUFFIX_LENGTH = 6
AMPHORA_PKI = "amphora-pki"  # the credential kind whose record is core.secrets.amphora_pki's
PREVIOUS = ".previous"  # Secret key suffix of the record a rotation replaces, kept until the rotation ends

# The secrets process's finalizer on both credentials Secrets: they go only when the osdpl goes.
KEEP_FINALIZER = f"secrets.{GROUP}/keep-credentials"
# Ownership of both Secrets: the label naming their osdpl (core.releases.bundles.OSDPL_LABEL), which every version of
# the secrets process wrote on them. A Secret of one of their names without it was made by someone else and is refused.
OWNER_LABEL = f"{GROUP}/osdpl"
# The admin's deliberate opt-in for such a Secret (credentials restored by hand from their own backup): set on the
# Secret, naming the deployment as `<namespace>/<osdpl>`. Never the default: nothing else adopts a Secret.
ADOPT_ANNOTATION = f"{GROUP}/adopt-credentials"


def credentials_secret_name(osdpl: str) -> str:
    return f"{osdpl}-credentials"


def backup_secret_name(osdpl: str) -> str:
    return f"{osdpl}-credentials-backup"


@dataclass(frozen=True)
class Credential:
    username: str
    password: str = field(repr=False)  # repr=False: a Credential in a log line or traceback shows no secret


Credentials = Mapping[str, Credential]


@dataclass(frozen=True)
class Stored:
    """The credentials Secret as records: `current` is what the releases use; `previous` holds, during a rotation,
    the records being replaced (their users still exist where they are checked)."""
    current: Mapping[str, Credential]
    previous: Mapping[str, Credential] = field(default_factory=dict)


def required_credentials(catalog: Catalog, services: Iterable[str]) -> list[str]:
    """The credential names the charts of these services read, sorted."""
    names = {cred for service in services for chart in catalog.services[service].charts for cred in chart.credentials}
    return sorted(names)


def placeholder_credentials(catalog: Catalog, names: Iterable[str]) -> dict[str, Credential]:
    """Stand-ins for offline rendering: show where each credential lands without knowing any."""
    return {name: Credential(catalog.credentials[name].username, f"<{name}>") for name in names}


def new_password(draw: Callable[[str], str] = secrets.choice) -> str:
    return "".join(draw(ALPHABET) for _ in range(PASSWORD_LENGTH))


def aes256_key(credential: str) -> str:
    """A 256-bit key derived from a credential, base64-encoded (barbican's KEK): 32 bytes whatever the credential's
    length (one seeded by hand included), the same for the same credential. Changing this derivation would change
    every deployment's KEK and leave its stored secrets unreadable."""
    return base64.b64encode(hashlib.sha256(credential.encode()).digest()).decode()


def generated(catalog: Catalog, name: str, draw: Callable[[str], str] = secrets.choice) -> Credential:
    """A first credential: the chart's usual user name (what an operator expects to find in the database)."""
    if catalog.credentials[name].kind == AMPHORA_PKI:
        return Credential("", amphora_pki.generate(_utcnow(), draw))
    return Credential(catalog.credentials[name].username, new_password(draw))


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def rotated(catalog: Catalog, name: str, old: Credential, draw: Callable[[str], str] = secrets.choice) -> Credential:
    """The successor of `old`: a new password and a new user name, so both work side by side until the old one is
    dropped. Kind `secret` has no user: only the value changes."""
    base = catalog.credentials[name].username
    if not base:
        return Credential("", new_password(draw))
    while True:
        username = f"{base}_{''.join(draw(SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))}"
        if username != old.username:
            return Credential(username, new_password(draw))


def parse_secret(catalog: Catalog, data: Mapping[str, str]) -> Stored:
    """Records from the Secret's (decoded) data. A plain value is the format of earlier operator versions: the
    password alone, with the catalog's user name."""
    current: dict[str, Credential] = {}
    previous: dict[str, Credential] = {}
    for key, value in data.items():
        name, target = (key[:-len(PREVIOUS)], previous) if key.endswith(PREVIOUS) else (key, current)
        target[name] = _record(catalog, name, value)
    return Stored(current, previous)


def _record(catalog: Catalog, name: str, value: str) -> Credential:
    try:
        body = json.loads(value)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("password"), str):
        return Credential(str(body.get("username", "")), body["password"])
    spec = catalog.credentials.get(name)
    return Credential(spec.username if spec else "", value)


def secret_data(stored: Stored) -> dict[str, str]:
    def encode(credential: Credential) -> str:
        return json.dumps({"username": credential.username, "password": credential.password}, sort_keys=True)
    return {**{name: encode(c) for name, c in stored.current.items()},
            **{name + PREVIOUS: encode(c) for name, c in stored.previous.items()}}


def unowned(metadata: Mapping[str, Any], namespace: str, osdpl: str) -> bool:
    """Whether a Secret named as one of the osdpl's credentials Secrets (`metadata` as read) was made by someone
    else: it carries neither our label naming `osdpl` nor the admin's adopt annotation naming this deployment.
    (Within its namespace this tells our Secrets from accidents and leftovers; who may write Secrets there may
    also read the credentials, so RBAC of the namespace, not a label, is the boundary against them.)"""
    labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
    return labels.get(OWNER_LABEL) != osdpl and annotations.get(ADOPT_ANNOTATION) != f"{namespace}/{osdpl}"


def refusal(secrets: Iterable[str], namespace: str, osdpl: str) -> str:
    """What the osdpl reports about Secrets of its credentials' names that someone else made: named, and what to do."""
    names = list(secrets)
    target = names[0] if len(names) == 1 else "<name>"
    return (f"Secret {', '.join(names)} was not written by the operator for osdpl {osdpl} (no label "
            f"{OWNER_LABEL}={osdpl}): refused, neither used nor overwritten, and nothing is deployed; delete it to "
            f"have new credentials generated, or to use its credentials on purpose: `kubectl -n {namespace} annotate "
            f"secret {target} {ADOPT_ANNOTATION}={namespace}/{osdpl}`")


def earlier_records(main: Stored | None, backup: Stored | None) -> Stored:
    """What a deployment without a record (no status.credentials.digests: a first deployment, or an osdpl deleted
    and re-created, restored without its status, or upgraded from an earlier version) starts from: every record the
    credentials Secret holds, and those only its backup still holds. Nothing that has a copy is generated again."""
    base = main if main is not None else backup
    current = {**(backup.current if backup is not None else {}), **(main.current if main is not None else {})}
    return Stored(current, dict(base.previous) if base is not None else {})


def holds(container: Stored | None, records: Stored | None) -> bool:
    """Whether `container` has every current record of `records`, with the same value."""
    if records is None:
        return True
    return container is not None and all(container.current.get(n) == c for n, c in records.current.items())


def digest(credential: Credential) -> str:
    """Tells two values of a credential apart without revealing either: the secrets process records these on the
    osdpl status to notice a lost or edited Secret. Every value it stores is 190 random bits, so a 64-bit prefix of
    a hash cannot be turned back into one."""
    text = f"{credential.username}\0{credential.password}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def digests(stored: Stored) -> dict[str, str]:
    return {name: digest(c) for name, c in sorted(stored.current.items())}


def with_missing(catalog: Catalog, stored: Stored, names: Iterable[str],
                 draw: Callable[[str], str] = secrets.choice) -> Stored:
    """`stored` plus a new credential for each name it lacks; the others are kept exactly."""
    current = dict(stored.current)
    for name in names:
        if name not in current:
            current[name] = generated(catalog, name, draw)
    return Stored(current, stored.previous)


def renew_due(catalog: Catalog, stored: Stored, now: datetime.datetime,
              draw: Callable[[str], str] = secrets.choice) -> tuple[Stored, list[str]]:
    """`stored` with each certificate record whose client certificate is due renewed (core.secrets.amphora_pki), and
    the names renewed. Not a rotation: the record keeps its name and no previous one, since the CA that signs the new
    certificate is the one everything already trusts. A record that cannot be read is left as it is: the render
    refuses it, naming the credential."""
    current, names = dict(stored.current), []
    for name, credential in stored.current.items():
        spec = catalog.credentials.get(name)
        if spec is None or spec.kind != AMPHORA_PKI:
            continue
        try:
            record = amphora_pki.renewed(credential.password, now, draw=draw)
        except amphora_pki.PkiError:
            continue
        if record is not None:
            current[name] = Credential("", record)
            names.append(name)
    return Stored(current, stored.previous), names


def generated_credentials(catalog: Catalog, names: Iterable[str]) -> dict[str, Credential]:
    """New credentials for `names`, as a first deployment gets them (tests and benchmarks)."""
    return dict(with_missing(catalog, Stored({}), names).current)


def rotation_names(catalog: Catalog, group: str, stored: Stored, needed: Iterable[str]) -> list[str]:
    """The credentials a rotation of `group` replaces: those of the group that the enabled services use."""
    return sorted(n for n in set(needed) if n in stored.current and catalog.credentials[n].rotation == group)


def start_rotation(catalog: Catalog, stored: Stored, names: Iterable[str],
                   draw: Callable[[str], str] = secrets.choice) -> Stored:
    """Phase one: each of `names` gets its successor; the record replaced is kept as `previous`."""
    current, previous = dict(stored.current), dict(stored.previous)
    for name in names:
        previous[name] = current[name]
        current[name] = rotated(catalog, name, current[name], draw)
    return Stored(current, previous)


def end_rotation(stored: Stored) -> Stored:
    """Phase two, once every consumer uses the new records and the old users are dropped: forget the old ones."""
    return Stored(stored.current, {})


@dataclass(frozen=True)
class Assessment:
    """How the credentials Secret compares with what the secrets process last wrote (`recorded` digests)."""
    lost: bool
    missing: tuple[str, ...] = ()  # recorded names the Secret no longer holds
    changed: tuple[str, ...] = ()  # recorded names whose value in the Secret differs

    def describe(self, secret: str) -> str:
        parts = []
        if self.missing:
            parts.append(f"missing {', '.join(self.missing)}")
        if self.changed:
            parts.append(f"changed {', '.join(self.changed)}")
        return f"Secret {secret}: " + ("; ".join(parts) if parts else "deleted")


def assess(recorded: Mapping[str, str], stored: Stored | None, deleting: bool) -> Assessment:
    """Whether the Secret (None: absent; `deleting`: being deleted) still holds every recorded credential. Names it
    holds beyond the record are no loss: nothing used them yet."""
    if stored is None or deleting:
        return Assessment(lost=True, missing=tuple(sorted(recorded)) if stored is None else ())
    actual = digests(stored)
    missing = tuple(sorted(n for n in recorded if n not in actual))
    changed = tuple(sorted(n for n in recorded if n in actual and actual[n] != recorded[n]))
    return Assessment(lost=bool(missing or changed), missing=missing, changed=changed)
