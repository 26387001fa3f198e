"""A change of OpenStack release on the real charts: one service at a time in the catalog's order, each healthy at
the new release before the next, resumed after a SIGKILL of the osdpl process, stopped at a service made unhealthy
mid-upgrade and resumed by the fix. Each test deploys its own cloud at epoxy (the upgrade is what it changes)."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.schema.upgrade_policy import UPGRADE_POLICY
from tests.integration.conftest import (DEPLOY_TIMEOUT, Deployment, Helm, Kubectl, Operators, minimal,
                                        temporary_namespace, wait_for)

CATALOG = Catalog.load()
UPGRADE_TIMEOUT = 900.0  # every service of the minimal example, one after the other, on 2 cores


@pytest.fixture
def epoxy(request: pytest.FixtureRequest, kubectl: Kubectl, operators: Operators, crds: None) -> Iterator[Deployment]:
    """The minimal example at epoxy, with the services the test is parametrized with, Ready, in a namespace of its
    own."""
    with temporary_namespace(kubectl, "upgrade") as namespace:
        manifest = minimal("cloud")
        manifest["spec"]["features"] = {"services": list(getattr(request, "param", ()))}
        deployment = Deployment(kubectl, namespace, manifest)
        deployment.apply()
        wait_for("Ready at epoxy", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
                 describe=lambda: (deployment.get().get("status") or {}).get("conditions"))
        assert deployment.get()["status"]["openstack_version"] == "epoxy"
        yield deployment


def _rollout(deployment: Deployment) -> dict[str, Any]:
    return dict((deployment.get().get("status") or {}).get("upgrade") or {})


def _set_release(deployment: Deployment, release: str) -> Any:
    return deployment.kubectl.run("-n", deployment.namespace, "patch", "osdpl", deployment.name, "--type=merge", "-p",
                                  json.dumps({"spec": {"openstack_version": release}}), check=False)


def _upgraded(deployment: Deployment, release: str) -> bool:
    status = deployment.get().get("status") or {}
    return deployment.ready_at_generation() and status.get("openstack_version") == release and \
        (status.get("upgrade") or {}).get("phase") == "Completed"


def _workload_images(kubectl: Kubectl, namespace: str) -> set[str]:
    found = set()
    for kind in ("deployments", "statefulsets", "daemonsets"):
        for item in kubectl.json("-n", namespace, "get", kind)["items"]:
            pod = item["spec"]["template"]["spec"]
            found |= {c["image"] for c in [*pod.get("containers", []), *pod.get("initContainers", [])]}
    return found


def _release_images(release: str) -> set[str]:
    return {image for images in CATALOG.releases[release].images.values() for image in images.values()}


def _timeline(rollout: dict[str, Any]) -> str:
    lines = [f"{rollout['from']} -> {rollout['to']}: {rollout['phase']}, {rollout['started']} .. "
             f"{rollout.get('finished', '')}"]
    for service in rollout["order"]:
        entry = rollout["services"][service]
        lines.append(f"  {service:14} {entry['phase']:10} {entry.get('started', ''):21} {entry.get('finished', ''):21}"
                     f" {entry.get('before', '')} -> {entry.get('after', '')}")
    return "\n".join(lines)


def _check_order_and_revisions(rollout: dict[str, Any], before: dict[str, int], after: dict[str, int],
                               features: dict[str, Any], fixed: str = "") -> None:
    """Each moved service started after the one before it passed its gate; in each, every release the new release
    renders differently got exactly one new Helm revision (none upgraded twice, none skipped), as the status
    records, and a service the release change does not touch got none. `fixed`: a release written again while it
    moved (a fix): two revisions, the one that got stuck and the fix."""
    moved = [s for s in rollout["order"] if rollout["services"][s]["phase"] == "Done"]
    assert moved, rollout
    for earlier, later in zip(moved, moved[1:]):
        assert rollout["services"][later]["started"] >= rollout["services"][earlier]["finished"], (earlier, later)
    for service in rollout["order"]:
        entry = rollout["services"][service]
        releases = [f"openstack-{chart.name}" for chart in CATALOG.services[service].charts_for(features)]
        upgrades = {r: after[r] - before[r] for r in releases}
        if entry["phase"] == "Done":
            assert upgrades == {r: entry["after"][r] - entry["before"][r] for r in releases}, (service, entry)
            once = {r: n - (r == fixed) for r, n in upgrades.items()}
            assert set(once.values()) <= {0, 1} and 1 in once.values(), (service, upgrades)
        else:
            assert set(upgrades.values()) == {0}, (service, entry)


# With compute: nova's plain (not hook) Jobs change with every release, and a Job's template is immutable.
@pytest.mark.parametrize("epoxy", [("compute",)], indirect=True)
def test_epoxy_to_flamingo_moves_one_service_at_a_time_and_resumes_after_a_sigkill(
        epoxy: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    before = helm.revisions(epoxy.namespace)
    assert _set_release(epoxy, "flamingo").returncode == 0
    wait_for("the rollout running", lambda: _rollout(epoxy).get("phase") == "Running", operators)
    # while it runs, the spec may name only its two ends: a skip to gazpacho is refused by the API server
    refused = _set_release(epoxy, "gazpacho")
    print(refused.stderr.strip())
    assert refused.returncode != 0 and "the rollout epoxy -> flamingo has not finished" in refused.stderr \
        and UPGRADE_POLICY in refused.stderr

    wait_for("identity moved", lambda: _rollout(epoxy)["services"]["identity"]["phase"] == "Done", operators,
             timeout=UPGRADE_TIMEOUT, describe=lambda: _rollout(epoxy))
    operators.kill("osdpl")
    print(f"SIGKILL of the osdpl process while moving {_rollout(epoxy).get('current')}")
    operators.start("osdpl")
    wait_for("Ready at flamingo", lambda: _upgraded(epoxy, "flamingo"), operators, timeout=UPGRADE_TIMEOUT,
             describe=lambda: _rollout(epoxy))
    rollout = _rollout(epoxy)
    print(_timeline(rollout))
    _check_order_and_revisions(rollout, before, helm.revisions(epoxy.namespace), epoxy.get()["spec"]["features"])
    assert rollout["services"]["memcached"]["phase"] == "Unchanged"  # its images are the same in both releases
    images = _workload_images(kubectl, epoxy.namespace)
    assert images <= _release_images("flamingo"), images - _release_images("flamingo")
    assert not images & (_release_images("epoxy") - _release_images("flamingo"))
    print(f"{len(images)} images in the workloads, every one of flamingo")


def test_epoxy_to_gazpacho_stops_at_a_service_made_unhealthy_and_the_fix_resumes_it(
        epoxy: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    before = helm.revisions(epoxy.namespace)
    assert _set_release(epoxy, "gazpacho").returncode == 0  # SLURP to SLURP
    wait_for("identity moved", lambda: _rollout(epoxy).get("services", {}).get("identity", {}).get("phase") == "Done",
             operators, timeout=UPGRADE_TIMEOUT, describe=lambda: _rollout(epoxy))
    # Mid-upgrade, glance-api's pods are made to ask for nodes that do not exist; the image service moves with it.
    epoxy.merge_patch({"spec": {"services": {"image": {"glance": {"values": {"labels": {"api": {
        "node_selector_value": "nowhere"}}}}}}}})
    stuck = wait_for("the rollout stuck at image", lambda: (r := _rollout(epoxy)).get("phase") == "Stuck" and r,
                     operators, timeout=UPGRADE_TIMEOUT, describe=lambda: _rollout(epoxy))
    degraded = epoxy.condition("Degraded")
    print(degraded["message"])
    assert (degraded["status"], degraded["reason"]) == ("True", "UpgradeStuck")
    assert degraded["message"].startswith("the upgrade to gazpacho stopped at image: unhealthy: glance/api (")
    assert stuck["current"] == "image" and stuck["services"]["networking"] == {"phase": "Pending"}
    neutron = helm.revisions(epoxy.namespace)["openstack-neutron"]
    assert neutron == before["openstack-neutron"]  # nothing after the stuck service moved
    table = kubectl.run("-n", epoxy.namespace, "get", "osdpl").stdout
    print(table)
    assert "Stuck" in table.splitlines()[1]

    epoxy.merge_patch({"spec": {"services": {"image": {"glance": {"values": {"labels": None}}}}}})
    wait_for("Ready at gazpacho", lambda: _upgraded(epoxy, "gazpacho"), operators, timeout=UPGRADE_TIMEOUT,
             describe=lambda: _rollout(epoxy))
    rollout = _rollout(epoxy)
    print(_timeline(rollout))
    assert epoxy.condition("Degraded")["status"] == "False"
    images = _workload_images(kubectl, epoxy.namespace)
    assert images <= _release_images("gazpacho"), images - _release_images("gazpacho")
    _check_order_and_revisions(rollout, before, helm.revisions(epoxy.namespace), epoxy.get()["spec"]["features"],
                               fixed="openstack-glance")
