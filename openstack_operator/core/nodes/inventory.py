"""Which nodes run which OpenStack roles for one deployment, and what the node process owes each of them.

A node's roles come from two sources: its labels (what the charts' node selectors will put there) and the
DaemonSet pods of the deployment's namespace scheduled on it (what actually runs there):
- compute: the `openstack-compute-node=enabled` label, or a nova-compute or libvirt pod;
- network: a neutron agent pod (OVS, L3, DHCP, metadata, ...) or OVN's ovn-controller: each registers an agent (OVN:
  a chassis, which neutron lists as an agent) under the node's host name;
- control-plane: the `openstack-control-plane=enabled` label;
- baremetal: an ironic conductor pod (a StatefulSet's, on the host's network: its TFTP and HTTP servers are the
  node's), which serves the bare metal nodes ironic's hash ring gives it.
Only what ran registers anything in OpenStack, so only nodes with compute or network pods get the cleanup
finalizer: a conductor that is gone stops heartbeating, and ironic gives its bare metal nodes to the others. Pure: the node process (reconcilers.node) feeds it projections of the watched objects.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from openstack_operator.core.apigroup import GROUP

COMPUTE, NETWORK, CONTROL_PLANE, BAREMETAL = "compute", "network", "control-plane", "baremetal"
ROLES = (COMPUTE, NETWORK, CONTROL_PLANE, BAREMETAL)
REGISTERING_ROLES = (COMPUTE, NETWORK)  # the roles whose pods leave services or agents to clean up in OpenStack
# Pods of StatefulSets bound to their node (host network), by (application, component): ironic's conductors.
HOST_BOUND_STATEFULSETS = {("ironic", "conductor")}
LABEL_ROLES = {("openstack-compute-node", "enabled"): COMPUTE, ("openstack-control-plane", "enabled"): CONTROL_PLANE}
CLEANUP_FINALIZER_PREFIX = f"cleanup.{GROUP}/"
# Which installation of the operator added each cleanup finalizer of a Node (JSON: namespace -> installation): a
# namespace later taken off an installation's watch list is let go of by that installation only, never one that
# another installation sharing the cluster watches.
CLEANUP_OWNERS_ANNOTATION = f"cleanup.{GROUP}/installations"
SKIP_CLEANUP_ANNOTATION = f"{GROUP}/skip-cleanup"  # "true": remove the node without the OpenStack cleanup
MAX_REMOVED = 10  # removal results kept on status.nodes.removed, newest first


@dataclass(frozen=True)
class NodeView:
    """What the node process keeps of a Node."""
    name: str
    uid: str
    labels: Mapping[str, str]
    ready: bool
    ready_since: str  # lastTransitionTime of the Ready condition ("" if none)
    deleting: bool
    finalizers: tuple[str, ...]
    skip_cleanup: bool
    resource_version: str
    cleanup_owners: Mapping[str, str] = field(default_factory=dict)  # CLEANUP_OWNERS_ANNOTATION


@dataclass(frozen=True)
class PodView:
    """What the node process keeps of a DaemonSet pod (or a HOST_BOUND_STATEFULSETS pod) of a deployment
    namespace."""
    namespace: str
    node: str
    application: str
    component: str


@dataclass
class HostEntry:
    roles: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)  # the REGISTERING_ROLES of pods that ran
    components: list[str] = field(default_factory=list)
    ready: bool = True
    not_ready_since: str = ""
    groups: list[str] = field(default_factory=list)


def node_view(body: Mapping[str, Any]) -> NodeView:
    metadata = body["metadata"]
    ready: Mapping[str, Any] = next((c for c in (body.get("status") or {}).get("conditions") or []
                                     if c.get("type") == "Ready"), {})
    return NodeView(name=metadata["name"], uid=metadata.get("uid", ""), labels=dict(metadata.get("labels") or {}),
                    ready=ready.get("status") == "True", ready_since=ready.get("lastTransitionTime", ""),
                    deleting=bool(metadata.get("deletionTimestamp")),
                    finalizers=tuple(metadata.get("finalizers") or ()),
                    skip_cleanup=(metadata.get("annotations") or {}).get(SKIP_CLEANUP_ANNOTATION) == "true",
                    resource_version=metadata.get("resourceVersion", ""),
                    cleanup_owners=_owners((metadata.get("annotations") or {}).get(CLEANUP_OWNERS_ANNOTATION)))


def _owners(text: str | None) -> dict[str, str]:
    """The annotation's record; one edited into something else counts as no record (nothing is let go of)."""
    try:
        record = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in record.items()} if isinstance(record, dict) else {}


def finalizer_namespace(finalizer: str) -> str | None:
    """The namespace a cleanup finalizer names; None for another finalizer."""
    return finalizer[len(CLEANUP_FINALIZER_PREFIX):] if finalizer.startswith(CLEANUP_FINALIZER_PREFIX) else None


def ours_to_let_go(node: NodeView, namespace: str, installation: str, watched: Iterable[str]) -> bool:
    """Whether this installation (watching `watched`, empty: every namespace) decides on `namespace`'s cleanup
    finalizer of `node`: a namespace it watches, or one it recorded adding the finalizer for and no longer
    watches (taken off its watch list); never another installation's."""
    watched = set(watched)
    return not watched or namespace in watched or node.cleanup_owners.get(namespace) == installation


