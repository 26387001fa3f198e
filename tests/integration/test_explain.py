"""`kubectl explain` documents every typed field, as the API server publishes the CRDs (its OpenAPI v3 document,
which kubectl explain reads): the unit test's walk (tests/unit/test_schema_descriptions.py) over what the API
server serves, and kubectl explain's own output for a few fields.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from openstack_operator.core.apigroup import GROUP, VERSION

from ..unit.test_schema_descriptions import undescribed
from .conftest import Kubectl

KINDS = ["OpenStackDeployment", "HelmBundle", "NodeMaintenanceRequest"]


@pytest.fixture(scope="module")
def published(kubectl: Kubectl, crds: None) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:  # the OpenAPI document follows the CRDs a moment after they are Established
        found = kubectl.run("get", "--raw", f"/openapi/v3/apis/{GROUP}/{VERSION}", check=False)
        schemas: dict[str, Any] = json.loads(found.stdout)["components"]["schemas"] if found.returncode == 0 else {}
        served = all(any(key.endswith(f".{kind}") for key in schemas) for kind in KINDS) and all(
            kubectl.run("explain", short, check=False).returncode == 0 for short in ("osdpl", "hb", "nmr"))
        if served or time.monotonic() > deadline:
            return schemas
        time.sleep(1)


@pytest.mark.parametrize("kind", KINDS)
def test_the_api_server_publishes_a_description_for_every_field(published: dict[str, Any], kind: str) -> None:
    [name] = [key for key in published if key.endswith(f".{kind}")]
    schema = published[name]
    # metadata is the API server's ObjectMeta reference: described by Kubernetes, not walked here
    properties = {key: value for key, value in schema["properties"].items() if key != "metadata"}
    missing = list(undescribed({**schema, "properties": properties}, kind))
    assert schema.get("description") and not missing, "\n".join(missing)


@pytest.mark.parametrize(("path", "words"), [
    ("osdpl.spec.features.database.backup.backups_to_keep", "Days a backup is kept"),
    ("osdpl.spec.features.neutron.floating_network.segmentation_id", "VLAN ID"),
    ("osdpl.status.conditions.reason", "CamelCase"),
    ("hb.spec.releases.values_from.key", "values as YAML"),
    ("nmr.status.phase", "for a free slot of its roles"),
])
def test_kubectl_explain_shows_the_description(kubectl: Kubectl, published: dict[str, Any], path: str,
                                               words: str) -> None:
    out = kubectl.run("explain", path).stdout
    assert words in " ".join(out.split()), out
