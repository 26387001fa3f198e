"""templates/services/_ironic-bootstrap.sh, the ironic bootstrap Job's script, run with `openstack` and `curl`
replaced by stand-ins on PATH: the `openstack` one keeps what was created as files (so a second run finds it), both
record their calls. What a first run creates, that a second creates nothing, and that the image URLs never show."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "openstack_operator" / "templates" / "services" / "_ironic-bootstrap.sh"

BASE = "https://mirror-user:s3cr3t-pw@mirror.example.com/ipa"

# A cloud as far as the script asks it: an object is a file $STUB_DIR/state/KIND/NAME holding its ID.
OPENSTACK = r"""#!/bin/bash
echo "openstack $*" >> "$STUB_DIR/calls"
state=$STUB_DIR/state
args=("$@")
opt() { for ((i = 0; i < ${#args[@]} - 1; i++)); do [[ ${args[i]} == "$1" ]] && echo "${args[i + 1]}"; done; true; }
named() { if [[ -e $state/$1/$(opt --name) ]]; then cat "$state/$1/$(opt --name)"; fi; }
create() { mkdir -p "$state/$1"; echo "$1-$2" > "$state/$1/$2"; echo "$1-$2"; }
case "$*" in
  "network list "*) named network ;;
  "network create "*) create network "${args[-5]}" ;;
  "subnet list "*) named subnet ;;
  "subnet create "*) create subnet "${args[-5]}" ;;
  "image list "*) named image ;;
  "image create "*) cp "$(opt --file)" "$STUB_DIR/uploaded-$3"; create image "$3" ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"""

# curl's failure names the URL, as a careless client might: the script must not pass it on.
CURL = r"""#!/bin/bash
echo "curl $*" >> "$STUB_DIR/calls"
args=("$@")
if [[ -n ${CURL_FAIL:-} ]]; then echo "curl: (22) The requested URL returned error: 401 for ${args[-1]}" >&2; exit 22; fi
for ((i = 0; i < ${#args[@]}; i++)); do [[ ${args[i]} == -o ]] && echo "image from ${args[-1]##*/}" > "${args[i + 1]}"; done
true
"""


def _run(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Runs the script as the chart's Job does (after its `set -ex`); the calls of this run only."""
    bin_dir, work = tmp_path / "bin", tmp_path / "work"
    if not bin_dir.exists():
        bin_dir.mkdir()
        work.mkdir()
        for name, text in (("openstack", OPENSTACK), ("curl", CURL)):
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
    (tmp_path / "calls").write_text("")
    settings = {"NETWORK": "provisioning", "PHYSNET": "ironic", "NETWORK_TYPE": "vlan", "SEGMENTATION_ID": "3001",
                "MTU": "1500", "EXTERNAL": "false", "SHARED": "true", "SUBNET": "provisioning-subnet",
                "SUBNET_RANGE": "10.30.0.0/24", "POOL_START": "10.30.0.100", "POOL_END": "10.30.0.200",
                "GATEWAY": "10.30.0.1", "KERNEL_URL": f"{BASE}/ipa.vmlinuz", "INITRAMFS_URL": f"{BASE}/ipa.gz"}
    result = subprocess.run(["bash", "-c", "set -ex\n" + SCRIPT.read_text()],
                            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STUB_DIR": str(tmp_path),
                                 "WORKDIR": str(work), **settings, **env},
                            capture_output=True, text=True, timeout=60)
    return result, (tmp_path / "calls").read_text().splitlines()


def _calls(calls: list[str], prefix: str) -> list[str]:
    return [call for call in calls if call.startswith(prefix)]


def _assert_urls_hidden(result: subprocess.CompletedProcess[str]) -> None:
    for output in (result.stdout, result.stderr):
        assert "s3cr3t-pw" not in output and "mirror-user" not in output and "mirror.example.com" not in output


def test_a_first_run_creates_the_network_its_subnet_and_the_agent_images(tmp_path: Path) -> None:
    result, calls = _run(tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert _calls(calls, "openstack network create") == [
        "openstack network create --provider-network-type vlan --provider-physical-network ironic "
        "--provider-segment 3001 --mtu 1500 --internal --share provisioning -f value -c id"]
    assert _calls(calls, "openstack subnet create") == [
        "openstack subnet create --network network-provisioning --subnet-range 10.30.0.0/24 --gateway 10.30.0.1 "
        "--dhcp --allocation-pool start=10.30.0.100,end=10.30.0.200 provisioning-subnet -f value -c id"]
    work = tmp_path / "work"
    assert _calls(calls, "openstack image create") == [
        f"openstack image create ironic-agent.kernel --disk-format aki --container-format aki --public "
        f"--file {work / 'ironic-agent.kernel'} -f value -c id",
        f"openstack image create ironic-agent.initramfs --disk-format ari --container-format ari --public "
        f"--file {work / 'ironic-agent.initramfs'} -f value -c id"]
    assert (tmp_path / "uploaded-ironic-agent.kernel").read_text() == "image from ipa.vmlinuz\n"
    assert (tmp_path / "uploaded-ironic-agent.initramfs").read_text() == "image from ipa.gz\n"
    assert list(work.iterdir()) == []  # the downloads are removed once uploaded
    _assert_urls_hidden(result)


def test_a_flat_external_network_without_segment_or_mtu(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, NETWORK_TYPE="flat", SEGMENTATION_ID="", MTU="", EXTERNAL="true", SHARED="false")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _calls(calls, "openstack network create") == [
        "openstack network create --provider-network-type flat --provider-physical-network ironic --external "
        "--no-share provisioning -f value -c id"]


def test_a_second_run_creates_nothing(tmp_path: Path) -> None:
    assert _run(tmp_path)[0].returncode == 0
    result, calls = _run(tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [c for c in calls if " create " in c or c.startswith("curl")] == []


def test_a_failed_download_fails_the_job_without_showing_the_url(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, CURL_FAIL="1")
    assert result.returncode != 0
    assert "downloading the image for ironic-agent.kernel failed (features.ironic.agent_images)" in result.stderr
    assert _calls(calls, "openstack image create") == []
    _assert_urls_hidden(result)
