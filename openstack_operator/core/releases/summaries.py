"""What a release's Job reports: tempest's run-tests Job (templates/services/_tempest-run.sh) writes a summary of the
run, octavia's bootstrap Job (templates/services/_octavia-bootstrap.sh) the IDs of what it created for the amphorae,
each as its container's termination message; the helmbundle process reads it after the release is deployed and
records it on the release's status (`summary`), which status.children shows on the osdpl.

A message is read, never trusted: only the known fields, of the known types and sizes, are kept."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Mapping

# chart -> the name of the Job whose pod reports ({release}: the release's name), as the chart names it
SUMMARY_JOBS = {"tempest": "{release}-run-tests", "octavia": "octavia-bootstrap"}
# Charts whose report is state the next render needs (IDs), not a run's result: a run that left none keeps the last
# usable one (what it named still exists: the bootstrap deletes nothing it reported), and an Unknown one is read
# again until it is usable.
STATE_REPORTS = ("octavia",)
READY = "Ready"
RESULTS = ("Passed", "Failed", "TimedOut")
COUNTS = ("passed", "failed", "skipped", "seconds")
MAX_FAILED_TESTS = 50
MAX_TEST_NAME = 300
UNKNOWN = "Unknown"


def summary_job(chart: str, release: str) -> str | None:
    """The name of the Job that reports the release's run, None for a chart that runs none."""
    name = SUMMARY_JOBS.get(chart)
    return name.format(release=release) if name else None


def parse_summary(job: str, message: str | None, chart: str = "tempest") -> dict[str, Any]:
    """The summary the Job's pod left (`message`: its termination message, None if it left none), checked."""
    if not message:
        return {"result": UNKNOWN, "job": job, "message": f"Job {job}'s pod left no summary (termination message)"}
    try:
        body = json.loads(message)
    except ValueError:
        body = None
    problem = _bootstrap_problem(body) if chart == "octavia" else _problem(body)
    if problem:
        return {"result": UNKNOWN, "job": job, "message": f"Job {job}'s summary is not usable: {problem}"}
    assert isinstance(body, Mapping)
    if chart == "octavia":
        # a list, not a map: a merge patch of the status replaces a list, where it would keep a host that left a map
        return {"result": READY, "job": job, **{key: body[key] for key in BOOTSTRAP_IDS},
                "health_managers": [{"host": host, "address": address}
                                    for host, address in sorted(body["health_managers"].items())]}
    failed = [str(name)[:MAX_TEST_NAME] for name in body.get("failed_tests") or ()][:MAX_FAILED_TESTS]
    return {"result": body["result"], "job": job, **{key: int(body[key]) for key in COUNTS},
            **({"failed_tests": failed} if failed else {})}


def _problem(body: Any) -> str:
    if not isinstance(body, Mapping):
        return "not a JSON object"
    if body.get("result") not in RESULTS:
        return f"result is not one of {', '.join(RESULTS)}"
    for key in COUNTS:
        value = body.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"{key} is not a count"
    tests = body.get("failed_tests", [])
    if not isinstance(tests, list) or not all(isinstance(name, str) for name in tests):
        return "failed_tests is not a list of test names"
    return ""


# What octavia's bootstrap reports: the IDs octavia.conf names, and each health manager's address by host.
BOOTSTRAP_IDS = ("network_id", "amphora_secgroup_id", "flavor_id")
_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
MAX_HEALTH_MANAGERS = 1000


def usable(summary: Mapping[str, Any] | None) -> bool:
    return summary is not None and summary.get("result") not in (None, UNKNOWN)


def report_problem(summary: Mapping[str, Any] | None) -> str:
    """Why a state report (STATE_REPORTS) does not let the next render complete the release; empty when it does."""
    if not usable(summary):
        return str((summary or {}).get("message") or "no report yet")
    assert summary is not None
    if "health_managers" in summary and not summary["health_managers"]:
        return ("the bootstrap found no controller node (one that runs neutron's L3 agent, label "
                "openstack-control-plane=enabled): octavia's worker and health manager wait for one")
    return ""


def _bootstrap_problem(body: Any) -> str:
    if not isinstance(body, Mapping):
        return "not a JSON object"
    if body.get("result") != READY:
        return f"result is not {READY}"
    for key in BOOTSTRAP_IDS:
        if not isinstance(body.get(key), str) or not _ID.match(body[key]):
            return f"{key} is not an ID"
    managers = body.get("health_managers")
    if not isinstance(managers, Mapping) or len(managers) > MAX_HEALTH_MANAGERS:
        return "health_managers is not a mapping of hosts to addresses"
    for host, address in managers.items():
        if not isinstance(host, str) or not _HOST.match(host):
            return "health_managers: a host is not a host name"
        try:
            ipaddress.ip_address(address if isinstance(address, str) else "")
        except ValueError:
            return f"health_managers.{host} is not an IP address"
    return ""
