"""Which release may follow the deployed one (core.upgrades.guard), and what the osdpl status says when one may not."""

from __future__ import annotations

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.status.conditions import Observed, compute_status
from openstack_operator.core.upgrades.guard import UPGRADE_REFUSED, allowed_targets, upgrade_path, version_problem

CATALOG = Catalog.load()


def test_from_a_release_the_next_one_and_from_a_slurp_release_the_next_slurp_one() -> None:
    assert upgrade_path(CATALOG) == "epoxy (SLURP) -> flamingo -> gazpacho (SLURP)"
    assert allowed_targets(CATALOG, "epoxy") == ["epoxy", "flamingo", "gazpacho"]
    assert allowed_targets(CATALOG, "flamingo") == ["flamingo", "gazpacho"]
    assert allowed_targets(CATALOG, "gazpacho") == ["gazpacho"]
    assert allowed_targets(CATALOG, "zed") == []


def test_the_target_is_judged_against_the_deployed_release_not_the_previous_spec() -> None:
    assert version_problem(CATALOG, "gazpacho", {}) is None  # a new deployment
    assert version_problem(CATALOG, "gazpacho", {"openstack_version": "epoxy"}) is None
    assert version_problem(CATALOG, "epoxy", {"openstack_version": "epoxy"}) is None  # back to what runs
    reason, message = version_problem(CATALOG, "epoxy", {"openstack_version": "flamingo"}) or ("", "")
    assert reason == UPGRADE_REFUSED
    assert message == ("spec.openstack_version: epoxy cannot follow the deployed flamingo (downgrade); from flamingo "
                       "the spec may name flamingo, gazpacho (upgrade path: epoxy (SLURP) -> flamingo -> gazpacho "
                       "(SLURP))")


def test_a_deployed_release_the_catalog_does_not_know_is_not_judged() -> None:
    # as the admission policy: a catalog that dropped the release cannot tell what may follow it
    assert version_problem(CATALOG, "epoxy", {"openstack_version": "dalmatian"}) is None


def test_a_held_release_change_is_on_the_conditions_and_changes_nothing() -> None:
    held = version_problem(CATALOG, "epoxy", {"openstack_version": "flamingo"})
    observed = Observed(generation=4, reconciled_generation=3, draft=False, openstack_version="epoxy", desired={},
                        bundles={}, upgrade_held=held, previous={"openstack_version": "flamingo"})
    status = compute_status(observed, "2026-12-05T00:00:00Z")
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["Ready"] == ("False", UPGRADE_REFUSED) and conditions["Progressing"] == ("False",
                                                                                              UPGRADE_REFUSED)
    assert status["openstack_version"] == "flamingo"  # still what runs
