# What the node process's Jobs run (with the OpenStack client image of the deployment's release and the admin
# credentials of keystone-keystone-admin): `node-job.sh ACTION NODE [ROLES]`, ROLES a comma list of the roles to
# act on (compute, network). Every action is idempotent: a Job run twice does what a single run does.
# OpenStack knows a node by its host name, which is the Kubernetes node name or its FQDN (OpenStack-Helm's
# default): both are matched. Every listing is assigned before it is used, so that a failed API call fails the Job
# (a command substitution in a `for` list would not). `openstack -f value` prints the chosen columns in the order of
# the table, whatever the order of the -c options: they are written in that order here.
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(...) fails the substitution too

action=$1 node=$2 roles=${3:-}
mark="openstack-operator:"  # the disabled reason this Job sets; `enable` enables only what carries it
reason="${mark} node ${node} ${action}"

has_role() { [[ ",${roles}," == *",$1,"* ]]; }

# lines on stdin -> those whose field $1 (default 1) is the node's name or FQDN
of_node() { awk -v n="$node" -v f="${1:-1}" '$f == n || index($f, n ".") == 1'; }

compute_hosts() {  # the node's nova-compute hosts; none for a node with the compute role is an error
  local listed hosts
  listed=$(openstack compute service list --service nova-compute -f value -c Host)
  hosts=$(of_node <<< "${listed}" | sort -u)
  if [[ -z ${hosts} ]]; then
    echo "no nova-compute service of ${node} (nor of its FQDN) is registered" >&2
    return 1
  fi
  echo "${hosts}"
}

disable_compute() {
  local hosts
  hosts=$(compute_hosts)
  for host in ${hosts}; do
    openstack compute service set --disable --disable-reason "${reason}" "${host}" nova-compute
  done
}

enable_compute() {  # only a service this operator disabled: one an admin disabled for a reason of theirs stays so
  local listed host
  listed=$(openstack compute service list --service nova-compute --long -f value -c Host -c Status \
    -c "Disabled Reason")
  of_node <<< "${listed}" | while read -r host status why; do
    if [[ ${status} == disabled && ${why} == "${mark}"* ]]; then
      openstack compute service set --enable "${host}" nova-compute
    fi
  done
}

agents_of_node() {  # "<id>" lines
  local listed
  listed=$(openstack network agent list -f value -c ID -c Host)
  of_node 2 <<< "${listed}" | awk '{ print $1 }'
}

set_agents() {  # enable | disable
  local ids
  ids=$(agents_of_node)
  for id in ${ids}; do
    openstack network agent set "--$1" "${id}"
  done
}

servers_on_node() {  # "<id> <status>" lines
  local hosts
  hosts=$(compute_hosts)
  for host in ${hosts}; do
    openstack server list --all-projects --host "${host}" -f value -c ID -c Status
  done
}

migrate() {
  # Live-migrate running instances, cold-migrate stopped ones; the scheduler picks the targets (the compute
  # service of this node is disabled first, so none lands here again). Anything else stops the Job: a person
  # decides about instances that are paused, in error or mid-operation.
  local servers left
  servers=$(servers_on_node)
  while read -r id status; do
    case "${status}" in
      "") ;;
      ACTIVE) openstack server migrate --live-migration --wait "${id}" ;;
      SHUTOFF) openstack server migrate --wait "${id}" && openstack server resize confirm "${id}" ;;
      *) echo "instance ${id} is ${status}: not migrated" >&2; return 1 ;;
    esac
  done <<< "${servers}"
  left=$(servers_on_node)
  if [[ -n ${left} ]]; then
    echo "instances still on ${node}: ${left//$'\n'/, }" >&2
    return 1
  fi
}

cleanup() {
  # The node is gone for good: its compute services (nova refuses while instances are recorded on the host),
  # network agents, volume services (the block storage API cannot delete them: they are disabled) and the
  # placement resource providers nova left. Nothing of the node left (a second run) is success.
  local listed ids
  listed=$(openstack compute service list --service nova-compute -f value -c ID -c Host)
  ids=$(of_node 2 <<< "${listed}" | awk '{ print $1 }')
  for id in ${ids}; do
    openstack compute service delete "${id}"
  done
  ids=$(agents_of_node)
  for id in ${ids}; do
    openstack network agent delete "${id}"
  done
  listed=$(openstack volume service list -f value -c Binary -c Host)
  while read -r binary host; do
    if [[ -n ${host} && ( ${host%%@*} == "${node}" || ${host%%@*} == "${node}".* ) ]]; then
      openstack volume service set --disable --disable-reason "${reason}" "${host}" "${binary}"
    fi
  done <<< "${listed}"
  listed=$(openstack resource provider list -f value -c uuid -c name)
  ids=$(of_node 2 <<< "${listed}" | awk '{ print $1 }')
  for id in ${ids}; do
    openstack resource provider delete "${id}"
  done
}

case "${action}" in
  disable) if has_role compute; then disable_compute; fi; if has_role network; then set_agents disable; fi ;;
  migrate) migrate ;;
  enable) if has_role compute; then enable_compute; fi; if has_role network; then set_agents enable; fi ;;
  cleanup) cleanup ;;
  *) echo "unknown action ${action}" >&2; exit 2 ;;
esac
echo "${action} of ${node}: done"
