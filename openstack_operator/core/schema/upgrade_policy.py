"""The ValidatingAdmissionPolicy (and its binding) that guards spec.openstack_version with the stored status in
view: the release may follow only the deployed one along the upgrade path (core.upgrades.guard), a running rollout
may be steered only to one of its two ends, and no release change may start while a credential rotation rolls out.
`UPGRADE_POLICY` is its name.
"""

from __future__ import annotations

from typing import Any

from openstack_operator.core.apigroup import GROUP
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.upgrades.guard import allowed_targets, upgrade_path
from openstack_operator.core.upgrades.rollout import COMPLETED

UPGRADE_POLICY = "openstackdeployments-upgrades.openstack.osop.dev"


def _targets_map(catalog: Catalog) -> str:
    """A CEL map: release -> the releases a spec may name while it is deployed (core.upgrades.guard)."""
    entries = {name: allowed_targets(catalog, name) for name in catalog.releases}
    return "{" + ", ".join(f"'{k}': [{', '.join(repr(v) for v in vs)}]" for k, vs in entries.items()) + "}"


def upgrade_policy(catalog: Catalog) -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy (and its binding): spec.openstack_version may name only what may follow the
    release on the status, the deployed one; while a rollout of a release change runs, only its two ends; while a
    credential rotation rolls out, no other release (the rotation would finish only after the whole rollout). A CRD
    rule sees the spec alone; an admission policy sees the stored object, status included. Where the policy is not
    installed the osdpl process holds what the first two refuse (core.upgrades.guard); a release change during a rotation
    it lets through: holding it would keep Ready false, and the rotation, which finishes at Ready, would wait
    forever."""
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": UPGRADE_POLICY},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [GROUP], "apiVersions": ["*"], "operations": ["UPDATE"],
                "resources": ["openstackdeployments"]}]},
            "variables": [{"name": "targets", "expression": _targets_map(catalog)}],
            "validations": _validations(catalog),
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": UPGRADE_POLICY},
        "spec": {"policyName": UPGRADE_POLICY, "validationActions": ["Deny"]},
    }
    return [policy, binding]


def _validations(catalog: Catalog) -> list[dict[str, str]]:
    """The policy's three rules, in the order of upgrade_policy's docstring."""
    deployed = "oldObject.status.openstack_version"
    target = "object.spec.openstack_version"
    unchanged = f"{target} == oldObject.spec.openstack_version"
    rollout = "oldObject.status.upgrade"  # core.upgrades.rollout: while one runs, only its two ends may be named
    rotations = "oldObject.status.credentials.rotations"
    rotating = f"has({rotations}[g].phase) && {rotations}[g].phase == 'RollingOut'"
    return [{
        # Only a change of the release is judged: a finalizer's removal, a deletion or any other change
        # of a deployment whose spec already names a release it cannot have is never blocked.
        "expression": f"{unchanged} || !has(oldObject.status) || "
                      f"!has({deployed}) || {target} == {deployed} || !({deployed} in variables.targets) "
                      f"|| {target} in variables.targets[{deployed}]",
        "messageExpression": f"'spec.openstack_version: ' + {target} + ' cannot follow the deployed ' + "
                             f"{deployed} + '; from ' + {deployed} + ' the spec may name ' + "
                             f"variables.targets[{deployed}].join(', ') + ' (upgrade path: "
                             f"{upgrade_path(catalog)})'",
        "reason": "Invalid",
    }, {
        "expression": f"{unchanged} || !has(oldObject.status) || !has({rollout}) || "
                      f"{rollout}.phase == '{COMPLETED}' || {target} == {rollout}.to || "
                      f"{target} == {rollout}.from",
        "messageExpression": f"'spec.openstack_version: ' + {target} + ': the rollout ' + {rollout}.from + "
                             f"' -> ' + {rollout}.to + ' has not finished; the spec may name ' + "
                             f"{rollout}.to + ' to finish it or ' + {rollout}.from + ' to go back'",
        "reason": "Invalid",
    }, {
        "expression": f"{unchanged} || !has(oldObject.status) || !has(oldObject.status.credentials) || "
                      f"!has({rotations}) || !{rotations}.exists(g, {rotating})",
        "messageExpression": f"'spec.openstack_version: a credential rotation is rolling out (' + "
                             f"{rotations}.filter(g, {rotating}).join(', ') + '): change the release once "
                             f"it is Done (status.credentials.rotations)'",
        "reason": "Invalid",
    }]
