"""The small builders every schema of this package is written with: `Schema` (an OpenAPI v3 schema as a dict) and
one function per shape (object, string, boolean, map, free-form chart values). They only assemble dicts; what a
field means is said where it is used.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def obj(properties: dict[str, Schema], *, required: list[str] | None = None, description: str = "",
        default: Any = None, rules: list[dict[str, str]] | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if description:
        schema["description"] = description
    if required:
        schema["required"] = required
    if default is not None:
        schema["default"] = default
    if rules:
        schema["x-kubernetes-validations"] = rules
    return schema


def string(description: str = "", **extra: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def boolean(description: str, default: bool = False) -> Schema:
    return {"type": "boolean", "description": description, "default": default}


def mapping(values: Schema, description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "additionalProperties": values, **extra}
    if description:
        schema["description"] = description
    return schema


def secret_key_ref(description: str) -> Schema:
    """A sensitive value given by reference, never inline: `value_from.secret_key_ref` names a key of a Secret in
    the osdpl's own namespace (core.secret_refs reads it for the renderer)."""
    name = string("Name of the Secret, in the osdpl's namespace.", minLength=1, maxLength=253)
    key = string("Key of the Secret's data.", minLength=1, maxLength=253, pattern="^[-._a-zA-Z0-9]+$")
    ref = obj({"name": name, "key": key}, required=["name", "key"], description="A key of a Secret.")
    return obj({"value_from": obj({"secret_key_ref": ref}, required=["secret_key_ref"],
                                  description="Where the value comes from.")},
               required=["value_from"], description=f"{description} From a Secret, never inline.")


def free_form(description: str) -> Schema:
    """Free-form values handed to a chart: the only place unknown fields are kept."""
    return {"type": "object", "description": description, "x-kubernetes-preserve-unknown-fields": True}


def values_holder(description: str) -> Schema:
    return obj({"values": free_form(description)})


def object_fields(kind: str, metadata: Schema | None = None) -> dict[str, Schema]:
    """apiVersion, kind and metadata of a custom resource, described for `kubectl explain`. metadata itself takes
    no description: the API server refuses one (it publishes ObjectMeta's own)."""
    return {
        "apiVersion": string(f"The API group and version of this {kind} (openstack.osop.dev/<version>)."),
        "kind": string(f"{kind}."),
        "metadata": metadata or {"type": "object"},
    }
