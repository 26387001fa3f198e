"""A release change is judged against the deployed release on the status: by the API server through the admission
policy installed with the CRDs, and by the osdpl process where that policy is not installed."""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

import pytest

from openstack_operator.core.schema.upgrade_policy import UPGRADE_POLICY
from tests.integration.conftest import REPO, Deployment, Kubectl, Operators, minimal, temporary_namespace, wait_for

BINDING = REPO / "crds" / "openstackdeployments-upgrade-policy-binding.yaml"


@pytest.fixture
def paused(kubectl: Kubectl, crds: None) -> Iterator[Deployment]:
    """An osdpl no operator acts on (draft), whose status says `gazpacho` is deployed."""
    with temporary_namespace(kubectl, "guard") as namespace:
        manifest = minimal("guarded")
        manifest["spec"].update(draft=True, openstack_version="gazpacho")
        deployment = Deployment(kubectl, namespace, manifest)
        deployment.apply()
        _set_deployed(kubectl, deployment, "gazpacho")
        yield deployment


def _set_deployed(kubectl: Kubectl, deployment: Deployment, release: str) -> None:
    _set_status(kubectl, deployment, {"openstack_version": release})


def _set_status(kubectl: Kubectl, deployment: Deployment, status: dict[str, Any]) -> None:
    kubectl.run("-n", deployment.namespace, "patch", "osdpl", deployment.name, "--subresource=status",
                "--type=merge", "-p", json.dumps({"status": status}))


def _set_release(kubectl: Kubectl, deployment: Deployment, release: str) -> Any:
    return kubectl.run("-n", deployment.namespace, "patch", "osdpl", deployment.name, "--type=merge", "-p",
                       json.dumps({"spec": {"openstack_version": release}}), check=False)


def test_the_api_server_refuses_a_release_that_cannot_follow_the_deployed_one(kubectl: Kubectl,
                                                                              paused: Deployment) -> None:
    # The policy takes effect a moment after it is created (the API server compiles it): wait for the refusal.
    deadline = time.monotonic() + 30
    while (refused := _set_release(kubectl, paused, "flamingo")).returncode == 0 and time.monotonic() < deadline:
        _set_release(kubectl, paused, "gazpacho")
        time.sleep(0.5)
    print(refused.stderr.strip())
    assert "spec.openstack_version: flamingo cannot follow the deployed gazpacho; from gazpacho the spec may name " \
           "gazpacho" in refused.stderr and UPGRADE_POLICY in refused.stderr
    assert paused.get()["spec"]["openstack_version"] == "gazpacho"
    _set_deployed(kubectl, paused, "epoxy")
    # from a SLURP release to the next SLURP release, and back to what runs, are both allowed
    assert _set_release(kubectl, paused, "epoxy").returncode == 0
    assert _set_release(kubectl, paused, "gazpacho").returncode == 0
    _set_deployed(kubectl, paused, "flamingo")
    assert _set_release(kubectl, paused, "epoxy").returncode != 0  # back beyond what runs
    # Anything else of a deployment whose spec names a release it cannot have is never blocked (a deletion, too).
    _set_deployed(kubectl, paused, "gazpacho")
    paused.merge_patch({"spec": {"size": "small"}})


def test_the_api_server_refuses_a_release_change_during_a_rotation_or_past_an_unfinished_rollout(
        kubectl: Kubectl, paused: Deployment) -> None:
    _set_status(kubectl, paused, {"openstack_version": "epoxy", "credentials": {"rotations": {
        "database": {"request": "r1", "phase": "RollingOut"}}}})
    deadline = time.monotonic() + 30  # the policy may still be compiling after the test before
    while (refused := _set_release(kubectl, paused, "epoxy")).returncode == 0 and time.monotonic() < deadline:
        _set_release(kubectl, paused, "gazpacho")
        time.sleep(0.5)
    print(refused.stderr.strip())
    assert "spec.openstack_version: a credential rotation is rolling out (database): change the release once it " \
           "is Done" in refused.stderr
    _set_status(kubectl, paused, {"credentials": {"rotations": {"database": {"request": "r1", "phase": "Done"}}},
                                  "upgrade": {"from": "epoxy", "to": "gazpacho", "phase": "Stuck"}})
    refused = _set_release(kubectl, paused, "flamingo")
    print(refused.stderr.strip())
    assert "spec.openstack_version: flamingo: the rollout epoxy -> gazpacho has not finished; the spec may name " \
           "gazpacho to finish it or epoxy to go back" in refused.stderr
    assert _set_release(kubectl, paused, "epoxy").returncode == 0  # going back
    _set_status(kubectl, paused, {"upgrade": {"from": "epoxy", "to": "gazpacho", "phase": "Completed"}})
    assert _set_release(kubectl, paused, "flamingo").returncode == 0  # judged against the deployed epoxy only


def test_without_the_policy_the_operator_holds_the_change_and_says_why(kubectl: Kubectl, operators: Operators,
                                                                       crds: None) -> None:
    kubectl.run("delete", "validatingadmissionpolicybinding", UPGRADE_POLICY)
    try:
        with temporary_namespace(kubectl, "guard") as namespace:
            deployment = Deployment(kubectl, namespace, minimal("guarded"))
            deployment.apply()
            _set_deployed(kubectl, deployment, "gazpacho")
            wait_for("the change of release accepted by the API server", lambda: _set_release(
                kubectl, deployment, "flamingo").returncode == 0, operators, timeout=30)
            ready = wait_for("Ready=False UpgradeRefused", lambda: (c := deployment.condition("Ready")).get(
                "reason") == "UpgradeRefused" and c["message"].startswith("spec.openstack_version: flamingo ") and c,
                operators)  # not epoxy's refusal, whose upgrade path names flamingo too
            print(ready["message"])
            assert ready["message"].startswith("spec.openstack_version: flamingo cannot follow the deployed gazpacho "
                                               "(downgrade)")
            events = kubectl.json("-n", namespace, "get", "events", "--field-selector",
                                  "reason=UpgradeRefused")["items"]
            assert events and events[0]["type"] == "Warning"
            stored = deployment.get()
            # Judged for its generation, so GitOps tools (kstatus, Flux) read it as failed at once, not in progress;
            # the status still names what runs.
            assert stored["status"]["observedGeneration"] == stored["metadata"]["generation"]
            assert {c["type"]: (c["status"], c["reason"]) for c in stored["status"]["conditions"]} == {
                "Ready": ("False", "UpgradeRefused"), "Progressing": ("False", "UpgradeRefused"),
                "Degraded": ("True", "UpgradeRefused"), "Stalled": ("True", "UpgradeRefused")}
            assert stored["status"]["openstack_version"] == "gazpacho"
            wide = kubectl.run("-n", namespace, "get", "osdpl", "-o", "wide").stdout
            print(wide)
            header, row = wide.splitlines()[:2]
            assert row[header.index("REASON"):].split()[0] == "UpgradeRefused"  # the column -o wide adds
    finally:
        kubectl.run("apply", "--server-side", "-f", str(BINDING))
