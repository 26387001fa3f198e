"""The HelmBundle, typed: what the osdpl process asks of the helmbundle process for one service (`BundleSpec`, a
`BundleRelease` per Helm release) and what the helmbundle process reports back per release (`ReleaseStatus`).

Only kube/ turns API objects into these (`from_api`) and these back into API objects (`to_api`, and
`ReleaseStatus.to_patch` for the status writes); the reconcilers and the core read and build the models. `to_api`
gives the shape the operator always wrote: the same keys, in the same order, optional keys left out when unset, so
a bundle read and written back is the bundle that was read. `from_api` takes what the API server serves; a key the
schema does not require may be missing (a bundle written by hand) and reads as its default.

Unset is None for the optional fields of a release status (the API server stores no nulls: a merge patch with null
removes the key) and the empty string for the optional strings of a spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from openstack_operator.core.apigroup import API_VERSION

BUNDLE_KIND = "HelmBundle"
DEFAULT_TIMEOUT_SECONDS = 600  # a release that names no timeout of its own


@dataclass(frozen=True)
class ValuesRef:
    """The Secret key holding a release's values (they hold credentials: never on the bundle itself)."""
    secret_name: str
    key: str

    def to_api(self) -> dict[str, Any]:
        return {"secret_name": self.secret_name, "key": self.key}

    @classmethod
    def from_api(cls, body: Mapping[str, Any] | None) -> ValuesRef:
        body = body or {}
        return cls(secret_name=str(body.get("secret_name", "")), key=str(body.get("key", "")))


