"""The CRDs on a real API server: install, examples apply, the schema and CEL rules reject what the offline
validator rejects (naming the same field), upgrade rules apply on update, printer columns and status work."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from ..osdpl_cases import INVALID, UPDATES, VALID, Edit, load_example, stored_value, update_pair
from .conftest import Kubectl

pytestmark = pytest.mark.usefixtures("crds")


def _in(namespace: str, doc: dict[str, Any]) -> str:
    doc = copy.deepcopy(doc)
    doc["metadata"]["namespace"] = namespace
    return json.dumps(doc)


@pytest.mark.parametrize("example", ["minimal", "full"])
def test_examples_apply(kubectl: Kubectl, namespace: str, example: str) -> None:
    kubectl.run("apply", "-f", "-", input=_in(namespace, load_example(example)))
    stored = kubectl.json("-n", namespace, "get", "osdpl", load_example(example)["metadata"]["name"])
    # Defaults from the schema are filled in by the API server, as the renderer fills them offline.
    assert stored["spec"]["features"]["nova"]["allocation_ratios"]["ram"] == 1.0
    assert stored["spec"]["draft"] is False


@pytest.mark.parametrize(("edit", "message"), [pytest.param(e, m, id=i) for i, e, m in INVALID])
def test_invalid_manifests_rejected_by_the_api_server(kubectl: Kubectl, namespace: str, edit: Edit,
                                                      message: str) -> None:
    doc = load_example("minimal")
    edit(doc)
    result = kubectl.run("apply", "-f", "-", input=_in(namespace, doc), check=False)
    assert result.returncode != 0
    field = message.split(":", 1)[0]
    if field in ("kind",):
        assert "no matches for kind" in result.stderr or "Deployment" in result.stderr
        return
    if message.endswith("unknown field"):  # kubectl's strict decoding words it so
        assert f'unknown field "{message.removesuffix(": unknown field")}"' in result.stderr, result.stderr
        return
    assert message in _errors(result.stderr), result.stderr  # the offline message, whole


def _errors(stderr: str) -> list[str]:
    """The API server's error messages in kubectl's output: `... is invalid: <one>`, or one `* <message>` a line."""
    return [line.removeprefix("* ").split(" is invalid: ", 1)[-1] for line in stderr.splitlines()]


@pytest.mark.parametrize(("edit", "stored"), [pytest.param(e, s, id=i) for i, e, s in VALID])
def test_valid_manifests_accepted_and_stored_as_offline(kubectl: Kubectl, namespace: str, edit: Edit,
                                                        stored: dict[str, Any]) -> None:
    doc = load_example("minimal")
    edit(doc)
    kubectl.run("create", "-f", "-", input=_in(namespace, doc))
    got = kubectl.json("-n", namespace, "get", "osdpl", doc["metadata"]["name"])
    assert {path: stored_value(got, path) for path in stored} == stored


@pytest.mark.parametrize(("old_changes", "new_changes", "messages"),
                         [pytest.param(o, n, m, id=i) for i, o, n, m in UPDATES])
def test_transition_rules_on_update(kubectl: Kubectl, namespace: str, old_changes: dict[str, Any],
                                    new_changes: dict[str, Any], messages: list[str]) -> None:
    old, new = update_pair(old_changes, new_changes)
    kubectl.run("apply", "-f", "-", input=_in(namespace, old))
    result = kubectl.run("apply", "-f", "-", input=_in(namespace, new), check=False)
    if not messages:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode != 0
    for message in messages:
        field, text = message.split(": Invalid value: ", 1)
        assert field in result.stderr and text in result.stderr, result.stderr


def test_printer_columns_and_status_subresource(kubectl: Kubectl, namespace: str) -> None:
    doc = load_example("minimal")
    kubectl.run("apply", "-f", "-", input=_in(namespace, doc))
    status = {"status": {"openstack_version": "epoxy", "lcm_progress": "9/9", "health_progress": "12/12",
                         "upgrade": {"from": "dalmatian", "to": "epoxy", "phase": "Completed"},
                         "conditions": [{"type": "Ready", "status": "True", "reason": "Deployed", "message": "",
                                         "lastTransitionTime": "2026-11-22T00:00:00Z"}]}}
    kubectl.run("-n", namespace, "patch", "osdpl", "osh-dev", "--subresource=status", "--type=merge",
                "-p", json.dumps(status))
    # A status patch through the main resource is ignored: status is a subresource.
    kubectl.run("-n", namespace, "patch", "osdpl", "osh-dev", "--type=merge",
                "-p", json.dumps({"status": {"lcm_progress": "main-resource"}}))
    # The columns show the status as stored. Operators running in the same session (the tests run in any order)
    # may write it meanwhile: compare the table with the object read right after it, until both agree.
    for _ in range(20):
        table = kubectl.run("-n", namespace, "get", "osdpl").stdout.splitlines()
        stored = kubectl.json("-n", namespace, "get", "osdpl", "osh-dev")["status"]
        ready = next((c["status"] for c in stored.get("conditions", []) if c["type"] == "Ready"), "")
        expected = [value for value in ["osh-dev", stored.get("openstack_version", ""), ready,
                                        stored.get("lcm_progress", ""), stored.get("health_progress", ""),
                                        (stored.get("upgrade") or {}).get("phase", "")] if value]
        if table[1].split()[:len(expected)] == expected:
            break
        time.sleep(0.5)
    assert table[0].split() == ["NAME", "OPENSTACK", "READY", "LCM", "PROGRESS", "HEALTH", "UPGRADE", "AGE"]
    assert table[1].split()[:len(expected)] == expected
    assert stored.get("lcm_progress") != "main-resource"


def test_kubectl_explain_describes_typed_fields(kubectl: Kubectl) -> None:
    text = kubectl.run("explain", "osdpl.spec.features.neutron").stdout
    assert "tunnel_interface" in text and "external_networks" in text


def test_helmbundle_requires_values_from(kubectl: Kubectl, namespace: str) -> None:
    release: dict[str, Any] = {"name": "openstack-keystone", "chart": "keystone", "namespace": namespace}
    bundle = {"apiVersion": "openstack.osop.dev/v1alpha1", "kind": "HelmBundle",
              "metadata": {"name": "identity", "namespace": namespace},
              "spec": {"service": "identity",
                       "releases": [release]}}
    result = kubectl.run("apply", "-f", "-", input=json.dumps(bundle), check=False)
    assert result.returncode != 0 and "spec.releases[0].values_from: Required value" in result.stderr
    release["values_from"] = {"secret_name": "identity-values", "key": "openstack-keystone"}
    kubectl.run("apply", "-f", "-", input=json.dumps(bundle))
    table = kubectl.run("-n", namespace, "get", "hb").stdout.splitlines()
    assert table[0].split() == ["NAME", "SERVICE", "REFUSED", "AGE"] and table[1].split()[:2] == ["identity"] * 2
