"""Sensitive spec values given by reference: which fields hold one in use, and placeholders for offline renders."""

from __future__ import annotations

from openstack_operator.core.secrets.references import SecretKeyRef, digest, placeholders, references

from ..osdpl_cases import VAULT


def test_a_reference_in_an_enabled_block_is_read_and_one_in_a_disabled_block_is_not() -> None:
    features = {"barbican": {"backends": {"vault": VAULT}}, "logging": {"nova": {"level": "INFO"}}}
    assert references(features, "spec.features") == {
        "spec.features.barbican.backends.vault.approle_role_id": SecretKeyRef("vault-approle", "role_id"),
        "spec.features.barbican.backends.vault.approle_secret_id": SecretKeyRef("vault-approle", "secret_id")}
    disabled = {"barbican": {"backends": {"vault": {**VAULT, "enabled": False}}}}
    assert references(disabled, "spec.features") == {}


def test_placeholders_name_the_field_and_the_digest_follows_the_values() -> None:
    refs = references({"barbican": {"backends": {"vault": VAULT}}}, "spec.features")
    assert placeholders(refs)["spec.features.barbican.backends.vault.approle_role_id"] == \
        "<spec.features.barbican.backends.vault.approle_role_id>"
    assert digest({"a": "1"}) == digest({"a": "1"}) != digest({"a": "2"})
