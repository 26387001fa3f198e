"""The operator deploys the database, messaging, memcached and identity for real, and Keystone answers: a client pod
gets a token with the admin credentials the operator generated and lists the catalog the operator rendered; a
rotation of the admin's credentials keeps the token flow working.

deploy/examples/real-node.yaml pins the four charts' pods to the real node through their `labels` values (what an
operator of a real cloud does to place a service); the core preset's other services (image, placement, networking,
dashboard) stay on the kwok nodes."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import yaml

from .conftest import OPERATOR_NAMESPACE, WATCHED, RealCluster, wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "real-node.yaml"
NAME = "osh-real"
CLIENT = "quay.io/airshipit/openstack-client:2026.1-ubuntu_noble"


def _osdpl(real: RealCluster) -> dict[str, Any]:
    found: dict[str, Any] = real.kubectl.json("-n", WATCHED, "get", "osdpl", NAME)
    return found


def _describe(real: RealCluster) -> str:
    """What a timeout leaves to read: the osdpl, its pods and events, and the operator's own pods and logs."""
    return "\n".join([real.kubectl.run("-n", WATCHED, "get", "osdpl,pods", "-o", "wide", check=False).stdout,
                      real.kubectl.run("-n", WATCHED, "get", "events", "--sort-by=.lastTimestamp",
                                       check=False).stdout[-4000:],
                      real.kubectl.run("-n", OPERATOR_NAMESPACE, "get", "pods", "-o", "wide", check=False).stdout,
                      real.kubectl.run("-n", OPERATOR_NAMESPACE, "logs", "--prefix", "--tail=30",
                                       "--max-log-requests=10", "-l", "app.kubernetes.io/instance=openstack-operator",
                                       check=False).stdout[-6000:]])


def _client(real: RealCluster, name: str, command: str) -> str:
    """A pod of the OpenStack client image with the admin's `OS_*` variables from the chart's Secret."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"nodeSelector": {"type": "real"}, "restartPolicy": "Never",
                    "containers": [{"name": "client", "image": CLIENT, "imagePullPolicy": "IfNotPresent",
                                    "command": ["/bin/sh", "-ec", command],
                                    "envFrom": [{"secretRef": {"name": "keystone-keystone-admin"}}]}]}}
    real.kubectl.run("-n", WATCHED, "apply", "-f", "-", input=yaml.safe_dump(pod))
    phase = wait_until(f"the client pod {name} done", lambda: real.kubectl.run(
        "-n", WATCHED, "get", "pod", name, "-o", "jsonpath={.status.phase}").stdout in ("Succeeded", "Failed") and
        real.kubectl.run("-n", WATCHED, "get", "pod", name, "-o", "jsonpath={.status.phase}").stdout,
        timeout=180)
    output = real.kubectl.run("-n", WATCHED, "logs", name).stdout
    assert phase == "Succeeded", output
    return output


def test_keystone_on_the_real_node_issues_tokens_and_lists_the_rendered_catalog(
        real: RealCluster, operator_release: str) -> None:
    start = time.monotonic()
    real.kubectl.run("apply", "-f", str(EXAMPLE))
    wait_until("the osdpl Ready", lambda: any(c["type"] == "Ready" and c["status"] == "True"
                                              for c in _osdpl(real).get("status", {}).get("conditions", [])),
               timeout=1200, describe=lambda: _describe(real))
    print(f"apply to Ready: {time.monotonic() - start:.0f}s")
    print(real.kubectl.run("-n", WATCHED, "get", "pods", "-o", "wide", "--field-selector",
                           "spec.nodeName=real-0").stdout)
    output = _client(real, "token", "openstack token issue -f value -c expires -c project_id; "
                                    "openstack catalog list -f value -c Name -c Type; "
                                    "openstack endpoint list -f value -c 'Service Name' -c Interface -c URL")
    print(output)
    secret = real.kubectl.json("-n", WATCHED, "get", "secret", "keystone-keystone-admin")
    auth_url = base64.b64decode(secret["data"]["OS_AUTH_URL"]).decode()
    assert "keystone identity" in output
    assert auth_url.rsplit("/v3", 1)[0] in output  # the internal endpoint the operator rendered
    # A rotation of the admin's credentials (a new user name and password, every chart upgraded): Keystone still
    # issues tokens, now to the new admin, read from the same Secret.
    before = base64.b64decode(secret["data"]["OS_USERNAME"]).decode()
    real.kubectl.run("-n", WATCHED, "annotate", "osdpl", NAME, "openstack.osop.dev/rotate-admin=e2e", "--overwrite")
    wait_until("the admin rotation done", lambda: _osdpl(real).get("status", {}).get("credentials", {}).get(
        "rotations", {}).get("admin", {}).get("phase") == "Done", timeout=900, describe=lambda: _describe(real))
    after = base64.b64decode(real.kubectl.json("-n", WATCHED, "get", "secret", "keystone-keystone-admin")["data"][
        "OS_USERNAME"]).decode()
    assert after != before
    rotated = _client(real, "token-rotated", "openstack token issue -f value -c expires; "
                                             "openstack user show -f value -c name \"$OS_USERNAME\"")
    print(f"admin {before} -> {after}:\n{rotated}")
    assert after in rotated
