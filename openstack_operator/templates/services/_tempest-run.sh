# What the tempest chart's run-tests Job runs (its conf.script, templates/services/tempest.yaml.j2): the resources
# the tests need, tempest itself within a time budget, and a summary of the run as the container's termination
# message, which the helmbundle process copies to the osdpl's status.tempest. A failed test is a result, not a
# failure of the Job: the Job fails only when tempest could not run (so Helm reports it and retries).
# Set before this part: BUDGET_SECONDS (the run's share of the release's Helm timeout) and RUN_ARGS. The paths
# below are the pod's; tests/unit/test_tempest_script.py runs this with its own.
set -euo pipefail
set +x  # the chart's run-tests.sh traces every command: an image URL of a mirror may hold its credentials
tmp=${TEMPEST_TMP:-/tmp}
conf=${tmp}/tempest.conf  # the chart's tempest.conf, with the IDs of what is created here added
cp "${TEMPEST_CONF_SOURCE:-/etc/tempest/tempest.conf}" "${conf}"
mkdir -p "${tmp}/tempest-work"
cd "${tmp}/tempest-work"

cat > "${tmp}/tempest_conf.py" <<'PY'
"""`get SECTION KEY` prints a value of tempest.conf (empty when unset); `default SECTION KEY VALUE` sets it unless
the file sets it already (a value the deployment's overrides named wins)."""
import configparser
import sys

path, action, section, key = sys.argv[1:5]
parser = configparser.ConfigParser(strict=False, interpolation=None)
parser.read(path)
if action == "get":
    print(parser.get(section, key, fallback=""))
    sys.exit(0)
if parser.has_option(section, key):
    sys.exit(0)
lines = open(path).read().splitlines()
header = f"[{section}]"
entry = f"{key} = {sys.argv[5]}"
if header in lines:
    lines.insert(lines.index(header) + 1, entry)
else:
    lines += [header, entry]
open(path, "w").write("\n".join(lines) + "\n")
PY
conf_get() { python3 "${tmp}/tempest_conf.py" "${conf}" get "$1" "$2"; }
conf_default() { python3 "${tmp}/tempest_conf.py" "${conf}" default "$1" "$2" "$3"; }
available() { [[ $(conf_get service_available "$1" | tr '[:upper:]' '[:lower:]') == true ]]; }

# By name, so that every run finds what an earlier one made (and never makes it twice).
if available glance; then
  image=$(openstack image list --name tempest-image -f value -c ID | awk 'NR == 1')
  if [[ -z ${image} ]]; then
    url=$(conf_get image http_image)
    python3 - "${url}" "${tmp}/tempest-image" <<'PY'
import shutil, sys, urllib.request
shutil.copyfileobj(urllib.request.urlopen(sys.argv[1], timeout=300), open(sys.argv[2], "wb"))
PY
    image=$(openstack image create tempest-image --public --disk-format qcow2 --container-format bare \
      --file "${tmp}/tempest-image" -f value -c id)
    rm -f "${tmp}/tempest-image"
  fi
  conf_default compute image_ref "${image}"
  conf_default compute image_ref_alt "${image}"
fi
if available nova; then
  for flavor in tempest-flavor:192 tempest-flavor-alt:256; do
    name=${flavor%%:*}
    id=$(openstack flavor list --all -f value -c ID -c Name | awk -v n="${name}" '$2 == n { print $1 }')
    if [[ -z ${id} ]]; then
      id=$(openstack flavor create "${name}" --ram "${flavor##*:}" --disk 1 --vcpus 1 --public -f value -c id)
    fi
    key=flavor_ref
    [[ ${name} == tempest-flavor-alt ]] && key=flavor_ref_alt
    conf_default compute "${key}" "${id}"
  done
fi
public=$(conf_get network floating_network_name)
if available neutron && [[ -n ${public} ]]; then
  conf_default network public_network_id "$(openstack network show "${public}" -f value -c id)"
fi

tempest cleanup --init-saved-state
started=$(date +%s)
rc=0
timeout "${BUDGET_SECONDS}" tempest run --config-file "${conf}" ${RUN_ARGS} > "${tmp}/tempest.log" 2>&1 || rc=$?
cat "${tmp}/tempest.log"
tempest cleanup || echo "tempest cleanup failed: what the tests left stays" >&2

python3 - "${rc}" "$(( $(date +%s) - started ))" "${tmp}/tempest.log" "${TERMINATION_LOG:-/dev/termination-log}" \
  <<'PY'
"""The run's summary as the termination message (at most 4096 bytes: failed tests beyond that are left out)."""
import json
import re
import sys

rc, seconds, log_path, termination_log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
log = open(log_path, errors="replace").read()
counts = {key: int(value) for key, value in
          re.findall(r"^ - (Passed|Skipped|Failed|Unexpected Success): (\d+)$", log, re.MULTILINE)}
# "{1} tempest.api...test_x[id-...,smoke] [0.5s] ... FAILED", or "{1} setUpClass (tempest.api...XTest) [0.0s] ..."
failed = [re.sub(r"\[[^\]]*\]$", "", name) for name in
          re.findall(r"^\{\d+\} (.+?)(?: \[[\d.]+s\])? \.\.\. FAILED$", log, re.MULTILINE)]
if rc == 124:
    result = "TimedOut"
elif not counts:
    print("tempest did not run: no totals in its output", file=sys.stderr)
    sys.exit(1)
else:
    result = "Failed" if counts.get("Failed") or counts.get("Unexpected Success") or rc else "Passed"
summary = {"result": result, "passed": counts.get("Passed", 0), "failed": counts.get("Failed", 0),
           "skipped": counts.get("Skipped", 0), "seconds": seconds, "failed_tests": failed}
while len(json.dumps(summary)) > 4000 and summary["failed_tests"]:
    summary["failed_tests"].pop()
with open(termination_log, "w") as log_file:
    json.dump(summary, log_file)
print("summary:", json.dumps(summary))
PY
