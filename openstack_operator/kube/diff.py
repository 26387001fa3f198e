"""`openstack-operator diff`: what applying a manifest would change in a live cluster, release by release.

The manifest is rendered as the osdpl process would render it, with the deployment's stored credentials, Ceph copy
and referenced Secrets' values (placeholders where none exist yet: a new deployment), and compared with the live
HelmBundles (fingerprints: which releases an apply upgrades) and values Secrets (which values change). Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pykube
import yaml

from openstack_operator.core.models.bundle import Bundle
from openstack_operator.core.releases.bundles import bundle_name, tempest_run, values_secret_name
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.ceph import consumers, placeholder_exchange
from openstack_operator.core.secrets.credentials import Credential, placeholder_credentials, required_credentials
from openstack_operator.core.secrets.references import placeholders, references
from openstack_operator.core.schema.manifest import Osdpl
from openstack_operator.core.rendering.load_balancer import control_plane
from openstack_operator.core.rendering.renderer import Renderer
from openstack_operator.core.rendering.values_diff import Change, values_changes
from openstack_operator.kube.ceph import read_ceph_copy
from openstack_operator.kube.client import HelmBundle, OpenStackDeployment, api
from openstack_operator.kube.credentials import read_credentials
from openstack_operator.kube.objects import decode_secret, get_or_none, read_secret_texts

INSTALL, UPGRADE, UNCHANGED, UNINSTALL = "install", "upgrade", "unchanged", "uninstall"


@dataclass(frozen=True)
class ReleaseDiff:
    service: str
    release: str
    action: str
    changes: list[Change] = field(default_factory=list)


def live_diff(catalog: Catalog, osdpl: Osdpl) -> tuple[list[ReleaseDiff], set[str]]:
    """Per release of the manifest or of the live deployment, what an apply would do; and the secret values read
    from the cluster (stored credentials, referenced Secrets), for the caller to mask. Placeholders show as they
    are: they say where a value lands and hold none."""
    enabled = osdpl.spec.enabled_services(catalog)
    stored = read_credentials(catalog, osdpl.namespace, osdpl.name).stored
    credentials: dict[str, Credential] = placeholder_credentials(catalog, required_credentials(catalog, enabled))
    kept = {k: v for k, v in stored.current.items() if k in credentials} if stored is not None else {}
    credentials.update(kept)
    ceph = (read_ceph_copy(osdpl.namespace, osdpl.name) if consumers(osdpl.spec.features, enabled) else None) or \
        placeholder_exchange()
    refs = references(osdpl.spec.features, "spec.features")
    read = read_secret_texts(osdpl.namespace, {path: (ref.name, ref.key) for path, ref in refs.items()})
    referenced = {**placeholders(refs), **read}  # a placeholder where a Secret or key is missing
    # The run request of the live osdpl (an annotation set outside the manifest): applying the manifest keeps it.
    live_osdpl = get_or_none(OpenStackDeployment, osdpl.namespace, osdpl.name)
    live_bundles = {bundle.spec.service: bundle for bundle in
                    (Bundle.from_api(item.obj) for item in HelmBundle.objects(api(), namespace=osdpl.namespace))
                    if bundle.name == bundle_name(osdpl.name, bundle.spec.service)}
    # What octavia's bootstrap reported and the controller nodes, as the osdpl process renders them.
    load_balancer = control_plane((live_osdpl.obj.get("status") or {}) if live_osdpl else {}, live_bundles.values())
    services = Renderer(catalog).render(osdpl.spec, credentials, osdpl.namespace, ceph=ceph, references=referenced,
                                        tempest_run=tempest_run(live_osdpl.obj) if live_osdpl else "",
                                        load_balancer=load_balancer)
    diffs: list[ReleaseDiff] = []
    for service in services:
        found = live_bundles.get(service.name)
        live_releases = {r.name: r for r in (found.spec.releases if found else ())}
        secret = get_or_none(pykube.Secret, osdpl.namespace, values_secret_name(osdpl.name, service.name))
        live_values = decode_secret(secret) if secret is not None else {}
        for release in service.releases:
            live = live_releases.get(release.name)
            if live is None:
                diffs.append(ReleaseDiff(service.name, release.name, INSTALL))
                continue
            old: dict[str, Any] = yaml.safe_load(live_values.get(release.name, "")) or {}
            action = UNCHANGED if live.fingerprint == release.fingerprint else UPGRADE
            diffs.append(ReleaseDiff(service.name, release.name, action, values_changes(old, dict(release.values))))
    rendered = {service.name for service in services}
    for bundle in live_bundles.values():
        if bundle.spec.service not in rendered:
            diffs.extend(ReleaseDiff(bundle.spec.service, r.name, UNINSTALL) for r in bundle.spec.releases)
    secrets = {c.password for c in kept.values() if c.password} | set(read.values())
    return diffs, secrets
