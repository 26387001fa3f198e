"""templates/services/_octavia-bootstrap.sh, the octavia bootstrap Job's script, run with `openstack` and `curl`
replaced by stand-ins on PATH: the `openstack` one keeps what was created as files (so a second run finds it), both
record their calls. What a first run creates, that a second one creates nothing, that the ports of a node that left
go, the report it leaves as the termination message, and that the image URL (credentials and all) never shows."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "openstack_operator" / "templates" / "services" / "_octavia-bootstrap.sh"

URL = "https://mirror-user:s3cr3t-pw@mirror.example.com/amphora/amphora-x64-haproxy.qcow2"

# A cloud as far as the script asks it. An object is a file $STUB_DIR/state/KIND/NAME holding its ID; a port's
# address is in state/ip/NAME. STUB_FAIL names a command ("flavor create") that fails.
OPENSTACK = r"""#!/bin/bash
echo "openstack $*" >> "$STUB_DIR/calls"
state=$STUB_DIR/state
args=("$@")
if [[ -n ${STUB_FAIL:-} && "$*" == "$STUB_FAIL"* ]]; then echo "Internal Server Error (HTTP 500)" >&2; exit 1; fi
opt() { for ((i = 0; i < ${#args[@]} - 1; i++)); do [[ ${args[i]} == "$1" ]] && echo "${args[i + 1]}"; done; true; }
name=  # a create's: the argument before -f
for ((i = 1; i < ${#args[@]}; i++)); do [[ ${args[i]} == -f ]] && name=${args[i - 1]}; done
list() { for f in "$state/$1"/*; do if [[ -e $f ]]; then echo "$(<"$f") ${f##*/}"; fi; done; }
named() { list "$1" | awk -v n="$(opt --name)" '$2 == n { print $1 }'; }
create() { mkdir -p "$state/$1"; echo "$1-$name" > "$state/$1/$name"; echo "$1-$name"; }
case "$*" in
  "role create --or-show "*) echo "$4" ;;
  "network list "*) named network ;;
  "network create "*) create network ;;
  "subnet list "*) named subnet ;;
  "subnet create "*) create subnet ;;
  "security group list "*) list sg ;;
  "security group create "*) create sg ;;
  "security group rule create "*) echo "rule-${args[-1]}" ;;
  "flavor list "*) echo "f-0 m1.tiny"; list flavor ;;
  "flavor create "*) create flavor ;;
  "image list "*) list image | cut -d' ' -f1 ;;
  "image create "*) cp "$(opt --file)" "$STUB_DIR/uploaded"; create image ;;
  "port list "*) list port ;;
  "port create "*)
    mkdir -p "$state/ip"
    echo "10.255.0.$(( $(ls "$state/port" 2>/dev/null | wc -l) + 10 ))" > "$state/ip/$name"
    create port ;;
  "port delete "*) rm "$(grep -lx -- "$3" "$state"/port/*)" ;;
  "port show "*)
    if [[ ! -e $state/port/$3 ]]; then echo "No Port found for $3" >&2; exit 1; fi
    printf '{"fixed_ips": [{"subnet_id": "subnet-x", "ip_address": "%s"}]}\n' "$(<"$state/ip/$3")" ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"""

# curl's failure names the URL here, whole and in part, as a careless client might: the script must not pass
# either on.
CURL = r"""#!/bin/bash
echo "curl $*" >> "$STUB_DIR/calls"
args=("$@")
if [[ -n ${CURL_FAIL:-} ]]; then
  echo "curl: (22) The requested URL returned error: 401 for ${args[-1]}" >&2
  echo "curl: (47) Maximum (50) redirects followed from ${args[-1]%/*}/" >&2
  exit 22