@dataclass(frozen=True, kw_only=True)
class BundleRelease:
    """One Helm release of a bundle's spec."""
    name: str
    chart: str
    version: str = ""
    namespace: str
    values_from: ValuesRef
    fingerprint: str = ""  # of chart, version, digest, namespace and values: changes exactly when they do
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    digest: str = ""  # "sha256:<hex>" of the chart archive to install; empty: unset
    repository: str = ""  # the chart repository; empty: the helmbundle process's own chart source

    def to_api(self) -> dict[str, Any]:
        api: dict[str, Any] = {"name": self.name, "chart": self.chart, "version": self.version,
                               "namespace": self.namespace, "values_from": self.values_from.to_api(),
                               "fingerprint": self.fingerprint, "timeout_seconds": self.timeout_seconds}
        if self.digest:
            api["digest"] = self.digest
        if self.repository:
            api["repository"] = self.repository
        return api

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> BundleRelease:
        return cls(name=str(body.get("name", "")), chart=str(body.get("chart", "")),
                   version=str(body.get("version", "")), namespace=str(body.get("namespace", "")),
                   values_from=ValuesRef.from_api(body.get("values_from")),
                   fingerprint=str(body.get("fingerprint", "")),
                   timeout_seconds=int(body.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
                   digest=str(body.get("digest") or ""), repository=str(body.get("repository") or ""))


@dataclass(frozen=True, kw_only=True)
class BundleSpec:
    """What the osdpl process asks for one service: its releases, in install order, after the bundles of
    `depends_on`; `uninstall` once the service is disabled. `retry` and `reapply` carry the user's requests
    (core.releases.helmwork); empty: none."""
    service: str
    depends_on: tuple[str, ...] = ()
    uninstall: bool = False
    releases: tuple[BundleRelease, ...] = ()
    retry: str = ""
    reapply: str = ""

    def without_requests(self) -> BundleSpec:
        """What the spec asks Helm for, without the user's one-off requests (`retry`, `reapply`)."""
        return replace(self, retry="", reapply="")

    def to_api(self) -> dict[str, Any]:
        api: dict[str, Any] = {"service": self.service, "depends_on": list(self.depends_on),
                               "uninstall": self.uninstall, "releases": [r.to_api() for r in self.releases]}
        if self.retry:
            api["retry"] = self.retry
        if self.reapply:
            api["reapply"] = self.reapply
        return api

    @classmethod
    def from_api(cls, body: Mapping[str, Any] | None) -> BundleSpec:
        body = body or {}
        return cls(service=str(body.get("service", "")),
                   depends_on=tuple(str(d) for d in body.get("depends_on") or ()),
                   uninstall=bool(body.get("uninstall")),
                   releases=tuple(BundleRelease.from_api(r) for r in body.get("releases") or ()),
                   retry=str(body.get("retry") or ""), reapply=str(body.get("reapply") or ""))


# The keys of a release status, in the order the records have always been written.
_STATUS_KEYS = ("state", "reason", "fingerprint", "target", "revision", "chart_version", "attempts",
                "last_attempt_at", "next_attempt_at", "last_error", "retry", "reapply", "applied_reapply", "workloads",
                "summary")
# What each kind of record writes over the stored one (see ReleaseStatus.to_patch); keys it leaves out stay.
_ATTEMPT_KEYS = ("state", "target", "last_attempt_at")
_FAILURE_KEYS = ("state", "reason", "target", "attempts", "last_attempt_at", "next_attempt_at", "last_error", "retry",
                 "reapply")
_PATCH_KEYS = {
    "installing": _ATTEMPT_KEYS,
    "uninstalling": _ATTEMPT_KEYS,
    "failed": _FAILURE_KEYS,
    "deployed": _STATUS_KEYS,
    "uninstalled": tuple(key for key in _STATUS_KEYS if key != "chart_version"),
}


# Every field a release's report may hold (core.releases.summaries writes them; its tests check the list).
SUMMARY_FIELDS = ("result", "job", "message", "passed", "failed", "skipped", "seconds", "failed_tests", "network_id",
                  "amphora_secgroup_id", "flavor_id", "health_managers")


@dataclass(frozen=True, kw_only=True)
class ReleaseStatus:
    """One release on a bundle's status (`status.releases.<name>`), as the helmbundle process records it
    (core.releases.helmwork builds each kind of record). None: not recorded."""
    state: str | None = None  # installing, deployed, failed, uninstalling, uninstalled
    reason: str | None = None  # of a failure: core.releases.helmwork.CHART_UNAVAILABLE, else unset
    fingerprint: str | None = None  # deployed at
    target: str | None = None  # what the last attempt went for: a fingerprint, or helmwork.UNINSTALL_TARGET
    revision: int | None = None  # Helm's
    chart_version: str | None = None
    attempts: int | None = None  # failures in a row at `target`
    last_attempt_at: float | None = None  # epoch seconds
    next_attempt_at: float | None = None  # of a failure: when it is retried
    last_error: str | None = None
    retry: str | None = None  # the bundle's `retry` a failure was recorded under
    reapply: str | None = None  # the bundle's `reapply` a failure was recorded under
    applied_reapply: str | None = None  # the bundle's `reapply` the deployed release was applied under
    workloads: tuple[str, ...] | None = None  # long-running workloads of the deployed manifest (WorkloadRef strings)
    summary: Mapping[str, Any] | None = None  # what the deployed release's test run reported (core.releases.summaries)

    def _api_value(self, key: str) -> Any:
        value = getattr(self, key)
        return list(value) if isinstance(value, tuple) else value

    def _patch_value(self, key: str) -> Any:
        value = self._api_value(key)
        if key == "summary" and value is not None:
            # A merge patch merges maps: every field another summary may have left is removed explicitly.
            return {**{field_name: None for field_name in SUMMARY_FIELDS}, **value}
        return value

    def to_api(self) -> dict[str, Any]:
        """The record as stored: the keys that are set."""
        return {key: self._api_value(key) for key in _STATUS_KEYS if getattr(self, key) is not None}

    def to_patch(self) -> dict[str, Any]:
        """The merge patch that writes this record over the stored one: the keys its kind sets, null where unset
        (null removes a key). An attempt under way (installing, uninstalling) sets its state, target and start
        only: the attempts and error so far stay. A failure leaves what the last success recorded (fingerprint,
        revision, chart version, workloads). A success sets every key, an uninstall every key but the chart
        version."""
        keys = _PATCH_KEYS.get(self.state or "", _STATUS_KEYS)
        return {key: self._patch_value(key) for key in keys}

    @classmethod
    def from_api(cls, body: Mapping[str, Any] | None) -> ReleaseStatus:
        body = body or {}
        workloads = body.get("workloads")
        return cls(state=_text(body.get("state")), reason=_text(body.get("reason")),
                   fingerprint=_text(body.get("fingerprint")), target=_text(body.get("target")),
                   revision=_integer(body.get("revision")), chart_version=_text(body.get("chart_version")),
                   attempts=_integer(body.get("attempts")), last_attempt_at=_number(body.get("last_attempt_at")),
                   next_attempt_at=_number(body.get("next_attempt_at")), last_error=_text(body.get("last_error")),
                   retry=_text(body.get("retry")), reapply=_text(body.get("reapply")),
                   applied_reapply=_text(body.get("applied_reapply")),
                   workloads=tuple(str(w) for w in workloads) if workloads is not None else None,
                   summary=dict(body["summary"]) if isinstance(body.get("summary"), Mapping) else None)


NOT_RECORDED = ReleaseStatus()


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _integer(value: Any) -> int | None:
    return int(value) if value is not None else None


def _number(value: Any) -> float | None:
    """A JSON number as served (an integral one stays an int: written back, it is the same JSON)."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    return float(value)


@dataclass(frozen=True, kw_only=True)
class OwnerRef:
    """An owner reference of a bundle (the osdpl's, unless it was deleted with orphan propagation)."""
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None

    def to_api(self) -> dict[str, Any]:
        api: dict[str, Any] = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "uid": self.uid}
        if self.controller is not None:
            api["controller"] = self.controller
        if self.block_owner_deletion is not None:
            api["blockOwnerDeletion"] = self.block_owner_deletion
        return api

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> OwnerRef:
        controller, block = body.get("controller"), body.get("blockOwnerDeletion")
        return cls(api_version=str(body.get("apiVersion", "")), kind=str(body.get("kind", "")),
                   name=str(body.get("name", "")), uid=str(body.get("uid", "")),
                   controller=bool(controller) if controller is not None else None,
                   block_owner_deletion=bool(block) if block is not None else None)


@dataclass(frozen=True, kw_only=True)
class BundleOwner:
    """The osdpl a bundle's label names, as the helmbundle process's trust check reads it
    (core.releases.bundles.trust_problem): who it is now (its uid: a bundle of an earlier osdpl of the same name
    has another), what it overrides of the catalog's charts (spec.artifacts.charts_url, the one override) and
    whether it is being deleted, and which osdpl the namespace's claim names (one deployment per namespace)."""
    name: str
    uid: str
    charts_url: str = ""  # empty: releases name no repository (the helmbundle process's chart source)
    deleting: bool = False
    claimed_by: str | None = None  # the namespace claim's holder; None: no claim (yet)

    @classmethod
    def from_api(cls, body: Mapping[str, Any], claimed_by: str | None = None) -> BundleOwner:
        metadata = body.get("metadata") or {}
        artifacts = (body.get("spec") or {}).get("artifacts") or {}
        return cls(name=str(metadata.get("name", "")), uid=str(metadata.get("uid", "")),
                   charts_url=str(artifacts.get("charts_url") or ""),
                   deleting=bool(metadata.get("deletionTimestamp")), claimed_by=claimed_by)


@dataclass(frozen=True, kw_only=True)
class Bundle:
    """A HelmBundle as stored: the metadata the processes act on, its spec, and its status (`releases`: release
    name -> its status; `conditions`: the helmbundle process's `Refused`)."""
    name: str
    namespace: str
    spec: BundleSpec
    uid: str = ""
    generation: int = 0
    resource_version: str = ""  # a write from this view fails with a conflict if the bundle changed since
    labels: Mapping[str, str] = field(default_factory=dict)
    finalizers: tuple[str, ...] = ()
    owner_references: tuple[OwnerRef, ...] = ()
    deletion_timestamp: str = ""  # set: its deletion was requested
    releases: Mapping[str, ReleaseStatus] = field(default_factory=dict)
    conditions: tuple[Mapping[str, Any], ...] = ()
    observed_generation: int | None = None

    @property
    def deleting(self) -> bool:
        return bool(self.deletion_timestamp)

    def release_status(self, name: str) -> ReleaseStatus:
        """What the status records of release `name` (NOT_RECORDED: nothing yet)."""
        return self.releases.get(name, NOT_RECORDED)

    def to_api(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        for key, value in (("uid", self.uid), ("generation", self.generation),
                           ("resourceVersion", self.resource_version), ("labels", dict(self.labels)),
                           ("ownerReferences", [ref.to_api() for ref in self.owner_references]),
                           ("finalizers", list(self.finalizers)), ("deletionTimestamp", self.deletion_timestamp)):
            if value:
                metadata[key] = value
        body: dict[str, Any] = {"apiVersion": API_VERSION, "kind": BUNDLE_KIND, "metadata": metadata,
                                "spec": self.spec.to_api()}
        status: dict[str, Any] = {}
        if self.observed_generation is not None:
            status["observedGeneration"] = self.observed_generation
        if self.conditions:
            status["conditions"] = [dict(c) for c in self.conditions]
        if self.releases:
            status["releases"] = {name: release.to_api() for name, release in self.releases.items()}
        if status:
            body["status"] = status
        return body

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Bundle:
        metadata = body.get("metadata") or {}
        status = body.get("status") or {}
        observed = status.get("observedGeneration")
        return cls(name=str(metadata.get("name", "")), namespace=str(metadata.get("namespace", "")),
                   spec=BundleSpec.from_api(body.get("spec")), uid=str(metadata.get("uid", "")),
                   generation=int(metadata.get("generation") or 0),
                   resource_version=str(metadata.get("resourceVersion", "")),
                   labels={str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
                   finalizers=tuple(str(f) for f in metadata.get("finalizers") or ()),
                   owner_references=tuple(OwnerRef.from_api(ref) for ref in metadata.get("ownerReferences") or ()),
                   deletion_timestamp=str(metadata.get("deletionTimestamp") or ""),
                   releases={str(name): ReleaseStatus.from_api(release)
                             for name, release in (status.get("releases") or {}).items()},
                   conditions=tuple(dict(c) for c in status.get("conditions") or ()),
                   observed_generation=int(observed) if observed is not None else None)
