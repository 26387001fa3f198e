"""What octavia's values need beyond the spec and the credentials: the report of its bootstrap Job and the nodes its
worker and health manager run on. Pure: the osdpl process reads both from what it already watches.

Amphorae are booted on a management network with a security group and a flavor whose IDs octavia.conf names, and
send their heartbeats to the health managers' addresses on that network. Neutron gives those IDs only when it
creates the objects, so the release goes in two steps: the bootstrap Job (templates/services/_octavia-bootstrap.sh)
creates them, and a port per controller node, and reports the IDs (core.releases.summaries); the next render names
them and turns the worker and health manager on. Each later render that changes the nodes runs the bootstrap again
(its script lists them), and its report follows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from openstack_operator.core.models.bundle import Bundle
from openstack_operator.core.nodes.inventory import CONTROL_PLANE
from openstack_operator.core.releases.summaries import summary_job, usable

CHART = "octavia"
# The DaemonSet pods that mark a controller node: octavia's worker and health manager run where neutron's L3 agent
# does (templates/services/octavia.yaml.j2 gives them its node selector), so a node is one as soon as any of them
# runs there. With OVN there is no L3 agent: a control-plane node's ovn-controller (a gateway chassis, the same
# nodes) marks it.
CONTROLLER_COMPONENTS = frozenset({"neutron/l3-agent", "octavia/worker", "octavia/health_manager"})
GATEWAY_CHASSIS_COMPONENT = "ovn/ovn-controller"


@dataclass(frozen=True)
class ControlPlane:
    report: Mapping[str, Any] | None = None  # the bootstrap's last usable report; None before the first
    hosts: tuple[str, ...] = ()  # short host names of the controller nodes, sorted

    @property
    def ready(self) -> bool:
        """Whether the worker and health manager can run: the IDs are known and a health manager has an address."""
        return self.report is not None and bool(self.report.get("health_managers"))

    def digest(self) -> str:
        """Changes when the render would: part of the osdpl process's render basis."""
        return hashlib.sha256(json.dumps([self.report, self.hosts], sort_keys=True).encode()).hexdigest()[:16]


def controller_hosts(osdpl_status: Mapping[str, Any]) -> tuple[str, ...]:
    """The controller nodes of status.nodes (the node process's inventory), as `hostname -s` names them: the
    chart's init containers look their ports up by that name."""
    hosts = ((osdpl_status.get("nodes") or {}).get("hosts") or {})
    return tuple(sorted({name.split(".")[0] for name, entry in hosts.items()
                         if isinstance(entry, Mapping) and _controller(entry)}))


def _controller(entry: Mapping[str, Any]) -> bool:
    components = set(entry.get("components") or ())
    return bool(CONTROLLER_COMPONENTS & components) or (
        GATEWAY_CHASSIS_COMPONENT in components and CONTROL_PLANE in (entry.get("roles") or ()))


def control_plane(osdpl_status: Mapping[str, Any], bundles: Iterable[Bundle]) -> ControlPlane:
    """From the osdpl's status (the node process's inventory) and its bundles (the octavia release's recorded
    report, if usable)."""
    report = next((summary for bundle in bundles for release in bundle.spec.releases
                   if release.chart == CHART and summary_job(CHART, release.name)
                   and usable(summary := bundle.release_status(release.name).summary)), None)
    return ControlPlane(report=report, hosts=controller_hosts(osdpl_status))
