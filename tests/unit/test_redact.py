"""Error messages shown on resources lose every credential of the values, and keep what explains the error."""

from __future__ import annotations

from typing import Any, Iterator

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets import amphora_pki
from openstack_operator.core.secrets.ceph import placeholder_exchange
from openstack_operator.core.secrets.credentials import (generated_credentials, placeholder_credentials,
                                                         required_credentials)
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.secrets.redact import MASK, redact, sensitive_strings
from openstack_operator.core.rendering.renderer import Renderer

from .conftest import load_example


def test_every_credential_in_rendered_values_is_redacted_and_labels_are_not(catalog: Catalog,
                                                                             renderer: Renderer) -> None:
    osdpl = load_osdpl(catalog, load_example("full"))
    enabled = osdpl.spec.enabled_services(catalog)
    credentials = generated_credentials(catalog, required_credentials(catalog, enabled))
    services = renderer.render(osdpl.spec, credentials, "openstack")
    checked = 0
    for service in services:
        for release in service.releases:
            secrets = sensitive_strings(release.values)
            used = {c.password for c in credentials.values() if c.password in str(release.values)}
            # the amphora PKI's record is not in the values as itself: its passphrase and private keys are
            pki = credentials.get("octavia_amphora_pki")
            if pki is not None and release.chart == "octavia":
                files = amphora_pki.files(pki.password)
                used |= {files.passphrase, files.files["private/server_ca.key.pem"],
                         files.files["private/client.cert-and-key.pem"]}
            assert used <= secrets, release.name
            checked += len(used)
            message = f"Job {release.name} invalid: {release.values}"
            assert not any(p in redact(message, secrets) for p in used)
            labels = {v["node_selector_key"] for v in _walk_dicts(release.values) if "node_selector_key" in v}
            assert all(f"'node_selector_key': '{label}'" in redact(message, secrets) for label in labels)
    assert checked > 50


def _walk_dicts(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk_dicts(value)


def test_longest_secret_first() -> None:
    assert redact("a=abcdef b=abcdefgh", {"abcdef", "abcdefgh"}) == f"a={MASK} b={MASK}"


def test_a_ceph_keyring_value_is_redacted() -> None:
    values = {"conf": {"ceph": {"cinder": {"user": "cinder", "keyring": "AQBcephKeyOfCinder==",
                                           "client.admin.keyring": "AQBadminKey=="}}}}
    assert sensitive_strings(values) == {"AQBcephKeyOfCinder==", "AQBadminKey=="}
    assert "AQBcephKeyOfCinder" not in redact(f"bad values {values}", sensitive_strings(values))


def test_the_cinder_key_rendered_for_nova_and_libvirt_is_redacted(catalog: Catalog, renderer: Renderer) -> None:
    """nova and libvirt get the cinder client's cephx key as `conf.ceph.cinder.keyring`, not from a Secret."""
    doc = load_example("full")
    doc["spec"]["features"].update({"ceph": {"enabled": True}, "cinder": {"backend": "rbd"}})
    osdpl = load_osdpl(catalog, doc)
    enabled = osdpl.spec.enabled_services(catalog)
    credentials = placeholder_credentials(catalog, required_credentials(catalog, enabled))
    exchange = placeholder_exchange()
    key = exchange.cinder.key
    readers = {release.name: release.values for service in renderer.render(osdpl.spec, credentials, "openstack",
                                                                            ceph=exchange)
               for release in service.releases if key in str(release.values)}
    assert {"openstack-nova", "openstack-libvirt"} <= set(readers)
    for name, values in readers.items():
        assert key in sensitive_strings(values), name
        assert key not in redact(f"Job of {name} invalid: {values}", sensitive_strings(values))
