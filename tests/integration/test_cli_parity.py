"""The offline CLI's verdict on an object's root and metadata, and its reading of YAML, against kubectl and a real
API server: the same refusals in the same words (`openstack-operator validate` prints the API server's message
after the field path), and YAML 1.1 keys stored as the same strings."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from openstack_operator.cli import main

from ..osdpl_cases import load_example
from .conftest import Kubectl

pytestmark = pytest.mark.usefixtures("crds")

Edit = Callable[[dict[str, Any]], None]


def _metadata(**fields: Any) -> Edit:
    return lambda doc: doc["metadata"].update(fields)


CASES = [
    ("label-key", _metadata(labels={"team!": "ops"}),
     'metadata.labels: Invalid value: "team!": name part must consist of alphanumeric characters'),
    ("label-value", _metadata(labels={"team": "o" * 64}),
     f'metadata.labels: Invalid value: "{"o" * 64}": must be no more than 63 bytes'),
    ("label-prefix", _metadata(labels={"Example.com/team": "ops"}),
     'metadata.labels: Invalid value: "Example.com/team": prefix part a lowercase RFC 1123 subdomain'),
    ("annotation-key", _metadata(annotations={"a/b/c": "x"}),
     'metadata.annotations: Invalid value: "a/b/c": a valid label key must consist of'),
    ("annotations-size", _metadata(annotations={"note": "a" * 262144}),
     "metadata.annotations: Too long: may not be more than 262144 bytes"),
    ("metadata-field", _metadata(nme="x"), 'unknown field "metadata.nme"'),
    ("root-field", lambda doc: doc.update(extra=1), 'unknown field "extra"'),
]


@pytest.mark.parametrize(("edit", "message"), [pytest.param(e, m, id=i) for i, e, m in CASES])
def test_metadata_refused_offline_as_by_the_api_server(kubectl: Kubectl, namespace: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str], edit: Edit,
                                                       message: str) -> None:
    doc = copy.deepcopy(load_example("minimal"))
    doc["metadata"]["namespace"] = namespace
    edit(doc)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump(doc))
    assert main(["validate", "-f", str(manifest)]) == 1
    offline = capsys.readouterr().err
    assert message in offline, offline
    result = kubectl.run("create", "-f", str(manifest), check=False)
    assert result.returncode != 0 and message.split(": Invalid value: ")[-1].split(" (e.g.")[0] in result.stderr, \
        result.stderr


def test_yaml_1_1_keys_are_stored_as_the_strings_render_uses(kubectl: Kubectl, namespace: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    text = yaml.safe_dump({**load_example("minimal"), "metadata": {"name": "osh-keys", "namespace": namespace}})
    text += ("  services:\n    identity:\n      keystone:\n        values:\n          conf:\n"
             "            on: a\n            1: b\n            name: c\n            time: 12:30\n")
    manifest = tmp_path / "keys.yaml"
    manifest.write_text(text)
    assert main(["render", "-f", str(manifest), "--service", "identity"]) == 0
    rendered = yaml.safe_load(capsys.readouterr().out.split("---\n")[1])["values"]["conf"]
    kubectl.run("create", "-f", str(manifest))
    stored = kubectl.json("-n", namespace, "get", "osdpl", "osh-keys")["spec"]["services"]["identity"]["keystone"]
    assert stored["values"]["conf"] == {key: rendered[key] for key in ("true", "1", "name", "time")}
