"""A removed reapply annotation (core.releases.bundles.REAPPLY_ANNOTATION) writes nothing: the osdpl process writes a
bundle's spec with a JSON merge patch (kube.objects.apply_bundle), which cannot remove the key `reapply`, so a spec
that drops it would differ from the stored bundle on every reconcile (a no-op PATCH each time, for ever)."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.models.bundle import Bundle, BundleSpec
from openstack_operator.core.releases.bundles import REAPPLY_ANNOTATION
from openstack_operator.core.settings import Settings
from openstack_operator.kube.process import Runtime
from openstack_operator.reconcilers.osdpl import OsdplReconciler

from .merge_patch import merged
from .test_osdpl_reconciler import KEY, FakeCluster


class PatchingCluster(FakeCluster):
    """Writes an existing bundle's spec as the real gateway does: a merge patch of `spec.to_api()`, which leaves
    the keys it does not name (the fake it extends replaces the spec)."""

    async def apply_bundle(self, namespace: str, name: str, spec: BundleSpec, labels: Mapping[str, str],
                           owner: Mapping[str, Any], current: Bundle | None, finalizers: list[str]) -> bool:
        stored = self.bundles.get((namespace, name))
        before = dict(stored["spec"]) if stored is not None else None
        written = await super().apply_bundle(namespace, name, spec, labels, owner, current, finalizers)
        if written and before is not None:
            self.bundles[(namespace, name)]["spec"] = merged(before, spec.to_api())
        return written


def test_a_reconcile_after_the_reapply_annotation_is_removed_writes_nothing(catalog: Catalog) -> None:
    async def scenario() -> None:
        cluster = PatchingCluster()
        osdpl = OsdplReconciler(Runtime("osdpl", catalog, Settings()), cluster)
        await osdpl.start()
        try:
            body = cluster.add_deployment(catalog)
            await osdpl.reconcile(KEY)
            cluster.deployed()
            body["metadata"]["annotations"] = {REAPPLY_ANNOTATION: "1"}
            await osdpl.reconcile(KEY)
            assert cluster.writes and all(b["spec"]["reapply"] == "1" for b in cluster.bundles.values())
            cluster.writes.clear()

            del body["metadata"]["annotations"][REAPPLY_ANNOTATION]
            for _ in range(3):  # the removal, then the reconciles later events bring
                await osdpl.reconcile(KEY)
                assert cluster.writes == []
                osdpl.applier.rendered.clear()  # as after a restart: rendered again, compared with the bundles
            assert all(b["spec"]["reapply"] == "1" for b in cluster.bundles.values())  # no new apply asked for
        finally:
            await osdpl.stop()
    asyncio.run(asyncio.wait_for(scenario(), timeout=30))
