"""Which OpenStack release a deployment may move to, judged against the release it runs (`status.openstack_version`),
not against the previous spec: two quick applies cannot skip a release that was never deployed.
While a release change rolls out (core.upgrades.rollout), the spec may name only the release it goes to or the one it came
from (which turns it back).

From a deployed release the spec may name that release (a change of anything else, or a way back from an upgrade
that has not finished), the next release, or, from a SLURP release, the next SLURP release (OpenStack's
skip-level upgrade path: 2025.1 -> 2026.1). Nothing older. A deployed release the catalog no longer knows is not
judged (as the admission policy does not). Pure.
"""

from __future__ import annotations

from typing import Any, Mapping

from openstack_operator.core.catalog import Catalog, Release
from openstack_operator.core.models.osdpl_status import RolloutView

UPGRADE_REFUSED = "UpgradeRefused"  # the condition reason


def is_slurp(release: Release) -> bool:
    """SLURP releases are the first of each year (2023.1 on: <year>.1)."""
    return release.series.endswith(".1")


def allowed_targets(catalog: Catalog, deployed: str) -> list[str]:
    """The releases the spec may name while `deployed` runs, in upgrade order; the deployed one first."""
    names = list(catalog.releases)
    if deployed not in catalog.releases:
        return []
    later = names[names.index(deployed) + 1:]
    targets = [deployed, *later[:1]]
    if is_slurp(catalog.releases[deployed]):
        targets += [name for name in later[1:] if is_slurp(catalog.releases[name])][:1]
    return targets


def upgrade_path(catalog: Catalog) -> str:
    """The releases in order, SLURP ones marked: for messages."""
    return " -> ".join(f"{name} (SLURP)" if is_slurp(release) else name for name, release in catalog.releases.items())


def version_problem(catalog: Catalog, target: str, status: Mapping[str, Any]) -> tuple[str, str] | None:
    """(UpgradeRefused, message) when spec.openstack_version `target` cannot follow the release the osdpl's status
    says is deployed; None if it can."""
    view = RolloutView.of(status)
    rollout = view.upgrade or {}
    if view.active and target not in (rollout["from"], rollout["to"]):
        return UPGRADE_REFUSED, (f"spec.openstack_version: {target}: the rollout {rollout['from']} -> "
                                 f"{rollout['to']} has not finished ({rollout.get('current') or 'finishing'}); the "
                                 f"spec may name {rollout['to']} to finish it or {rollout['from']} to go back")
    deployed = view.openstack_version
    if not deployed or target == deployed or deployed not in catalog.releases:
        return None  # a new deployment, no change of release, or a release this catalog cannot judge
    allowed = allowed_targets(catalog, deployed)
    if target not in allowed:
        direction = "downgrade" if target in catalog.releases and list(catalog.releases).index(target) < \
            list(catalog.releases).index(deployed) else "skip"
        return UPGRADE_REFUSED, (f"spec.openstack_version: {target} cannot follow the deployed {deployed} "
                                 f"({direction}); from {deployed} the spec may name {', '.join(allowed)} (upgrade "
                                 f"path: {upgrade_path(catalog)})")
    return None
