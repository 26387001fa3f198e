"""The NodeMaintenanceRequest schema: the Node a request takes into maintenance (immutable), and the status the node
process writes while it serves the request (phase, roles, the policy applied and the Jobs it runs, step by step).
"""

from __future__ import annotations

from openstack_operator.core.schema.builders import Schema, obj, object_fields, string


def maintenance_schema() -> Schema:
    spec = obj({"nodeName": string("The Node going into maintenance; immutable.", minLength=1,
                                   **{"x-kubernetes-validations": [{"rule": "self == oldSelf",
                                                                    "message": "nodeName is immutable"}]})},
               required=["nodeName"], description="The Node to take into maintenance.")
    status = obj({
        "phase": string("Waiting: for a free slot of its roles, or for the node; Disabling: its nova-compute "
                        "service and neutron agents are being disabled; Migrating: its instances are moving away; "
                        "Ready: the node may go down; Restoring: the request was deleted and what was disabled is "
                        "enabled again; Failed: a Job failed (see message), run again after a delay.",
                        enum=["Waiting", "Disabling", "Migrating", "Ready", "Restoring", "Failed"]),
        "message": string("What the request waits for, or why it failed."),
        "roles": {"type": "array", "items": string(), "description": "The node's roles when the request was served."},
        "acts_on": {"type": "array", "items": string(),
                    "description": "The roles the Jobs act on: those whose pods ran there (not nova's under skip)."},
        "policy": string("The maintenance policy applied."),
        "steps": {"type": "array", "items": string(), "description": "The Jobs to run, in order."},
        "step": string("The current (or last) Job's action."),
        "job": string("The current (or last) Job's name."),
        "attempts": {"type": "integer", "description": "Runs of the current step's Job."},
    }, description="How the node process serves the request, step by step.")
    return obj({**object_fields("NodeMaintenanceRequest"), "spec": spec, "status": status}, required=["spec"],
               description="Takes one Node into maintenance: disables its OpenStack services and, per the "
                           "maintenance policy, moves its instances away; deleting the request brings them back.")
