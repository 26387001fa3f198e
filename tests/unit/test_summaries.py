"""What a release's Job report becomes on the release's status (core.releases.summaries): octavia's bootstrap report
kept field by field, refused whole when a field is not what it claims; and the merge patch that writes a summary
removes what an earlier one left."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openstack_operator.core.models.bundle import SUMMARY_FIELDS, ReleaseStatus
from openstack_operator.core.releases.summaries import parse_summary, report_problem

JOB = "octavia-bootstrap"
GOOD = {"result": "Ready", "network_id": "0b1c-2d", "amphora_secgroup_id": "sg-9", "flavor_id": "f-1",
        "health_managers": {"net-b": "10.255.0.12", "net-a": "10.255.0.11"}}


def test_a_bootstrap_report_keeps_the_ids_and_lists_the_health_managers_by_host() -> None:
    summary = parse_summary(JOB, json.dumps({**GOOD, "extra": "dropped"}), "octavia")
    assert summary == {"result": "Ready", "job": JOB, "network_id": "0b1c-2d", "amphora_secgroup_id": "sg-9",
                       "flavor_id": "f-1", "health_managers": [{"host": "net-a", "address": "10.255.0.11"},
                                                               {"host": "net-b", "address": "10.255.0.12"}]}
    assert set(summary) <= set(SUMMARY_FIELDS) and report_problem(summary) == ""


@pytest.mark.parametrize("change, problem", [
    ({"result": "Passed"}, "result is not Ready"),
    ({"network_id": "net 1; rm -rf /"}, "network_id is not an ID"),
    ({"flavor_id": 7}, "flavor_id is not an ID"),
    ({"health_managers": ["10.0.0.1"]}, "health_managers is not a mapping of hosts to addresses"),
    ({"health_managers": {"net-a": "10.0.0.1:5555"}}, "health_managers.net-a is not an IP address"),
    ({"health_managers": {"Net A": "10.0.0.1"}}, "health_managers: a host is not a host name"),
])
def test_a_report_with_a_field_that_is_not_what_it_claims_is_not_used(change: dict[str, Any], problem: str) -> None:
    summary = parse_summary(JOB, json.dumps({**GOOD, **change}), "octavia")
    assert summary == {"result": "Unknown", "job": JOB, "message": f"Job {JOB}'s summary is not usable: {problem}"}
    assert report_problem(summary) == summary["message"]


def test_the_patch_of_a_summary_removes_the_fields_an_earlier_one_left() -> None:
    patch = ReleaseStatus(state="deployed", summary={"result": "Passed", "passed": 3}).to_patch()["summary"]
    assert patch["result"] == "Passed" and patch["passed"] == 3
    assert patch["message"] is None and patch["failed_tests"] is None and patch["health_managers"] is None
