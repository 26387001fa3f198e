"""The CustomResourceDefinitions, built from the catalog so that service, chart, release and DaemonSet names in
the schema can never drift from what the renderer knows. `openstack-operator crds` writes them to crds/.

Validation lives in the schemas (osdpl.py, features.py, status.py, helmbundle.py, maintenance.py), at the earliest
layer: the structural schema (types, enums, unknown fields, defaults) and CEL rules for what needs the old object
or cross-field logic. This module wraps each in its CRD, with the printer columns of `kubectl get`.
"""

from __future__ import annotations

from typing import Any

from openstack_operator.core.apigroup import GROUP, VERSION
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.schema.builders import Schema
from openstack_operator.core.schema.helmbundle import helmbundle_schema
from openstack_operator.core.schema.maintenance import maintenance_schema
from openstack_operator.core.schema.osdpl import osdpl_schema


def _crd(kind: str, plural: str, short: list[str], schema: Schema, columns: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower(),
                      "shortNames": short},
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": schema},
            }],
        },
    }


def osdpl_crd(catalog: Catalog) -> dict[str, Any]:
    columns: list[dict[str, Any]] = [
        {"name": "OpenStack", "type": "string", "jsonPath": ".status.openstack_version",
         "description": "Deployed OpenStack release"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Reason", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
         "priority": 1, "description": "Why Ready is what it is: the osdpl's verdict (docs/gitops.md)."},
        {"name": "LCM Progress", "type": "string", "jsonPath": ".status.lcm_progress"},
        {"name": "Health", "type": "string", "jsonPath": ".status.health_progress"},
        {"name": "Upgrade", "type": "string", "jsonPath": ".status.upgrade.phase",
         "description": "The last release change: Running, Stuck or Completed."},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Moving", "type": "string", "jsonPath": ".status.upgrade.current", "priority": 1,
         "description": "The service(s) a release change is moving now."},
        {"name": "Compute", "type": "integer", "jsonPath": ".status.nodes.compute", "priority": 1,
         "description": "Nodes with the compute role"},
        {"name": "Nodes", "type": "string", "jsonPath": ".status.nodes.summary", "priority": 1},
    ]
    return _crd("OpenStackDeployment", "openstackdeployments", ["osdpl"], osdpl_schema(catalog), columns)


def helmbundle_crd() -> dict[str, Any]:
    columns: list[dict[str, Any]] = [
        {"name": "Service", "type": "string", "jsonPath": ".spec.service"},
        {"name": "Refused", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Refused")].status',
         "description": "True: the helmbundle process does not act on this bundle (see the condition)"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return _crd("HelmBundle", "helmbundles", ["hb"], helmbundle_schema(), columns)


def maintenance_crd() -> dict[str, Any]:
    columns: list[dict[str, Any]] = [
        {"name": "Node", "type": "string", "jsonPath": ".spec.nodeName"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Policy", "type": "string", "jsonPath": ".status.policy"},
        {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return _crd("NodeMaintenanceRequest", "nodemaintenancerequests", ["nmr"], maintenance_schema(), columns)
