# What the ironic chart's bootstrap Job runs (its bootstrap.image.script, after the chart's `set -ex`), as the admin
# user, on every install and upgrade of the release: the provisioning and cleaning network nodes boot on, and the
# ironic-python-agent images they boot, found by name and created only when missing (a re-run changes nothing; a
# network an administrator changed is left as it is). Any failed command fails the Job, which Helm reports.
# Set before this part: NETWORK, PHYSNET, NETWORK_TYPE, SEGMENTATION_ID, MTU (both may be empty), EXTERNAL, SHARED
# (true/false), SUBNET, SUBNET_RANGE, POOL_START, POOL_END, GATEWAY, KERNEL_URL, INITRAMFS_URL.
# tests/unit/test_ironic_bootstrap_script.py runs this with stand-ins for `openstack` and `curl`.
set +x  # the chart traces every command: the image URLs may be a mirror's, never print them
set -euo pipefail
workdir=${WORKDIR:-/tmp}

net=$(openstack network list --name "${NETWORK}" -f value -c ID | awk 'NR == 1')
if [[ -z ${net} ]]; then
  args=(--provider-network-type "${NETWORK_TYPE}" --provider-physical-network "${PHYSNET}")
  if [[ -n ${SEGMENTATION_ID} ]]; then args+=(--provider-segment "${SEGMENTATION_ID}"); fi
  if [[ -n ${MTU} ]]; then args+=(--mtu "${MTU}"); fi
  if [[ ${EXTERNAL} == true ]]; then args+=(--external); else args+=(--internal); fi
  if [[ ${SHARED} == true ]]; then args+=(--share); else args+=(--no-share); fi
  net=$(openstack network create "${args[@]}" "${NETWORK}" -f value -c id)
  echo "created network ${NETWORK} (${net})"
fi
subnet=$(openstack subnet list --network "${net}" --name "${SUBNET}" -f value -c ID | awk 'NR == 1')
if [[ -z ${subnet} ]]; then
  # DHCP on: nodes being provisioned or cleaned get their address, and where to boot from, from neutron
  openstack subnet create --network "${net}" --subnet-range "${SUBNET_RANGE}" --gateway "${GATEWAY}" --dhcp \
    --allocation-pool "start=${POOL_START},end=${POOL_END}" "${SUBNET}" -f value -c id >/dev/null
  echo "created subnet ${SUBNET}"
fi

# The deploy kernel and ramdisk (ari/aki, as ironic's install guide registers them), public: every project's nodes
# boot them.
upload() {  # upload <image name> <URL> <disk and container format>
  if [[ -n $(openstack image list --name "$1" -f value -c ID) ]]; then
    return 0
  fi
  # curl's own errors may repeat the URL: only the name is reported
  if ! curl --fail --silent --show-error --location --retry 3 -o "${workdir}/$1" "$2" 2>/dev/null; then
    echo "downloading the image for $1 failed (features.ironic.agent_images)" >&2
    return 1
  fi
  openstack image create "$1" --disk-format "$3" --container-format "$3" --public --file "${workdir}/$1" \
    -f value -c id >/dev/null
  rm -f "${workdir}/$1"
  echo "uploaded $1"
}
upload ironic-agent.kernel "${KERNEL_URL}" aki
upload ironic-agent.initramfs "${INITRAMFS_URL}" ari
