"""What a release's test run reports: tempest's run-tests Job (templates/services/_tempest-run.sh) writes a summary
as its container's termination message; the helmbundle process reads it after the release is deployed and records
it on the release's status (`summary`), which status.children shows on the osdpl.

A message is read, never trusted: only the known fields, of the known types and sizes, are kept."""

from __future__ import annotations

import json
from typing import Any, Mapping

# chart -> the suffix of the Job (named <release>-<suffix>) whose pod reports the run
SUMMARY_JOBS = {"tempest": "run-tests"}
RESULTS = ("Passed", "Failed", "TimedOut")
COUNTS = ("passed", "failed", "skipped", "seconds")
MAX_FAILED_TESTS = 50
MAX_TEST_NAME = 300
UNKNOWN = "Unknown"


def summary_job(chart: str, release: str) -> str | None:
    """The name of the Job that reports the release's run, None for a chart that runs none."""
    suffix = SUMMARY_JOBS.get(chart)
    return f"{release}-{suffix}" if suffix else None


def parse_summary(job: str, message: str | None) -> dict[str, Any]:
    """The summary the Job's pod left (`message`: its termination message, None if it left none), checked."""
    if not message:
        return {"result": UNKNOWN, "job": job, "message": f"Job {job}'s pod left no summary (termination message)"}
    try:
        body = json.loads(message)
    except ValueError:
        body = None
    problem = _problem(body)
    if problem:
        return {"result": UNKNOWN, "job": job, "message": f"Job {job}'s summary is not usable: {problem}"}
    assert isinstance(body, Mapping)
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
