"""The credentials Secret of an osdpl: created once, extended when services need new credentials, never
regenerated. It has no owner reference, so deleting the osdpl keeps it: databases on persistent volumes still
hold these passwords, and a re-created osdpl of the same name picks them up again (docs/operations.md)."""

from __future__ import annotations

from typing import Iterable, Mapping

import pykube

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.credentials import Credentials, credentials_from, with_missing_generated
from openstack_operator.kube.objects import apply_secret, decode_secret, get_or_none


def credentials_secret_name(osdpl: str) -> str:
    return f"{osdpl}-credentials"


def ensure_credentials(catalog: Catalog, namespace: str, osdpl: str, names: Iterable[str],
                       labels: Mapping[str, str]) -> Credentials:
    """The passwords of `names`, generating (and storing, before use) only those the Secret lacks."""
    secret_name = credentials_secret_name(osdpl)
    current = get_or_none(pykube.Secret, namespace, secret_name)
    stored = decode_secret(current) if current is not None else {}
    passwords = with_missing_generated(stored, names)
    if passwords != stored:
        # Written with the resourceVersion read above: a concurrent writer makes this fail (and retry) instead of
        # one of the two sets of new passwords being lost after services started using it.
        apply_secret(namespace, secret_name, passwords, labels, owner=None, current=current)
    return credentials_from(catalog, passwords)


def ensure_kept_secrets(namespace: str, names: Iterable[str], labels: Mapping[str, str]) -> None:
    """Create, empty, each Secret a chart's Jobs fill with keys that must outlive its release (Keystone's fernet and
    credential keys encrypt data in the database). No owner: like the credentials, they stay when the osdpl goes."""
    for name in names:
        if get_or_none(pykube.Secret, namespace, name) is None:
            apply_secret(namespace, name, {}, labels, owner=None, current=None)
