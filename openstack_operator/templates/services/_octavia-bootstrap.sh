# What the octavia chart's bootstrap Job runs (its bootstrap.script, after the chart's `set -ex`), as the admin
# user, on every install and upgrade of the release: the cloud objects octavia's controllers and amphorae need,
# found by name and created only when missing (a re-run changes nothing), and their IDs as the container's
# termination message, which the helmbundle process copies to the osdpl's status. Any failed command fails the
# Job, which the chart retries and Helm reports; the report is written only once everything is in place.
# Set before this part: HOSTS, MGMT_NETWORK, MGMT_CIDR, MGMT_POOL_START, MGMT_POOL_END, AMPHORA_IMAGE_URL, HM_PORT,
# SERVICE_PROJECT, SERVICE_PROJECT_DOMAIN. tests/unit/test_octavia_bootstrap_script.py runs this with its own
# TERMINATION_LOG and WORKDIR.
set +x  # the chart traces every command: the image URL may hold a mirror's credentials, never print it
set -euo pipefail
workdir=${WORKDIR:-/tmp}
# Octavia's own user (service project) boots the amphorae: what they use is owned by that project, as in
# octavia's install guide, so that nova and glance find it from there.
svc=(--project "${SERVICE_PROJECT}" --project-domain "${SERVICE_PROJECT_DOMAIN}")
# The ID of the line whose second column (the name) is $1, in the `-f value -c ID -c Name` output on stdin.
named() { awk -v n="$1" '$2 == n && !found++ { print $1 }'; }

# The roles octavia's policy checks (what the chart's default bootstrap script, which this one replaces, made).
for role in admin observer global_observer quota_admin member; do
  openstack role create --or-show "load-balancer_${role}" >/dev/null
done

net=$(openstack network list "${svc[@]}" --name "${MGMT_NETWORK}" -f value -c ID | awk 'NR == 1')
if [[ -z ${net} ]]; then
  net=$(openstack network create "${svc[@]}" "${MGMT_NETWORK}" -f value -c id)
fi
subnet=$(openstack subnet list --network "${net}" --name "${MGMT_NETWORK}-subnet" -f value -c ID | awk 'NR == 1')
if [[ -z ${subnet} ]]; then
  pool=()
  if [[ -n ${MGMT_POOL_START} && -n ${MGMT_POOL_END} ]]; then
    pool=(--allocation-pool "start=${MGMT_POOL_START},end=${MGMT_POOL_END}")
  fi
  openstack subnet create "${svc[@]}" --network "${net}" --subnet-range "${MGMT_CIDR}" --dhcp "${pool[@]}" \
    "${MGMT_NETWORK}-subnet" -f value -c id >/dev/null
fi

# The amphorae answer the controllers on the agent's port (and to ping); the controllers' ports take the
# amphorae's heartbeats. Rules are made with their group only: rules changed by hand afterwards are kept.
groups=$(openstack security group list "${svc[@]}" -f value -c ID -c Name)
amp_sg=$(named lb-mgmt-sec-grp <<< "${groups}")
if [[ -z ${amp_sg} ]]; then
  amp_sg=$(openstack security group create "${svc[@]}" lb-mgmt-sec-grp -f value -c id)
  openstack security group rule create "${svc[@]}" --ingress --protocol tcp --dst-port 9443 \
    --remote-ip "${MGMT_CIDR}" "${amp_sg}" >/dev/null
  openstack security group rule create "${svc[@]}" --ingress --protocol icmp --remote-ip "${MGMT_CIDR}" \
    "${amp_sg}" >/dev/null
fi
hm_sg=$(named lb-health-mgr-sec-grp <<< "${groups}")
if [[ -z ${hm_sg} ]]; then
  hm_sg=$(openstack security group create "${svc[@]}" lb-health-mgr-sec-grp -f value -c id)
  openstack security group rule create "${svc[@]}" --ingress --protocol udp --dst-port "${HM_PORT}" \
    --remote-ip "${MGMT_CIDR}" "${hm_sg}" >/dev/null
fi

# Private: only octavia boots amphorae of this size.
flavor=$(openstack flavor list --all -f value -c ID -c Name | named octavia-amphora)
if [[ -z ${flavor} ]]; then
  flavor=$(openstack flavor create --private "${svc[@]}" --vcpus 1 --ram 1024 --disk 3 octavia-amphora \
    -f value -c id)
fi

# Octavia boots the newest active image with the tag; an upload cut short (not active) does not count.
if [[ -z $(openstack image list --tag amphora --status active -f value -c ID) ]]; then
  image_file=${workdir}/amphora.qcow2
  if [[ -z ${AMPHORA_IMAGE_URL} ]] \
      || ! curl -fsSL --retry 3 -o "${image_file}" "${AMPHORA_IMAGE_URL}" 2> "${workdir}/curl.err"; then
    # curl's own reason, with the URL and its credentials taken out should it ever name them
    reason=$(cat "${workdir}/curl.err" 2>/dev/null || true)
    userinfo=${AMPHORA_IMAGE_URL#*://}
    userinfo=${userinfo%%/*}
    reason=${reason//"${AMPHORA_IMAGE_URL}"/<url>}
    if [[ ${userinfo} == *@* ]]; then reason=${reason//"${userinfo%@*}"/<credentials>}; fi
    echo "the amphora image could not be downloaded from features.octavia.amphora_image_url: ${reason}" >&2
    exit 1
  fi
  openstack image create --disk-format qcow2 --container-format bare --tag amphora --private "${svc[@]}" \
    --file "${image_file}" "octavia-amphora-$(date -u +%Y%m%d)" -f value -c id >/dev/null
  rm -f "${image_file}" "${workdir}/curl.err"
fi

# One health manager port and one worker port per controller node, named as the chart's init containers look
# them up (by `hostname -s`) and bound to that node; those of a node that no longer runs the controllers go.
prefixes=(octavia-health-manager-port- octavia-worker-port-)
ports=$(openstack port list "${svc[@]}" --network "${net}" -f value -c ID -c Name)
while read -r id name; do
  for prefix in "${prefixes[@]}"; do
    if [[ ${name} == "${prefix}"* && " ${HOSTS} " != *" ${name#"${prefix}"} "* ]]; then
      openstack port delete "${id}"
    fi
  done
done <<< "${ports}"
managers=()
for host in ${HOSTS}; do
  for prefix in "${prefixes[@]}"; do
    if [[ -z $(named "${prefix}${host}" <<< "${ports}") ]]; then
      openstack port create "${svc[@]}" --network "${net}" --security-group "${hm_sg}" \
        --device-owner Octavia:health-mgr --host "${host}" "${prefix}${host}" -f value -c id >/dev/null
    fi
  done
  # the health manager's address, which the amphorae send their heartbeats to (controller_ip_port_list); by
  # name, as the chart's init containers find it
  managers+=("${host}" "$(openstack port show "${prefixes[0]}${host}" -f json -c fixed_ips \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["fixed_ips"][0]["ip_address"])')")
done

python3 - "${TERMINATION_LOG:-/dev/termination-log}" "${net}" "${amp_sg}" "${flavor}" "${managers[@]}" <<'PY'
"""The IDs octavia's configuration names, and each controller node's health manager address, as one line."""
import json
import sys

path, network, secgroup, flavor, *managers = sys.argv[1:]
report = {"result": "Ready", "network_id": network, "amphora_secgroup_id": secgroup, "flavor_id": flavor,
          "health_managers": dict(zip(managers[::2], managers[1::2]))}
with open(path, "w") as log_file:
    log_file.write(json.dumps(report) + "\n")
print("octavia bootstrap:", json.dumps(report))
PY
