"""The credentials Secret of an osdpl and its backup, as the secrets process writes them and the osdpl process reads
them.

Neither has an owner reference, so deleting the osdpl keeps them: databases on persistent volumes still hold these
passwords, and a re-created osdpl of the same name picks them up again (docs/operations.md). While the osdpl exists
a finalizer keeps each of them from going away: a `kubectl delete` leaves it readable (Terminating) instead of
losing the cloud's passwords. The backup is what a restore copies back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import pykube

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.credentials import (KEEP_FINALIZER, Stored, backup_secret_name,
                                                         credentials_secret_name, parse_secret, secret_data)
from openstack_operator.core.apigroup import GROUP
from openstack_operator.kube.objects import apply_secret, decode_secret, get_or_none, set_finalizers

@dataclass(frozen=True)
class SecretState:
    """One of the two Secrets as read: its records (None: absent), whether it is being deleted, and the object."""
    stored: Stored | None
    deleting: bool
    raw: Any  # the pykube object, None when absent

    @property
    def data(self) -> dict[str, str] | None:
        return decode_secret(self.raw) if self.raw is not None else None


def read_secret(catalog: Catalog, namespace: str, name: str) -> SecretState:
    found = get_or_none(pykube.Secret, namespace, name)
    if found is None:
        return SecretState(None, False, None)
    return SecretState(parse_secret(catalog, decode_secret(found)),
                       bool(found.obj["metadata"].get("deletionTimestamp")), found)


def read_credentials(catalog: Catalog, namespace: str, osdpl: str) -> SecretState:
    return read_secret(catalog, namespace, credentials_secret_name(osdpl))


def write_credentials(namespace: str, osdpl: str, stored: Stored, labels: Mapping[str, str],
                      main: SecretState, backup: SecretState) -> bool:
    """Make both Secrets hold `stored`, the backup first: if this stops half-way, the credentials Secret is either
    unchanged or equal to its backup, which is how the secrets process tells its own unfinished write from a hand
    edit. Each write carries the resourceVersion read, so a concurrent writer fails it instead of being lost.
    Returns whether anything was written."""
    data = secret_data(stored)
    sensitive = [c.password for c in [*stored.current.values(), *stored.previous.values()]]
    wrote = False
    for name, state in ((backup_secret_name(osdpl), backup), (credentials_secret_name(osdpl), main)):
        wrote |= apply_secret(namespace, name, data, labels, owner=None, current=state.raw, sensitive=sensitive,
                              finalizers=[KEEP_FINALIZER])
    return wrote


def write_backup(namespace: str, osdpl: str, stored: Stored, labels: Mapping[str, str], backup: SecretState) -> bool:
    """Make the backup alone hold `stored`: the records of a credentials Secret being deleted before any was
    recorded go there first, so that letting it go loses none."""
    sensitive = [c.password for c in [*stored.current.values(), *stored.previous.values()]]
    return apply_secret(namespace, backup_secret_name(osdpl), secret_data(stored), labels, owner=None,
                        current=backup.raw, sensitive=sensitive, finalizers=[KEEP_FINALIZER])


def drop_keep_finalizer(state: SecretState) -> None:
    """Let a Secret go (its osdpl is gone, or a restore replaces it)."""
    if state.raw is None:
        return
    finalizers = state.raw.obj["metadata"].get("finalizers") or []
    if KEEP_FINALIZER in finalizers:
        set_finalizers(pykube.Secret, state.raw.obj, [f for f in finalizers if f != KEEP_FINALIZER])


def ensure_kept_secrets(namespace: str, names: Iterable[str], labels: Mapping[str, str]) -> None:
    """Create, empty, each Secret a chart's Jobs fill with keys that must outlive its release (Keystone's fernet and
    credential keys encrypt data in the database). No owner: like the credentials, they stay when the osdpl goes."""
    for name in names:
        if get_or_none(pykube.Secret, namespace, name) is None:
            apply_secret(namespace, name, {}, labels, owner=None, current=None)
