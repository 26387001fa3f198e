"""The OpenStackDeployment's status as one section per owning process, and what a process reads of another's.

Four processes write the osdpl's status (core.schema.status lists its keys); each key belongs to exactly one of
them (`SECTIONS`). A process writes only its own section, and only through `section_patch`, which refuses a key of
another's section: the merge patch it returns (`SectionPatch`) is the only thing the gateways' status writes
accept (kube.osdpl_status.patch_section), each for its own process. A process reads another's section only through
the typed, frozen views below, so the key names of a section are written in one place: here. Pure.

- osdpl: conditions, observedGeneration, children, lcm_progress, applied_credentials, upgrade, openstack_version;
  read by health (ChildrenView), secrets (RolloutView, AppliedView) and node (RolloutView);
- health: health, health_progress, health_basis; read by osdpl (HealthView);
- secrets: credentials, ceph, object_gateway, certificate; read by osdpl (CredentialsView, CephView,
  CertificateView);
- node: nodes; read by the user only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping

from openstack_operator.core.health.workloads import release_basis, releases_of
from openstack_operator.core.status.merge import status_patch
from openstack_operator.core.upgrades.rollout import active

Owner = Literal["osdpl", "health", "secrets", "node"]
OSDPL: Owner = "osdpl"
HEALTH: Owner = "health"
SECRETS: Owner = "secrets"
NODE: Owner = "node"

# Each process's section of the osdpl status: the keys it alone writes.
SECTIONS: Mapping[Owner, frozenset[str]] = {
    OSDPL: frozenset({"conditions", "observedGeneration", "children", "lcm_progress", "applied_credentials",
                      "upgrade", "openstack_version"}),
    HEALTH: frozenset({"health", "health_progress", "health_basis"}),
    SECRETS: frozenset({"credentials", "ceph", "object_gateway", "certificate"}),
    NODE: frozenset({"nodes"}),
}
OWNERS: Mapping[str, Owner] = {key: owner for owner, keys in SECTIONS.items() for key in keys}


class NotOwner(Exception):
    """A write of a status key outside the writer's section: a bug in the operator, never a user's error."""

    def __init__(self, writer: Owner, keys: list[str]) -> None:
        named = ", ".join(f"status.{key} (the {OWNERS[key]} process's)" if key in OWNERS
                          else f"status.{key} (no process's: not in the status schema)" for key in keys)
        super().__init__(f"the {writer} process writes only its section of the osdpl status "
                         f"({', '.join(sorted(SECTIONS[writer]))}), not {named}")
        self.writer, self.keys = writer, keys


def _check(owner: Owner, keys: Iterable[str]) -> None:
    foreign = sorted(key for key in keys if OWNERS.get(key) != owner)
    if foreign:
        raise NotOwner(owner, foreign)


@dataclass(frozen=True)
class SectionPatch:
    """A JSON merge patch of the osdpl status that touches only `owner`'s section (checked when it is made)."""
    owner: Owner
    patch: Mapping[str, Any]

    def __post_init__(self) -> None:
        _check(self.owner, self.patch)

    def __bool__(self) -> bool:
        """False when there is nothing to write."""
        return bool(self.patch)

    def __contains__(self, key: object) -> bool:
        return key in self.patch

    def sent_by(self, writer: Owner) -> dict[str, Any]:
        """The merge patch to send, for the process `writer`; raises NotOwner if it is another's section."""
        if writer != self.owner:
            raise NotOwner(writer, sorted(self.patch or SECTIONS[self.owner]))
        return dict(self.patch)


def section_patch(owner: Owner, previous: Mapping[str, Any], fields: Mapping[str, Any]) -> SectionPatch:
    """The merge patch turning the keys of `fields` in `previous` (the status as stored, or the part of it the
    caller compares with) into `fields` (core.status.merge); raises NotOwner, naming the key and its owner, if
    `fields` holds a key outside `owner`'s section."""
    _check(owner, fields)
    return SectionPatch(owner, status_patch(previous, fields))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# -- the health process's section, as the osdpl process reads it (Ready, Degraded, the rollout's gates) -----------
