"""The Jobs through which the node process acts on OpenStack, as OpenStack-Helm does its own bootstrap work: the
OpenStack client image of the deployment's release, the admin credentials from the Secret the keystone chart
writes, and templates/node-job.sh. No OpenStack API call or credential is ever in the operator itself.

A Job is named by action, node and the object it acts for (a maintenance request, or the Node for a cleanup), so
creating it again is a no-op and a restarted process finds the Job it had started.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.apigroup import GROUP
from openstack_operator.core.rendering.renderer import image_tags

DISABLE, MIGRATE, ENABLE, CLEANUP = "disable", "migrate", "enable", "cleanup"
ACTION_LABEL = f"{GROUP}/node-action"
NODE_LABEL = f"{GROUP}/node"
ADMIN_SECRET = "keystone-keystone-admin"  # the keystone chart's secrets.identity.admin
MAX_NAME = 63  # a Job's name is a label value of its pods
BACKOFF_LIMIT = 3  # pod retries within one Job; the node process retries a failed Job after a while
DEADLINE_SECONDS = {DISABLE: 600, ENABLE: 600, CLEANUP: 900, MIGRATE: 6 * 3600}
# A finished Job (and its pod's log) stays a day for whoever asks what was done. Jobs belong to the osdpl, not to
# the request they ran for: the `enable` Job outlives its request.
KEEP_FINISHED_SECONDS = 86400
JOB_STATES = ("Running", "Succeeded", "Failed")


def job_name(action: str, node: str, uid: str) -> str:
    """osop-<action>-<node>-<5 characters of the uid it acts for>; a long node name is cut and made unique by a
    digest of it."""
    suffix = uid.replace("-", "")[:5]
    name = f"osop-{action}-{node}-{suffix}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(node.encode()).hexdigest()[:8]
    keep = MAX_NAME - len(f"osop-{action}--{digest}-{suffix}")
    return f"osop-{action}-{node[:keep].rstrip('-.')}-{digest}-{suffix}"


def client_image(catalog: Catalog, openstack_version: str, images_base_url: str) -> str:
    """The release's OpenStack client image, as the keystone chart's bootstrap Job uses it."""
    return image_tags(catalog.releases[openstack_version], "keystone", images_base_url)["bootstrap"]


def script(templates_dir: Path) -> str:
    return (templates_dir / "node-job.sh").read_text()


def job_manifest(*, namespace: str, action: str, node: str, uid: str, roles: list[str], instance_ha: bool,
                 image: str, script_text: str, owner: Mapping[str, Any]) -> dict[str, Any]:
    """`instance_ha`: the deployment runs masakari, whose failover segments the node is taken out of and put back
    into with nova (node-job.sh)."""
    labels = {"app.kubernetes.io/managed-by": "openstack-operator", ACTION_LABEL: action,
              NODE_LABEL: node[:63].rstrip("-.")}  # a label value ends with a letter or digit
    container = {
        "name": action,
        "image": image,
        "command": ["bash", "-c", script_text, "node-job.sh", action, node, ",".join(roles)],
        "envFrom": [{"secretRef": {"name": ADMIN_SECRET}}],
        "env": [{"name": "OS_IDENTITY_API_VERSION", "value": "3"},
                # service ids are UUIDs from 2.53 on: delete by id is unambiguous across cells
                {"name": "OS_COMPUTE_API_VERSION", "value": "2.53"},
                {"name": "INSTANCE_HA", "value": "1" if instance_ha else "0"}],
        "securityContext": {"runAsUser": 65534, "runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
    }
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": job_name(action, node, uid), "namespace": namespace, "labels": labels,
                     "ownerReferences": [dict(owner)]},
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "ttlSecondsAfterFinished": KEEP_FINISHED_SECONDS,
            "activeDeadlineSeconds": DEADLINE_SECONDS[action],
            "template": {
                "metadata": {"labels": labels},
                "spec": {"restartPolicy": "Never", "containers": [container],
                         # where OpenStack-Helm runs its own Jobs: never on the node being worked on
                         "nodeSelector": {"openstack-control-plane": "enabled"},
                         "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                             "nodeSelectorTerms": [{"matchExpressions": [
                                 {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": [node]}]}]}}}},
            },
        },
    }


@dataclass(frozen=True)
class JobView:
    state: str  # one of JOB_STATES
    finished_at: str  # "" while it runs


def job_view(body: Mapping[str, Any]) -> JobView:
    return JobView(state=job_state(body), finished_at=finished_at(body))


def job_state(body: Mapping[str, Any]) -> str:
    """Running, Succeeded or Failed, from the Job's conditions."""
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "Succeeded"
        if condition.get("status") == "True" and condition.get("type") in ("Failed", "FailureTarget"):
            return "Failed"
    return "Running"


def finished_at(body: Mapping[str, Any]) -> str:
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition.get("lastTransitionTime", ""))
    return ""
