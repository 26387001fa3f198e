"""The one write of an OpenStackDeployment's status: each process's gateway (kube.gateways) writes its section of
it through `patch_section` and nothing else, so no process can write a key of another's section
(core.models.osdpl_status)."""

from __future__ import annotations

from typing import Any

from openstack_operator.core.models.osdpl_status import Owner, SectionPatch
from openstack_operator.kube.client import OpenStackDeployment
from openstack_operator.kube.objects import patch_status


def patch_section(writer: Owner, namespace: str, name: str, patch: SectionPatch) -> dict[str, Any]:
    """Merge-patch the osdpl's status with `patch` (core.models.osdpl_status.section_patch), which must be of the
    section of `writer`, the calling process (NotOwner otherwise, before anything is sent); returns the osdpl as
    stored after it. Blocking: a gateway runs it in a worker thread. pykube's HTTPError as kube.objects.patch_status
    raises it (a 404 when the osdpl is gone)."""
    return patch_status(OpenStackDeployment, namespace, name, patch.sent_by(writer))
