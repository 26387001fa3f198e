"""The HelmBundle schema: what the osdpl process asks of the helmbundle process for one service (its Helm releases,
each with chart, version and the Secret holding its values, and the bundles deployed before it), and the status the
helmbundle process writes back per release.
"""

from __future__ import annotations

from openstack_operator.core.schema.builders import Schema, boolean, free_form, obj, object_fields, string
from openstack_operator.core.schema.status import conditions


def helmbundle_schema() -> Schema:
    spec = obj(
        {
            "service": string("The osdpl service this bundle deploys.", minLength=1),
            "depends_on": {"type": "array", "items": string(), "default": [],
                           "description": "Services (bundles of the same osdpl) deployed before this one."},
            "uninstall": boolean("Uninstall every release (after the bundles that depend on this one); the "
                                 "osdpl operator deletes the bundle once status shows them uninstalled."),
            "retry": string("A failed release is retried at once when this differs from the value its failure was "
                            "recorded under (the osdpl operator sets it when the osdpl changes)."),
            "reapply": string("Every release is applied again (Helm upgrade with the same values) when this differs "
                              "from the value it was deployed under (the osdpl's openstack.osop.dev/reapply)."),
            "releases": {"type": "array", "items": _release(), "x-kubernetes-list-type": "map",
                         "x-kubernetes-list-map-keys": ["name"],
                         "description": "The Helm releases of the service, installed in this order."},
        },
        required=["service", "releases"],
        description="What to deploy: written by the osdpl process, never by hand.",
    )
    status = obj(
        {
            "observedGeneration": {"type": "integer", "format": "int64",
                                   "description": "The metadata.generation the helmbundle process last acted on."},
            "conditions": conditions("Ready, and Refused when the helmbundle process does not act on the "
                                     "bundle."),
            "releases": free_form("Per release: state, revision, chart version, fingerprint, attempts, last error, "
                                  "next attempt time, the workloads its manifest runs."),
        },
        description="What the helmbundle process did, per release.",
    )
    return obj({**object_fields("HelmBundle"), "spec": spec, "status": status}, required=["spec"],
               description="The Helm releases of one service of an OpenStackDeployment, installed and upgraded by "
                           "the operator's helmbundle process.")


def _release() -> Schema:
    return obj(
        {
            "name": string("Helm release name.", minLength=1),
            "chart": string("Chart name in the chart source.", minLength=1),
            "version": string("Chart version."),
            "repository": string("Chart repository URL or directory. Unset: the helmbundle process's source."),
            "digest": string("sha256:<hex> of the chart archive: a fetched chart that differs is not installed.",
                             pattern="^sha256:[0-9a-f]{64}$"),
            "namespace": string("Namespace of the release.", minLength=1),
            "values_from": obj(
                {"secret_name": string("Name of the Secret, in the bundle's namespace.", minLength=1),
                 "key": string("Key of the Secret holding the values as YAML.", minLength=1)},
                required=["secret_name", "key"],
                description="Secret holding the release values (they contain credentials).",
            ),
            "fingerprint": string("Digest of chart, version and values; changes exactly when they do."),
            "timeout_seconds": {"type": "integer", "minimum": 1,
                                "description": "Seconds Helm waits for the release's resources to be ready. "
                                               "Unset: 600."},
        },
        required=["name", "chart", "namespace", "values_from"],
    )