def with_cleanup(node: NodeView, namespace: str, installation: str) -> tuple[list[str], dict[str, str]]:
    """The node's finalizers and owners record with `namespace`'s cleanup finalizer added by `installation`."""
    finalizer = cleanup_finalizer(namespace)
    finalizers = list(node.finalizers) + ([] if finalizer in node.finalizers else [finalizer])
    return finalizers, {**node.cleanup_owners, namespace: installation}


def without_cleanup(node: NodeView, namespace: str) -> tuple[list[str], dict[str, str]]:
    """The node's finalizers and owners record without `namespace`'s cleanup finalizer."""
    finalizer = cleanup_finalizer(namespace)
    return [f for f in node.finalizers if f != finalizer], \
        {k: v for k, v in node.cleanup_owners.items() if k != namespace}


def pod_view(body: Mapping[str, Any]) -> PodView | None:
    """A scheduled pod of a DaemonSet (or of a HOST_BOUND_STATEFULSETS one) with OpenStack-Helm's labels; None for
    any other pod."""
    metadata, spec = body["metadata"], body.get("spec") or {}
    labels = metadata.get("labels") or {}
    owners = {o.get("kind") for o in metadata.get("ownerReferences") or []}
    host_bound = "StatefulSet" in owners and (labels.get("application"), labels.get("component")) \
        in HOST_BOUND_STATEFULSETS
    if not ("DaemonSet" in owners or host_bound) or not spec.get("nodeName") or "application" not in labels:
        return None
    return PodView(namespace=metadata["namespace"], node=spec["nodeName"], application=labels["application"],
                   component=labels.get("component", ""))


def pod_role(pod: PodView) -> str | None:
    if (pod.application, pod.component) in {("nova", "compute"), ("libvirt", "libvirt")}:
        return COMPUTE
    if (pod.application == "neutron" and pod.component.endswith("-agent")) \
            or (pod.application, pod.component) == ("ovn", "ovn-controller"):
        return NETWORK
    if (pod.application, pod.component) in HOST_BOUND_STATEFULSETS:
        return BAREMETAL
    return None


def node_groups(labels: Mapping[str, str], groups: Iterable[str]) -> list[str]:
    """The spec.nodes keys ("<label>::<value>") whose label the node carries with that value."""
    return sorted(g for g in groups if labels.get(g.split("::", 1)[0]) == g.split("::", 1)[1])


def inventory(nodes: Iterable[NodeView], pods: Iterable[PodView], groups: Iterable[str]) -> dict[str, HostEntry]:
    """Per node with an OpenStack role in this deployment: its roles, the components its DaemonSet pods run, its
    readiness and the spec.nodes groups it is in. `pods` are the deployment namespace's."""
    groups = list(groups)
    components: dict[str, set[str]] = {}
    pod_roles: dict[str, set[str]] = {}
    for pod in pods:
        components.setdefault(pod.node, set()).add(f"{pod.application}/{pod.component}")
        role = pod_role(pod)
        if role:
            pod_roles.setdefault(pod.node, set()).add(role)
    hosts = {}
    for node in nodes:
        roles = {role for (label, value), role in LABEL_ROLES.items() if node.labels.get(label) == value}
        roles |= pod_roles.get(node.name, set())
        if not roles and node.name not in components:
            continue
        hosts[node.name] = HostEntry(roles=[r for r in ROLES if r in roles],
                                     registered=[r for r in REGISTERING_ROLES
                                                 if r in pod_roles.get(node.name, set())],
                                     components=sorted(components.get(node.name, ())), ready=node.ready,
                                     not_ready_since="" if node.ready else node.ready_since,
                                     groups=node_groups(node.labels, groups))
    return hosts


def registering(entry: HostEntry | None) -> bool:
    """Whether OpenStack holds services or agents of this host (what ran there registered them)."""
    return entry is not None and bool(entry.registered)


def cleanup_finalizer(namespace: str) -> str:
    """One finalizer per deployment namespace: each deployment cleans up its own OpenStack services."""
    return f"{CLEANUP_FINALIZER_PREFIX}{namespace}"


def parse_time(stamp: str) -> float | None:
    try:
        return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def not_ready_for_long(entry: HostEntry, now: float, threshold: float) -> bool:
    since = parse_time(entry.not_ready_since) if entry.not_ready_since else None
    return not entry.ready and since is not None and now - since >= threshold


def summary(hosts: Mapping[str, HostEntry], long_not_ready: Iterable[str], in_maintenance: Iterable[str]) -> str:
    # baremetal only where a deployment has conductors: the summary of every other reads as before
    counts = [f"{sum(r in e.roles for e in hosts.values())} {r}" for r in ROLES
              if r != BAREMETAL or any(BAREMETAL in e.roles for e in hosts.values())]
    return (f"{len(hosts)} nodes: {', '.join(counts)}; {len(list(long_not_ready))} not ready; "
            f"{len(list(in_maintenance))} in maintenance")


def host_status(entry: HostEntry) -> dict[str, Any]:
    body: dict[str, Any] = {"roles": entry.roles, "components": entry.components, "ready": entry.ready}
    if entry.groups:
        body["groups"] = entry.groups
    if entry.not_ready_since:
        body["not_ready_since"] = entry.not_ready_since
    return body
