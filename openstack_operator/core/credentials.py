"""Credentials as the renderer sees them: taken as input, never generated or logged here.

The secrets side owns generation and storage; the renderer only reads a mapping from credential name (as listed
per chart in catalog.yaml) to a Credential.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from openstack_operator.core.catalog import Catalog


@dataclass(frozen=True)
class Credential:
    username: str
    password: str = field(repr=False)  # repr=False: a Credential in a log line or traceback shows no secret


Credentials = Mapping[str, Credential]


def required_credentials(catalog: Catalog, services: Iterable[str]) -> list[str]:
    """The credential names the charts of these services read, sorted."""
    names = {cred for service in services for chart in catalog.services[service].charts for cred in chart.credentials}
    return sorted(names)


def placeholder_credentials(catalog: Catalog, names: Iterable[str]) -> dict[str, Credential]:
    """Stand-ins for offline rendering: show where each credential lands without knowing any."""
    return credentials_from(catalog, {name: f"<{name}>" for name in names})


def with_missing_generated(stored: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """`stored` (credential name -> password) plus a new random password for each missing name.

    Stored passwords are kept exactly: a credential is generated once and never again (a database or a message
    queue still holds the old one), so a lost Secret key would be an outage, not a fresh start.
    """
    result = dict(stored)
    for name in names:
        if name not in result:
            result[name] = secrets.token_urlsafe(24)
    return result


def credentials_from(catalog: Catalog, passwords: Mapping[str, str]) -> dict[str, Credential]:
    """Stored passwords with their user names from the catalog; names the catalog no longer lists are left out
    (kept in the Secret, never rendered)."""
    return {name: Credential(catalog.credentials[name].username, password) for name, password in passwords.items()
            if name in catalog.credentials}