@dataclass(frozen=True)
class HealthView:
    health: Mapping[str, Mapping[str, Mapping[str, str]]]  # application -> component -> state, reason
    progress: str  # ready components, as n/m
    basis: str | None  # the digest of the release revisions the health was checked against; None: never checked

    @classmethod
    def of(cls, status: Mapping[str, Any]) -> HealthView:
        return cls(_mapping(status.get("health")), str(status.get("health_progress") or ""),
                   status.get("health_basis"))

    def checked(self, children: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> bool:
        """Whether the health describes the workloads of the releases `children` shows (status.children): until the
        health process checked them, it may describe workloads of values that were replaced since."""
        return self.basis == release_basis(children)


# -- the secrets process's section, as the osdpl process reads it (what it may render; Ready, Degraded) -----------
@dataclass(frozen=True)
class CredentialsView:
    state: str  # Ready, Lost; empty before the secrets process's first report
    revision: int  # grows with every change of the credentials; 0 before the first report
    digests: Mapping[str, str]  # per credential: the digest the osdpl process renders only if it matches
    message: str

    @classmethod
    def of(cls, status: Mapping[str, Any]) -> CredentialsView:
        report = _mapping(status.get("credentials"))
        return cls(str(report.get("state") or ""), int(report.get("revision") or 0), _mapping(report.get("digests")),
                   str(report.get("message") or ""))

    @property
    def lost(self) -> bool:
        """Nothing may be deployed: the Secret lost what the cloud uses, or was refused (someone else made it, or
        another osdpl holds the namespace); the message says which."""
        return self.state in ("Lost", "Refused")


@dataclass(frozen=True)
class CephView:
    state: str  # Ready, Waiting, Invalid; empty: no Ceph keys copied
    digest: str  # of everything rendered from the keys: a change re-renders their users
    message: str

    @classmethod
    def of(cls, status: Mapping[str, Any]) -> CephView:
        report = _mapping(status.get("ceph"))
        return cls(str(report.get("state") or ""), str(report.get("digest") or ""), str(report.get("message") or ""))


@dataclass(frozen=True)
class CertificateView:
    state: str  # Ready, Expiring, Invalid; empty: not checked
    message: str

    @classmethod
    def of(cls, status: Mapping[str, Any]) -> CertificateView:
        report = _mapping(status.get("certificate"))
        return cls(str(report.get("state") or ""), str(report.get("message") or ""))


# -- the osdpl process's section, as the others read it ---------------------------------------------------------
@dataclass(frozen=True)
class ChildrenView:
    """The releases of the osdpl (status.children), as the health process reads them: which workloads belong to
    the osdpl, and which a deployed release must have."""
    services: Mapping[str, Mapping[str, Mapping[str, Any]]]  # service -> release -> state, revision, workloads...

    @classmethod
    def of(cls, status: Mapping[str, Any]) -> ChildrenView:
        return cls(_mapping(status.get("children")))

    def releases(self) -> set[str]:
        return releases_of(self.services)

    def basis(self) -> str:
        """The digest of the deployed releases' revisions (core.health.workloads.release_basis)."""
        return release_basis(self.services)


@dataclass(frozen=True)
class RolloutView:
    """The release the osdpl runs and the change of release rolling out, as the secrets process (a rotation waits
    for a rollout) and the node process (the node Jobs' client image) read them."""
    openstack_version: str  # the release the deployed services run; empty before any was deployed
    upgrade: Mapping[str, Any] | None  # the last change of release (core.upgrades.rollout), None: never one

    @classmethod
    def of(cls, status: Mapping[str, Any]) -> RolloutView:
        upgrade = status.get("upgrade")
        return cls(str(status.get("openstack_version") or ""), upgrade if isinstance(upgrade, Mapping) else None)

    @property
    def active(self) -> bool:
        """A rollout runs (or is stuck): not every service moved yet."""
        return active(self.upgrade)


@dataclass(frozen=True)
class AppliedView:
    """What the releases were rendered from and whether they are Ready, as the secrets process reads it (a rotation
    ends once every release runs the new credentials): the osdpl process writes both together."""
    applied_credentials: int  # the credentials revision the releases were rendered from; 0: none yet
    ready: bool  # the Ready condition is True
    ready_generation: int | None  # the generation the Ready condition was computed for

    @classmethod
    def of(cls, status: Mapping[str, Any]) -> AppliedView:
        ready: Mapping[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        return cls(int(status.get("applied_credentials") or 0), ready.get("status") == "True",
                   ready.get("observedGeneration"))
