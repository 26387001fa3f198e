"""Every reason an osdpl's conditions carry and what it means for them: the one table the conditions are computed
from (core.status.conditions), listed in docs/gitops.md (tests/unit/test_gitops_docs.py holds both to each other and
runs the doc's Argo CD and Flux checks on each reason). Pure.

The osdpl's verdict is one reason: the `Ready` condition's (the REASON column of `kubectl get osdpl -o wide`). Its
row gives `Ready`, `Progressing` and `Stalled`, and whether `Degraded` says the same; where it does not, `Degraded`
names a problem found beside the verdict (one of DEGRADED_ONLY, or a verdict reason whose row is degraded) or is
`False` with AsExpected. Each verdict is exactly one of: Ready; Progressing (the operator or the cluster is working
on it); Stalled, and Degraded with it (nothing moves until a person acts: GitOps tools must report a failure, not wait);
or Draft (paused by the user).
"""

from __future__ import annotations

from dataclasses import dataclass

from openstack_operator.core.releases.helmwork import CHART_UNAVAILABLE as CHART_UNAVAILABLE
from openstack_operator.core.upgrades.guard import UPGRADE_REFUSED as UPGRADE_REFUSED
from openstack_operator.core.upgrades.rollout import UPGRADE_STUCK as UPGRADE_STUCK

# The verdicts (Ready's reason)
DEPLOYED = "Deployed"
DEPLOYING = "Deploying"
RECONCILING = "Reconciling"
HEALTH_PENDING = "HealthPending"
WORKLOADS_PROGRESSING = "WorkloadsProgressing"
UPGRADING = "Upgrading"
WAITING_FOR_CREDENTIALS = "WaitingForCredentials"  # raised by reconcilers.osdpl_apply
WAITING_FOR_CEPH_KEYS = "WaitingForCephKeys"  # raised by reconcilers.osdpl_apply
WAITING_FOR_CEPH_WIRING = "WaitingForCephWiring"  # raised by reconcilers.osdpl_apply
WAITING_FOR_REFERENCED_SECRETS = "WaitingForReferencedSecrets"  # raised by reconcilers.osdpl_apply
DELETING = "Deleting"
DRAFT = "Draft"
INVALID_SPEC = "InvalidSpec"
CREDENTIALS_LOST = "CredentialsLost"  # raised by reconcilers.osdpl_apply: lost, or refused (the message says which)
NAMESPACE_IN_USE = "NamespaceInUse"
RELEASE_FAILED = "ReleaseFailed"
WORKLOADS_UNHEALTHY = "WorkloadsUnhealthy"
# A write the API server refused (core.errors.ApiWriteError.reason)
FORBIDDEN, QUOTA_EXCEEDED, ADMISSION_DENIED, REJECTED, API_ERROR = (
    "Forbidden", "QuotaExceeded", "AdmissionDenied", "Rejected", "ApiError")
# Only on Degraded, beside a verdict
CEPH_KEYS_INVALID = "CephKeysInvalid"
CERTIFICATE_INVALID = "CertificateInvalid"
AS_EXPECTED = "AsExpected"  # Degraded and Stalled False


@dataclass(frozen=True)
class Meaning:
    """The conditions a reason sets. For a verdict: `ready`, `progressing` and `stalled` are those conditions'
    statuses, `degraded` whether Degraded is True with it. For a reason found only beside a verdict, only `degraded`
    counts (the others are None)."""
    ready: bool | None
    progressing: bool | None
    degraded: bool
    stalled: bool | None
    means: str  # one line for docs/gitops.md

    @property
    def verdict(self) -> bool:
        return self.ready is not None


def _working(means: str) -> Meaning:
    return Meaning(False, True, False, False, means)


def _stalled(means: str) -> Meaning:
    return Meaning(False, False, True, True, means)