fi
for ((i = 0; i < ${#args[@]}; i++)); do [[ ${args[i]} == -o ]] && printf 'QFI\xfb amphora' > "${args[i + 1]}"; done
true
"""


def _run(tmp_path: Path, hosts: str = "node-1 node-2", pool: tuple[str, str] = ("10.255.0.10", "10.255.255.250"),
         **stub_env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Runs the script as the chart's Job does (after its `set -ex`) against the state tmp_path holds; the calls
    of this run only."""
    bin_dir, work = tmp_path / "bin", tmp_path / "work"
    if not bin_dir.exists():
        bin_dir.mkdir()
        work.mkdir()
        (bin_dir / "openstack").write_text(OPENSTACK)
        (bin_dir / "curl").write_text(CURL)
        for tool in bin_dir.iterdir():
            tool.chmod(0o755)
    (tmp_path / "calls").write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STUB_DIR": str(tmp_path), **stub_env,
           "HOSTS": hosts, "MGMT_NETWORK": "lb-mgmt-net", "MGMT_CIDR": "10.255.0.0/16",
           "MGMT_POOL_START": pool[0], "MGMT_POOL_END": pool[1], "AMPHORA_IMAGE_URL": URL, "HM_PORT": "5555",
           "SERVICE_PROJECT": "service", "SERVICE_PROJECT_DOMAIN": "service",
           "TERMINATION_LOG": str(tmp_path / "termination"), "WORKDIR": str(work)}
    result = subprocess.run(["bash", "-c", "set -ex\n" + SCRIPT.read_text()], env=env, capture_output=True,
                            text=True, timeout=60)
    return result, (tmp_path / "calls").read_text().splitlines()


def _calls(calls: list[str], prefix: str) -> list[str]:
    return [call for call in calls if call.startswith(prefix)]


def _assert_url_hidden(result: subprocess.CompletedProcess[str]) -> None:
    for output in (result.stdout, result.stderr):
        assert URL not in output and "s3cr3t-pw" not in output and "mirror-user" not in output


def test_a_first_run_creates_everything_in_the_service_project_and_reports_it(tmp_path: Path) -> None:
    result, calls = _run(tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    svc = "--project service --project-domain service"
    for role in ("admin", "observer", "global_observer", "quota_admin", "member"):
        assert f"openstack role create --or-show load-balancer_{role}" in calls
    assert _calls(calls, "openstack network create") == [f"openstack network create {svc} lb-mgmt-net -f value -c id"]
    assert _calls(calls, "openstack subnet create") == [
        f"openstack subnet create {svc} --network network-lb-mgmt-net --subnet-range 10.255.0.0/16 --dhcp "
        "--allocation-pool start=10.255.0.10,end=10.255.255.250 lb-mgmt-net-subnet -f value -c id"]
    assert _calls(calls, "openstack security group create") == [
        f"openstack security group create {svc} lb-mgmt-sec-grp -f value -c id",
        f"openstack security group create {svc} lb-health-mgr-sec-grp -f value -c id"]
    assert _calls(calls, "openstack security group rule create") == [
        f"openstack security group rule create {svc} --ingress --protocol tcp --dst-port 9443 "
        "--remote-ip 10.255.0.0/16 sg-lb-mgmt-sec-grp",
        f"openstack security group rule create {svc} --ingress --protocol icmp --remote-ip 10.255.0.0/16 "
        "sg-lb-mgmt-sec-grp",
        f"openstack security group rule create {svc} --ingress --protocol udp --dst-port 5555 "
        "--remote-ip 10.255.0.0/16 sg-lb-health-mgr-sec-grp"]
    assert _calls(calls, "openstack flavor create") == [
        f"openstack flavor create --private {svc} --vcpus 1 --ram 1024 --disk 3 octavia-amphora -f value -c id"]
    # the image: what curl fetched, uploaded private to the service project with the tag octavia looks for
    assert _calls(calls, "curl ") == [f"curl -fsSL --retry 3 -o {tmp_path / 'work' / 'amphora.qcow2'} {URL}"]
    [upload] = _calls(calls, "openstack image create")
    assert upload.startswith("openstack image create --disk-format qcow2 --container-format bare --tag amphora "
                             f"--private {svc} --file {tmp_path / 'work' / 'amphora.qcow2'} octavia-amphora-2")
    assert (tmp_path / "uploaded").read_bytes() == b"QFI\xfb amphora"
    assert not (tmp_path / "work" / "amphora.qcow2").exists()
    # two ports per node, bound to it, with the health manager's group
    assert _calls(calls, "openstack port create") == [
        f"openstack port create {svc} --network network-lb-mgmt-net --security-group sg-lb-health-mgr-sec-grp "
        f"--device-owner Octavia:health-mgr --host {host} {kind}-port-{host} -f value -c id"
        for host in ("node-1", "node-2") for kind in ("octavia-health-manager", "octavia-worker")]
    assert _calls(calls, "openstack port delete") == []
    termination = (tmp_path / "termination").read_text()
    assert len(termination.strip().splitlines()) == 1
    assert json.loads(termination) == {
        "result": "Ready", "network_id": "network-lb-mgmt-net", "amphora_secgroup_id": "sg-lb-mgmt-sec-grp",
        "flavor_id": "flavor-octavia-amphora",
        "health_managers": {"node-1": "10.255.0.10", "node-2": "10.255.0.12"}}
    _assert_url_hidden(result)


def test_a_second_run_creates_nothing_and_reports_the_same(tmp_path: Path) -> None:
    first, _ = _run(tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    report = (tmp_path / "termination").read_text()
    (tmp_path / "termination").unlink()
    second, calls = _run(tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    changes = [call for call in calls if (" create " in call and "--or-show" not in call) or " delete " in call]
    assert changes == []
    assert _calls(calls, "curl") == []
    assert json.loads((tmp_path / "termination").read_text()) == json.loads(report)


def test_the_ports_of_a_node_that_left_are_deleted_and_others_kept(tmp_path: Path) -> None:
    first, _ = _run(tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    # a port on the network that is not the controllers' is none of the script's business
    (tmp_path / "state" / "port" / "some-other-port").write_text("port-other\n")
    result, calls = _run(tmp_path, hosts="node-1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(_calls(calls, "openstack port delete")) == [
        "openstack port delete port-octavia-health-manager-port-node-2",
        "openstack port delete port-octavia-worker-port-node-2"]
    assert _calls(calls, "openstack port create") == []
    assert sorted(path.name for path in (tmp_path / "state" / "port").iterdir()) == [
        "octavia-health-manager-port-node-1", "octavia-worker-port-node-1", "some-other-port"]
    assert json.loads((tmp_path / "termination").read_text())["health_managers"] == {"node-1": "10.255.0.10"}


def test_an_amphora_image_in_place_is_not_downloaded_again(tmp_path: Path) -> None:
    (tmp_path / "state" / "image").mkdir(parents=True)
    (tmp_path / "state" / "image" / "octavia-amphora-20250101").write_text("image-old\n")
    result, calls = _run(tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert _calls(calls, "curl") == [] and _calls(calls, "openstack image create") == []
    assert "openstack image list --tag amphora --status active -f value -c ID" in calls
    assert json.loads((tmp_path / "termination").read_text())["result"] == "Ready"


def test_without_both_ends_of_the_pool_the_subnet_has_no_allocation_pool(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, pool=("10.255.0.10", ""))
    assert result.returncode == 0, result.stderr[-2000:]
    [subnet] = _calls(calls, "openstack subnet create")
    assert "--allocation-pool" not in subnet and "--subnet-range 10.255.0.0/16 --dhcp" in subnet


def test_a_failed_download_fails_the_job_without_naming_the_url(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, CURL_FAIL="1")
    assert result.returncode != 0
    assert ("the amphora image could not be downloaded from features.octavia.amphora_image_url" in result.stderr)
    assert "401" in result.stderr  # curl's reason stays, with the URL taken out
    _assert_url_hidden(result)
    assert not (tmp_path / "termination").exists()
    assert _calls(calls, "openstack image create") == [] and _calls(calls, "openstack port create") == []


def test_a_failed_command_fails_the_job_and_reports_nothing(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, STUB_FAIL="flavor create")
    assert result.returncode != 0
    assert "Internal Server Error" in result.stderr
    assert not (tmp_path / "termination").exists()
    assert _calls(calls, "openstack image") == []
