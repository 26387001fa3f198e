"""The osdpl controller renders a generation once: later reconciles of it (bundle status or health changes) only
recompute the status, unless a bundle no longer matches what was written. The API is replaced by recorders."""

from __future__ import annotations

import copy
from typing import Any, Mapping

import pytest

from openstack_operator.controllers import osdpl as controller
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.credentials import Credential, generated_credentials

from .conftest import load_example


class Recorder:
    def __init__(self, catalog: Catalog) -> None:
        self.bundles: dict[str, dict[str, Any]] = {}  # service -> bundle as the API would list it
        self.renders = 0
        self.kept: list[str] = []
        self.catalog = catalog

    def vetted_credentials(self, body: Mapping[str, Any], needed: list[str]) -> dict[str, Credential]:
        return generated_credentials(self.catalog, needed)

    def apply_secret(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def ensure_kept_secrets(self, namespace: str, names: Any, labels: Any) -> None:
        self.kept = list(names)

    def apply_bundle(self, namespace: str, name: str, spec: Mapping[str, Any], labels: Mapping[str, str],
                     owner: Any, current: Any, finalizers: list[str]) -> bool:
        self.bundles[spec["service"]] = {"spec": copy.deepcopy(dict(spec))}
        return True


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch, catalog: Catalog) -> Recorder:
    record = Recorder(catalog)
    for name in ("ensure_kept_secrets", "apply_secret", "apply_bundle"):
        monkeypatch.setattr(controller, name, getattr(record, name))
    monkeypatch.setattr(controller.OsdplController, "_vetted_credentials",
                        lambda self, body, needed: record.vetted_credentials(body, needed))
    return record


def test_a_generation_is_rendered_once_unless_a_bundle_drifted(recorder: Recorder, catalog: Catalog) -> None:
    osdpl = controller.OsdplController(catalog)
    render = osdpl.renderer.render

    def counting_render(*args: Any, **kwargs: Any) -> Any:
        recorder.renders += 1
        return render(*args, **kwargs)

    osdpl.renderer.render = counting_render  # type: ignore[method-assign]
    body = load_example("minimal")
    body["metadata"].update({"namespace": "ns", "uid": "u1", "generation": 3, "resourceVersion": "1"})

    desired, _, _ = osdpl._apply(body, {})
    assert recorder.renders == 1 and set(recorder.bundles) == set(desired)
    # Keystone's key Secrets exist before its first install (the chart's own pre-install hooks are off).
    assert recorder.kept == ["keystone-fernet-keys", "keystone-credential-keys"]
    assert osdpl._apply(body, copy.deepcopy(recorder.bundles))[0] == desired
    assert recorder.renders == 1  # the status-only reconcile of the same generation

    drifted = copy.deepcopy(recorder.bundles)
    drifted["identity"]["spec"]["releases"][0]["fingerprint"] = "edited-by-hand"
    osdpl._apply(body, drifted)
    assert recorder.renders == 2 and recorder.bundles["identity"]["spec"]["releases"][0]["fingerprint"] != \
        "edited-by-hand"

    body["metadata"]["generation"] = 4
    osdpl._apply(body, copy.deepcopy(recorder.bundles))
    assert recorder.renders == 3  # a new generation is always rendered


def test_lost_credentials_stop_every_write_even_for_a_generation_already_applied(recorder: Recorder,
                                                                                  catalog: Catalog) -> None:
    osdpl = controller.OsdplController(catalog)
    body = load_example("minimal")
    body["metadata"].update({"namespace": "ns", "uid": "u1", "generation": 3, "resourceVersion": "1"})
    osdpl._apply(body, {})
    written = copy.deepcopy(recorder.bundles)
    body["status"] = {"credentials": {"state": "Lost", "message": "Secret osh-dev-credentials: changed glance_db"}}
    with pytest.raises(controller.CredentialsUnavailable, match="changed glance_db") as lost:
        osdpl._apply(body, copy.deepcopy(recorder.bundles))
    assert lost.value.reason == "CredentialsLost"
    assert recorder.bundles == written
