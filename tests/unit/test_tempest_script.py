"""templates/services/_tempest-run.sh, the tempest Job's script, run with `openstack` and `tempest` replaced by
stand-ins on PATH (their outputs as a cloud and tempest print them): what it adds to tempest.conf, the summary it
leaves as the termination message, and when the Job fails."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "openstack_operator" / "templates" / "services" / "_tempest-run.sh"

CONF = """[DEFAULT]
[compute]
flavor_ref_alt = named-by-the-user
[service_available]
glance = True
nova = True
neutron = True
cinder = False
[network]
floating_network_name = public
[image]
http_image = file://{image}
"""

OPENSTACK = """#!/bin/bash
echo "$*" >> "{calls}"
case "$1 $2" in
  "image list") ;;
  "image create") echo image-1 ;;
  "flavor list") echo "f-0 m1.tiny" ;;
  "flavor create") echo "flavor-$3" ;;
  "network show") echo net-public ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"""

TOTALS = """{0} tempest.api.identity.v3.test_tokens.TokensV3Test.test_create_token[id-1,smoke] [0.5s] ... ok
{1} tempest.api.compute.servers.test_create_server.ServersTestJSON.test_list_servers[id-2,smoke] [1.2s] ... FAILED

======
Totals
======
Ran: 3 tests in 4.0000 sec.
 - Passed: 1
 - Skipped: 1
 - Expected Fail: 0
 - Unexpected Success: 0
 - Failed: 1
"""


# tempest 47.0.0's own output (`tempest run --smoke` against a Keystone that does not answer), trimmed: a class
# whose setUpClass failed, a skipped one, and the totals.
TEMPEST_47 = "\n".join([
    "{1} setUpClass (tempest.api.compute.servers.test_create_server.ServersTestJSON) ... SKIPPED: Nova is not "
    "available",
    "2026-12-07 01:26:05.247 30164 INFO tempest.test [-] <class 'urllib3.exceptions.MaxRetryError'> raised in "
    "CredentialsTestJSON.setUpClass. Invoking tearDownClass.",
    "{1} setUpClass (tempest.api.identity.admin.v3.test_credentials.CredentialsTestJSON) [0.000000s] ... FAILED",
    "",
    "Captured traceback:",
    "~~~~~~~~~~~~~~~~~~~",
    "    Traceback (most recent call last):",
    "{0} setUpClass (tempest.api.identity.admin.v3.test_domains.DomainsTestJSON) [0.000000s] ... FAILED",
    "",
    "======", "Totals", "======",
    "Ran: 50 tests in 0.3039 sec.",
    " - Passed: 0", " - Skipped: 37", " - Expected Fail: 0", " - Unexpected Success: 0", " - Failed: 13",
    "Sum of execute time for each test: 0.0000 sec.",
    "",
    "No tests were successful during the run", ""])


def _run(tmp_path: Path, tempest_output: str, tempest_rc: int) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir, work = tmp_path / "bin", tmp_path / "work"
    bin_dir.mkdir()
    work.mkdir()
    (tmp_path / "cirros.img").write_bytes(b"QFI\xfb")
    (tmp_path / "tempest.conf").write_text(CONF.format(image=tmp_path / "cirros.img"))
    (bin_dir / "openstack").write_text(OPENSTACK.format(calls=tmp_path / "calls"))
    (tmp_path / "tempest-output").write_text(tempest_output)
    (bin_dir / "tempest").write_text(f"""#!/bin/bash
echo "$*" >> "{tmp_path / 'calls'}"
if [[ $1 == run ]]; then cp "$3" "{tmp_path / 'conf-used'}"; cat "{tmp_path / 'tempest-output'}"; exit {tempest_rc}; fi
""")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    script = "BUDGET_SECONDS=60\nRUN_ARGS='--smoke'\n" + SCRIPT.read_text()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TEMPEST_TMP": str(work),
           "TEMPEST_CONF_SOURCE": str(tmp_path / "tempest.conf"), "TERMINATION_LOG": str(tmp_path / "termination")}
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60), tmp_path


def test_a_run_with_a_failed_test_creates_what_tempest_needs_and_reports_it_without_failing_the_job(
        tmp_path: Path) -> None:
    result, path = _run(tmp_path, TOTALS, 1)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((path / "termination").read_text())
    assert summary == {"result": "Failed", "passed": 1, "failed": 1, "skipped": 1, "seconds": summary["seconds"],
                       "failed_tests": ["tempest.api.compute.servers.test_create_server.ServersTestJSON."
                                        "test_list_servers"]}
    used = (path / "conf-used").read_text()
    # what it created, by name; a value the deployment named itself (flavor_ref_alt) is kept
    assert "image_ref = image-1" in used and "image_ref_alt = image-1" in used
    assert "flavor_ref = flavor-tempest-flavor" in used and "flavor_ref_alt = named-by-the-user" in used
    assert "flavor_ref_alt = flavor-tempest-flavor-alt" not in used
    assert "public_network_id = net-public" in used
    calls = (path / "calls").read_text().splitlines()
    assert "run --config-file" in " ".join(calls) and calls[-1] == "cleanup"
    assert calls.index("cleanup --init-saved-state") < next(i for i, c in enumerate(calls) if c.startswith("run "))


def test_the_output_of_tempest_itself_is_summarized(tmp_path: Path) -> None:
    result, path = _run(tmp_path, TEMPEST_47, 1)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((path / "termination").read_text())
    assert {k: summary[k] for k in ("result", "passed", "failed", "skipped")} == {
        "result": "Failed", "passed": 0, "failed": 13, "skipped": 37}
    assert summary["failed_tests"] == [
        "setUpClass (tempest.api.identity.admin.v3.test_credentials.CredentialsTestJSON)",
        "setUpClass (tempest.api.identity.admin.v3.test_domains.DomainsTestJSON)"]


@pytest.mark.parametrize("output, rc, expected", [
    (TOTALS.replace(" - Failed: 1", " - Failed: 0").replace("... FAILED", "... ok"), 0, "Passed"),
    ("", 124, "TimedOut"),
])
def test_the_result_of_a_run(tmp_path: Path, output: str, rc: int, expected: str) -> None:
    result, path = _run(tmp_path, output, rc)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((path / "termination").read_text())["result"] == expected


def test_tempest_that_did_not_run_fails_the_job_and_reports_nothing(tmp_path: Path) -> None:
    result, path = _run(tmp_path, "ImportError: no module named tempest\n", 1)
    assert result.returncode == 1
    assert "tempest did not run" in result.stderr
    assert not (path / "termination").exists()