REASONS: dict[str, Meaning] = {
    DEPLOYED: Meaning(True, False, False, False,
                      "every release of every enabled service is deployed at this generation's values and every "
                      "workload of those releases is ready"),
    RECONCILING: _working("the operator has not applied this generation yet"),
    DEPLOYING: _working("releases are being installed or upgraded (the message names the services)"),
    HEALTH_PENDING: _working("the releases are deployed; the health process has not checked their workloads yet"),
    WORKLOADS_PROGRESSING: _working("the releases are deployed; some workloads are still rolling out"),
    UPGRADING: _working("a change of OpenStack release rolls out, service by service"),
    WAITING_FOR_CREDENTIALS: _working("the secrets process has not provided the credentials yet: nothing is written"),
    WAITING_FOR_CEPH_KEYS: _working("the secrets process has not copied the Ceph keys yet: nothing is written"),
    WAITING_FOR_CEPH_WIRING: _working("an rbd backend without `features.ceph` needs `ceph-etc` and "
                                      "`pvc-ceph-client-key`, which do not exist yet: nothing is written"),
    WAITING_FOR_REFERENCED_SECRETS: _working("a Secret key the spec references (`value_from.secret_key_ref`) does "
                                             "not exist yet: nothing is written"),
    DELETING: _working("the osdpl is being deleted: its releases are being uninstalled"),
    DRAFT: Meaning(False, False, False, False, "`spec.draft` is true: changes are paused"),
    INVALID_SPEC: _stalled("the spec cannot be rendered (the message names the first problems): nothing is written"),
    UPGRADE_REFUSED: _stalled("`spec.openstack_version` cannot follow the deployed release (checked where the "
                              "admission policy is not installed): nothing is written"),
    UPGRADE_STUCK: _stalled("a release change stopped at a service that did not become healthy; nothing moves until "
                            "it is fixed or the spec goes back"),
    CREDENTIALS_LOST: _stalled("the credentials Secret lost what the cloud uses, or a Secret of its name was made by "
                               "someone else: no release is changed"),
    NAMESPACE_IN_USE: _stalled("another osdpl holds the namespace: this one changes nothing"),
    FORBIDDEN: _stalled("the API server refused a write: no permission (retried with backoff)"),
    QUOTA_EXCEEDED: _stalled("the API server refused a write: a quota (retried with backoff)"),
    ADMISSION_DENIED: _stalled("an admission webhook or policy refused a write (retried with backoff)"),
    REJECTED: _stalled("the API server rejected an object as invalid (retried with backoff)"),
    # Not a refusal of the change: an API server that is away or overloaded answers again, and the write is retried.
    API_ERROR: _working("the API server failed a write otherwise (a 5xx, a timeout): retried with backoff"),
    CHART_UNAVAILABLE: _stalled("a chart could not be fetched or verified (see charts.md) and nothing else moves; "
                                "retried without limit"),
    RELEASE_FAILED: _stalled("a Helm release failed (Helm's message) and nothing else moves; retried with backoff"),
    WORKLOADS_UNHEALTHY: _stalled("the releases are deployed; a workload is Unhealthy or missing"),
    CEPH_KEYS_INVALID: Meaning(None, None, True, None,
                               "the Ceph keys copied from the storage side are invalid (the copy in use stays)"),
    CERTIFICATE_INVALID: Meaning(None, None, True, None, "the public endpoints' certificate is invalid"),
    AS_EXPECTED: Meaning(None, None, False, None, "nothing is wrong (Degraded and Stalled False)"),
}

API_REFUSALS = (FORBIDDEN, QUOTA_EXCEEDED, ADMISSION_DENIED, REJECTED, API_ERROR)
DEGRADED_ONLY = tuple(reason for reason, meaning in REASONS.items() if not meaning.verdict)


def meaning(reason: str) -> Meaning:
    """What `reason` sets. A reason missing from the table (a bug a unit test catches) counts as a refusal: GitOps
    tools then report a failure rather than wait for ever."""
    return REASONS.get(reason, _stalled(reason))
