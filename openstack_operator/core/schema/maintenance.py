"""The NodeMaintenanceRequest schema: the Node a request takes into maintenance (immutable), and the status the node
process writes while it serves the request (phase, roles, the policy applied and the Jobs it runs, step by step).
"""

from __future__ import annotations

from openstack_operator.core.schema.builders import Schema, obj, string


def maintenance_schema() -> Schema:
    spec = obj({"nodeName": string("The Node going into maintenance; immutable.", minLength=1,
                                   **{"x-kubernetes-validations": [{"rule": "self == oldSelf",
                                                                    "message": "nodeName is immutable"}]})},
               required=["nodeName"])
    status = obj({
        "phase": string(enum=["Waiting", "Disabling", "Migrating", "Ready", "Restoring", "Failed"]),
        "message": string(),
        "roles": {"type": "array", "items": string(), "description": "The node's roles when the request was served."},
        "acts_on": {"type": "array", "items": string(),
                    "description": "The roles the Jobs act on: those whose pods ran there (not nova's under skip)."},
        "policy": string("The maintenance policy applied."),
        "steps": {"type": "array", "items": string(), "description": "The Jobs to run, in order."},
        "step": string("The current (or last) Job's action."),
        "job": string("The current (or last) Job's name."),
        "attempts": {"type": "integer", "description": "Runs of the current step's Job."},
    })
    return obj({"apiVersion": string(), "kind": string(), "metadata": {"type": "object"}, "spec": spec,
                "status": status}, required=["spec"])
