"""The status schemas: the standard conditions (shared with the HelmBundle), and the OpenStackDeployment's status
with the parts its processes write: the rollout of a release change (osdpl process), the credentials, Ceph keys,
object gateway and certificate (secrets process), the health (health process) and the node inventory (node
process).
"""

from __future__ import annotations

from openstack_operator.core.schema.builders import Schema, free_form, mapping, obj, string
from openstack_operator.core.upgrades.rollout import (COMPLETED, DISABLED, DONE, PENDING, RUNNING, STUCK, UNCHANGED,
                                                      UPGRADING, VERIFYING)


def osdpl_status() -> Schema:
    return obj(
        {
            "observedGeneration": {"type": "integer", "format": "int64",
                                   "description": "The metadata.generation the osdpl process last acted on."},
            "conditions": conditions("Ready, Progressing and Degraded (docs/gitops.md lists their reasons)."),
            "openstack_version": string("Release the deployed services run."),
            "lcm_progress": string("Services whose releases are deployed, as n/m."),
            "health_progress": string("Ready components, as n/m."),
            "children": free_form("Per service: per release state, revision, chart version, last error."),
            "health": mapping(mapping(obj({"state": string("Ready: every pod ready; Progressing: rolling out "
                                                           "or starting; Unhealthy: failing.",
                                                           enum=["Ready", "Progressing", "Unhealthy"]),
                                           "reason": string("Why the component is not Ready.")},
                                          required=["state"]),
                                      "Per component of the application."),
                              "Per application (OpenStack-Helm `application` label), written by the health process."),
            "health_basis": string("Digest of the release revisions the health was checked against."),
            "applied_credentials": {"type": "integer", "format": "int64",
                                    "description": "The credentials revision the releases were rendered from."},
            "credentials": _credentials_status(),
            "ceph": obj({"state": string("Ready: keys copied; Waiting: the storage side's Secret is not there "
                                         "yet; Invalid: it cannot be used (see message).",
                                         enum=["Ready", "Waiting", "Invalid"]),
                         "source": string("The Secret the keys come from, as <namespace>/<name>."),
                         "message": string("What is missing or wrong."),
                         "digest": string("Of everything rendered from the keys: a change re-renders their users.")},
                        description="The Ceph keys, as the secrets process copied them (never a key)."),
            "object_gateway": obj({"state": string("Published: the credentials are in the Secret; Waiting: "
                                                   "not yet; Invalid: they cannot be published (see message).",
                                                   enum=["Published", "Waiting", "Invalid"]),
                                   "secret": string("The Secret they are published in, as <namespace>/<name>."),
                                   "message": string("What is missing or wrong.")},
                                  description="The object gateway's Keystone credentials, as the secrets process "
                                              "published them (never a credential)."),
            "nodes": _nodes_status(),
            "upgrade": _upgrade_status(),
            "certificate": obj({"state": string("Ready: valid; Expiring: expires within 14 days; Invalid: missing, "
                                                "unreadable or not valid for the public endpoints.",
                                                enum=["Ready", "Expiring", "Invalid"]),
                                "secret": string("The certificate's Secret (ssl.public_endpoints.secret_name, in the osdpl's "
                                                 "namespace)."),
                                "message": string("What is wrong, or when it expires.")},
                               description="The public endpoints' certificate, as the secrets process checked it."),
        }
    )


def conditions(description: str) -> Schema:
    """Conditions in the standard shape, one per type."""
    condition = obj(
        {
            "type": string("The condition's type, unique in the list."),
            "status": string("True, False or Unknown.", enum=["True", "False", "Unknown"]),
            "reason": string("Why, in one CamelCase word."),
            "message": string("Why, for a human."),
            "lastTransitionTime": string("When status last changed.", format="date-time"),
            "observedGeneration": {"type": "integer", "format": "int64",
                                   "description": "The metadata.generation the condition was set for."},
        },
        required=["type", "status"],
    )
    return {"type": "array", "items": condition, "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"], "description": f"Standard conditions, one per type: {description}"}


