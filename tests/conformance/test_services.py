"""The newer services' features against the real charts (all-features.yaml enables every service)."""

from __future__ import annotations

import base64

from openstack_operator.core.rendering.renderer import aes256_key

from . import lib
from .conftest import Deployments


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
