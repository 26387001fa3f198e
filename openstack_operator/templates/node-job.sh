# What the node process's Jobs run (with the OpenStack client image of the deployment's release and the admin
# credentials of keystone-keystone-admin): `node-job.sh ACTION NODE [ROLES]`, ROLES a comma list of
# compute,network. Every action is idempotent: a Job run twice does what a single run does.
# OpenStack knows a node by its host name, which is the Kubernetes node name or its FQDN (OpenStack-Helm's
# default): both are matched.
set -euo pipefail

action=$1 node=$2 roles=${3:-}
reason="openstack-operator: node ${node} ${action}"

has_role() { [[ ",${roles}," == *",$1,"* ]]; }

# "<id> <host>" lines on stdin -> the ids whose host is the node or its FQDN
of_node() { awk -v n="$node" '$2 == n || index($2, n ".") == 1 { print $1 }'; }
hosts_of_node() { awk -v n="$node" '$1 == n || index($1, n ".") == 1 { print $1 }' | sort -u; }

compute_hosts() { openstack compute service list --service nova-compute -f value -c Host | hosts_of_node; }

set_compute() {  # enable | disable
  for host in $(compute_hosts); do
    if [[ $1 == disable ]]; then
      openstack compute service set --disable --disable-reason "${reason}" "${host}" nova-compute
    else
      openstack compute service set --enable "${host}" nova-compute
    fi
  done
}

set_agents() {  # enable | disable
  for id in $(openstack network agent list -f value -c ID -c Host | of_node); do
    openstack network agent set "--$1" "${id}"
  done
}

servers_on_node() {
  for host in $(compute_hosts); do
    openstack server list --all-projects --host "${host}" -f value -c ID -c Status
  done
}

migrate() {
  # Live-migrate running instances, cold-migrate stopped ones; the scheduler picks the targets (the compute
  # service of this node is disabled first, so none lands here again). Anything else stops the Job: a person
  # decides about instances in error or mid-operation.
  servers_on_node | while read -r id status; do
    case "${status}" in
      ACTIVE|PAUSED) openstack server migrate --live-migration --wait "${id}" ;;
      SHUTOFF) openstack server migrate --wait "${id}" && openstack server resize confirm "${id}" ;;
      *) echo "instance ${id} is ${status}: not migrated" >&2; exit 1 ;;
    esac
  done
  left=$(servers_on_node | wc -l)
  if [[ ${left} -ne 0 ]]; then
    echo "${left} instances are still on ${node}" >&2
    exit 1
  fi
}

cleanup() {
  # The node is gone for good: its compute services (nova refuses while instances are recorded on the host),
  # network agents, volume services (the block storage API cannot delete them: they are disabled) and the
  # placement resource providers nova left.
  for id in $(openstack compute service list --service nova-compute -f value -c ID -c Host | of_node); do
    openstack compute service delete "${id}"
  done
  for id in $(openstack network agent list -f value -c ID -c Host | of_node); do
    openstack network agent delete "${id}"
  done
  openstack volume service list -f value -c Binary -c Host | while read -r binary host; do
    if [[ ${host%%@*} == "${node}" || ${host%%@*} == "${node}".* ]]; then
      openstack volume service set --disable --disable-reason "${reason}" "${host}" "${binary}"
    fi
  done
  for id in $(openstack resource provider list -f value -c uuid -c name | of_node); do
    openstack resource provider delete "${id}"
  done
}

case "${action}" in
  disable) if has_role compute; then set_compute disable; fi; if has_role network; then set_agents disable; fi ;;
  migrate) migrate ;;
  enable) if has_role compute; then set_compute enable; fi; if has_role network; then set_agents enable; fi ;;
  cleanup) cleanup ;;
  *) echo "unknown action ${action}" >&2; exit 2 ;;
esac
echo "${action} of ${node}: done"