def _nodes_status() -> Schema:
    return obj(
        {"summary": string("Nodes per role, not ready, in maintenance."),
         "compute": {"type": "integer", "description": "Nodes with the compute role."},
         "hosts": free_form("Per node with an OpenStack role: roles, components its DaemonSet pods run, "
                            "readiness, spec.nodes groups."),
         "not_ready": {"type": "array", "items": string(),
                       "description": "Nodes NotReady for longer than not_ready_report_seconds."},
         "maintenance": mapping(string(), "Per node: the phase of its NodeMaintenanceRequest."),
         "removals": free_form("Per deleted node: its cleanup Job's state and attempts."),
         "removed": {"type": "array", "description": "The last removals, newest first.",
                     "items": obj({"node": string("The deleted Node."),
                                   "result": string("Cleaned: its OpenStack services and agents were removed; "
                                                    "Skipped: nothing to remove.", enum=["Cleaned", "Skipped"]),
                                   "at": string("When the removal finished.", format="date-time"),
                                   "attempts": {"type": "integer", "description": "Runs of its cleanup Job."}})}},
        description="The node inventory, written by the node process.")


def _upgrade_status() -> Schema:
    """Written by the osdpl process while a change of spec.openstack_version rolls out (core.upgrades.rollout), and kept
    after it as the record of the last one."""
    service = obj({"phase": string(f"{PENDING}: not moved yet; {UPGRADING}: its releases are being written; "
                                   f"{VERIFYING}: waiting for it to be healthy; {DONE}: moved and healthy; "
                                   f"{UNCHANGED}: the release change renders nothing new for it; {DISABLED}: "
                                   "disabled while the rollout ran.",
                                   enum=[PENDING, UPGRADING, VERIFYING, DONE, UNCHANGED, DISABLED]),
                   "started": string("When the service started to move.", format="date-time"),
                   "finished": string("When it passed its gate.", format="date-time"),
                   "since": string("When its bundle was last written: its timeout counts from here.",
                                   format="date-time"),
                   "before": free_form("Per release: its Helm revision before the service moved."),
                   "after": free_form("Per release: its Helm revision once the service passed its gate."),
                   "message": string("Why the service does not pass its gate."),
                   "moved": {"type": "boolean",  # no default: a defaulted field would differ from what is written
                             "description": "On a way back: the rollout it turns round wrote the service, so it "
                                            "is gated even if its bundle matches."}}, required=["phase"])
    return obj({"from": string("The release the rollout started from."),
                "to": string("The release it moves every service to."),
                "phase": string(f"{RUNNING}: services are moving; {STUCK}: a service did not pass its gate in "
                                f"time (see message); {COMPLETED}: every service moved.",
                                enum=[RUNNING, STUCK, COMPLETED]),
                "started": string("When the rollout started.", format="date-time"),
                "finished": string("When it completed.", format="date-time"),
                "current": string("The service(s) being moved."),
                "message": string("Why the rollout is stuck, naming the service."),
                "order": {"type": "array", "items": string(), "description": "The services, in the order they move."},
                "services": mapping(service, "Per service: its phase, times and Helm revisions."),
                "waiting": {"type": "array", "items": string(),
                            "description": "Services whose other spec changes wait for the end of the rollout."}},
               required=["from", "to", "phase"],
               description="The last change of release: its phase, the service moving, per service times.")


def _credentials_status() -> Schema:
    """Written by the secrets process (controllers/secrets.py); never a credential, only digests of them."""
    revision = {"type": "integer", "format": "int64"}
    rotation = obj({"request": string("The annotation value that asked for it."),
                    "phase": string("RollingOut: the services are being moved to the new credentials; Done: "
                                    "they all run with them.", enum=["RollingOut", "Done"]),
                    "started": string("When the rotation started.", format="date-time"),
                    "finished": string("When it was done.", format="date-time"),
                    "credentials": {"type": "integer", "description": "Credentials rotated."},
                    "revision": {**revision, "description": "The credentials revision that rotated them."}})
    return obj({"state": string("Ready: the credentials Secret is intact; Lost: it was deleted or changed and "
                                "is not restored (message says how to); Refused: none are kept or generated (a "
                                "Secret of their names made by someone else, or the namespace held by another "
                                "osdpl).",
                                enum=["Ready", "Lost", "Refused"]),
                "message": string("What is wrong, or what was refused and why."),
                "revision": {**revision, "description": "Grows with every change of the credentials."},
                "digests": mapping(string(), "Per credential: a digest of user and password (never the password)."),
                "rotations": mapping(rotation, "Per rotation group: the last rotation asked for."),
                "restored": string("The restore request last carried out.")},
               description="The credentials, as the secrets process keeps them.")
