"""End to end, what one osdpl may cost the processes, and a values Secret deleted by hand.

- An osdpl whose values nest 1200 deep (the API server takes it; Python's JSON decoder, which Kopf uses for its LISTs
  and watch events, stops at its recursion limit of 1000): refused on that osdpl, naming the field, while the other
  deployments keep being served, also by processes started while it exists (their first LIST holds it).
- A values Secret of the shared deployment deleted by hand is written again at once, and nothing else changes.
"""

from __future__ import annotations

import json
import time
from typing import Any

from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.releases.bundles import OSDPL_LABEL, values_secret_name
from openstack_operator.core.schema.limits import MAX_DEPTH
from openstack_operator.kube.decoding import decode_any_depth

from .conftest import Deployment, Helm, Kubectl, Operators, minimal, temporary_namespace, wait_for

DEEP = 1200  # levels of the pathological values: past Python's default recursion limit
# This test process reads and writes such objects too (kubectl's JSON), as the operator's processes do.
decode_any_depth()


def _nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"a": value}
    return value


def _events(kubectl: Kubectl, namespace: str, involved: str, reason: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = kubectl.json("-n", namespace, "get", "events", "--field-selector",
                                                f"involvedObject.name={involved},reason={reason}")["items"]
    return events


def _served(deployment: Deployment, operators: Operators, kubectl: Kubectl) -> None:
    """The osdpl process acts on a change of the shared deployment (a draft: no Helm work), the health process writes
    its part of the status again, and it is Ready again."""
    deployment.merge_patch({"spec": {"draft": True}})
    wait_for("the shared deployment's draft seen", lambda: deployment.condition("Progressing").get("reason") ==
             "Draft", operators)
    deployment.merge_patch({"spec": {"draft": None}})
    kubectl.run("-n", deployment.namespace, "patch", "osdpl", deployment.name, "--subresource=status",
                "--type=merge", "-p", json.dumps({"status": {"health_basis": None}}))
    wait_for("status.health_basis written again", lambda: "health_basis" in (deployment.get().get("status") or {}),
             operators)
    wait_for("the shared deployment Ready again", deployment.ready_at_generation, operators)


def test_the_api_server_takes_objects_about_ten_thousand_deep_and_no_deeper(kubectl: Kubectl, crds: None) -> None:
    """What kube.decoding's recursion limit must cover (the API server's own JSON bound)."""
    with temporary_namespace(kubectl, "deep") as namespace:
        for levels, taken in ((9_990, True), (10_010, False)):
            manifest = minimal(f"d{levels}")
            manifest["metadata"]["namespace"] = namespace
            manifest["spec"]["services"] = {"identity": {"keystone": {"values": "DEEP"}}}
            # The nesting written as text: encoding it needs no recursion, whatever limit this process runs with.
            text = json.dumps(manifest).replace('"DEEP"', '{"a": ' * levels + '"x"' + "}" * levels)
            # --raw: the bytes as they are, no client-side decoding (kubectl's own would refuse first)
            result = kubectl.run("create", "--raw", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/"
                                 "openstackdeployments?dryRun=All", "-f", "-", input=text, check=False)
            print(f"\n{levels} levels: exit {result.returncode} {result.stderr.strip()[:200]}")
            assert (result.returncode == 0) == taken, result.stderr[:500]


def test_an_osdpl_nested_too_deep_is_refused_on_it_and_every_other_keeps_being_served(
        deployment: Deployment, operators: Operators, kubectl: Kubectl) -> None:
    with temporary_namespace(kubectl, "deep") as namespace:
        deep = Deployment(kubectl, namespace, minimal("deep"))
        deep.manifest["spec"]["services"] = {"identity": {"keystone": {"values": _nested(DEEP)}}}
        deep.apply()  # the API server takes it
        try:
            ready = wait_for("the deep osdpl refused", lambda: (c := deep.condition("Ready")).get(
                "reason") == "InvalidSpec" and c, operators)
            print(f"\nReady: {ready['reason']}: {ready['message']}")
            assert ready["message"].startswith("spec.services.identity.keystone.values.a.a.a")
            assert f"nested deeper than {MAX_DEPTH} levels" in ready["message"]
            assert wait_for("an InvalidSpec Event", lambda: _events(kubectl, namespace, "deep", "InvalidSpec"),
                            operators, timeout=30)
            _served(deployment, operators, kubectl)
            # Started while it exists: each process's first LIST of osdpls holds it (this stopped the watch).
            # The node process writes status.nodes again once restarted (it trusts what it wrote last, until then).
            kubectl.run("-n", deployment.namespace, "patch", "osdpl", deployment.name, "--subresource=status",
                        "--type=merge", "-p", json.dumps({"status": {"nodes": None}}))
            operators.kill()
            operators.start()
            _served(deployment, operators, kubectl)
            wait_for("status.nodes written by the restarted node process", lambda: "nodes" in (
                deployment.get().get("status") or {}), operators)
            assert deep.condition("Ready")["reason"] == "InvalidSpec"
            assert not kubectl.json("-n", namespace, "get", "helmbundles")["items"]
            assert "RecursionError" not in operators.log_text(full=True)
        finally:
            kubectl.run("-n", namespace, "delete", "osdpl", "deep", "--timeout=60s")


def _values_secrets(kubectl: Kubectl, deployment: Deployment) -> dict[str, dict[str, Any]]:
    items = kubectl.json("-n", deployment.namespace, "get", "secrets", "-l",
                         f"{OSDPL_LABEL}={deployment.name}")["items"]
    return {s["metadata"]["name"]: s for s in items if s["metadata"]["name"].endswith("-values")}


def test_a_values_secret_deleted_by_hand_comes_back_and_nothing_else_changes(
        deployment: Deployment, operators: Operators, kubectl: Kubectl, helm: Helm) -> None:
    name = values_secret_name(deployment.name, "identity")
    secrets = _values_secrets(kubectl, deployment)
    bundles = {b["metadata"]["name"]: b["metadata"]["generation"]  # their spec (status writes are the helmbundle's)
               for b in kubectl.json("-n", deployment.namespace, "get", "helmbundles")["items"]}
    revisions = helm.revisions(deployment.namespace)
    generation = deployment.get()["metadata"]["generation"]
    kubectl.run("-n", deployment.namespace, "delete", "secret", name)
    back = wait_for(f"{name} written again", lambda: _values_secrets(kubectl, deployment).get(name), operators,
                    timeout=30)
    assert back["metadata"]["uid"] != secrets[name]["metadata"]["uid"]  # a new one
    assert back["data"] == secrets[name]["data"]
    time.sleep(3)  # anything else it would write, it writes now
    after = _values_secrets(kubectl, deployment)
    assert {n: s["metadata"]["resourceVersion"] for n, s in after.items() if n != name} == \
        {n: s["metadata"]["resourceVersion"] for n, s in secrets.items() if n != name}
    assert {b["metadata"]["name"]: b["metadata"]["generation"]
            for b in kubectl.json("-n", deployment.namespace, "get", "helmbundles")["items"]} == bundles
    assert helm.revisions(deployment.namespace) == revisions
    assert deployment.get()["metadata"]["generation"] == generation and deployment.ready_at_generation()
