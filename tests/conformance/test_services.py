"""The newer services' features against the real charts (all-features.yaml enables every service)."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.rendering.renderer import Renderer, aes256_key
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.secrets.credentials import required_credentials

from . import lib
from .conftest import HERE, Deployments, conformance_credentials


def test_key_manager_keeps_secrets_under_the_deployments_own_kek(deployments: Deployments) -> None:
    deployment = deployments.get_ok("all-features")
    release = deployment.releases["openstack-barbican"]
    assert release.problem is None, release.problem
    conf = lib.config_file(release.manifests, "Secret", "barbican-etc", "barbican.conf")
    kek = aes256_key(deployment.credentials["barbican_kek"].password)
    assert lib.ini_has(conf, "simple_crypto_plugin", "kek", kek)
    assert len(base64.b64decode(kek)) == 32  # what barbican's simple_crypto plugin takes
    assert lib.ini_has(conf, "secretstore", "enabled_secretstore_plugins", "store_crypto")
    assert lib.ini_has(conf, "crypto", "enabled_crypto_plugins", "simple_crypto")


def test_the_vault_store_gets_the_approle_from_the_referenced_secret(catalog: Catalog, charts: Path,
                                                                     helm: Path) -> None:
    doc = yaml.safe_load((HERE / "all-features.yaml").read_text())
    ref = {"value_from": {"secret_key_ref": {"name": "vault-approle", "key": "role_id"}}}
    doc["spec"]["features"]["barbican"] = {"backends": {"vault": {
        "enabled": True, "vault_url": "https://vault.example.com:8200", "approle_role_id": ref,
        "approle_secret_id": {"value_from": {"secret_key_ref": {"name": "vault-approle", "key": "secret_id"}}},
        "namespace": "cloud", "use_ssl": True}}}
    osdpl = load_osdpl(catalog, doc)
    credentials = conformance_credentials(catalog, required_credentials(catalog, ["key-manager"]))
    values = {"spec.features.barbican.backends.vault.approle_role_id": "role-4f1c",
              "spec.features.barbican.backends.vault.approle_secret_id": "secret-9e2d"}
    release = Renderer(catalog).render(osdpl.spec, credentials, osdpl.namespace, only={"key-manager"},
                                       references=values)[0].releases[0]
    manifests = lib.helm_template(helm, release.name, charts / f"barbican-{release.version}.tgz", release.namespace,
                                  release.values)
    conf = lib.config_file(manifests, "Secret", "barbican-etc", "barbican.conf")
    assert lib.ini_has(conf, "secretstore", "enabled_secretstore_plugins", "vault_plugin")
    for option, value in (("vault_url", "https://vault.example.com:8200"), ("approle_role_id", "role-4f1c"),
                          ("approle_secret_id", "secret-9e2d"), ("kv_mountpoint", "secret"),
                          ("namespace", "cloud"), ("use_ssl", True)):
        assert lib.ini_has(conf, "vault_plugin", option, value), option
