# What the node process's Jobs run (with the OpenStack client image of the deployment's release and the admin
# credentials of keystone-keystone-admin): `node-job.sh ACTION NODE [ROLES]`, ROLES a comma list of the roles to
# act on (compute, network); INSTANCE_HA=1 when the deployment runs masakari (instance-ha). Every action is
# idempotent: a Job run twice does what a single run does.
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
  local listed host status why ours=()
  listed=$(openstack compute service list --service nova-compute --long -f value -c Host -c Status \
    -c "Disabled Reason")
  while read -r host status why; do
    if [[ ${status} == disabled && ${why} == "${mark}"* ]]; then
      ours+=("${host}")
    fi
  done <<< "$(of_node <<< "${listed}")"
  # masakari first: a failure leaves nova's services disabled with the mark, so that a rerun finds them again
  if [[ ${#ours[@]} -gt 0 && ${INSTANCE_HA:-} == 1 ]]; then
    masakari_hosts false
  fi
  for host in "${ours[@]}"; do
    openstack compute service set --enable "${host}" nova-compute
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

masakari_hosts() {  # on_maintenance true | false, or delete: the node's hosts in every masakari failover segment
  # masakari's API with the admin's token, through Python's standard library: the client image has Python but not
  # necessarily masakari's client plugin. Its hosts are named as nova's compute hosts: the node's name or FQDN.
  local token project url
  read -r token project < <(openstack token issue -f value -c id -c project_id)
  url=$(openstack endpoint list --service instance-ha --interface internal -f value -c URL)
  if [[ -z ${url} ]]; then
    echo "no internal endpoint of the instance-ha service is registered" >&2
    return 1
  fi
  OS_TOKEN=${token} python3 - "$1" "${node}" "${url//%(tenant_id)s/${project}}" <<'PY'
import json, os, sys, urllib.error, urllib.request

what, node, base = sys.argv[1], sys.argv[2], sys.argv[3].rstrip("/")

def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"X-Auth-Token": os.environ["OS_TOKEN"], "Content-Type": "application/json"}
    request = urllib.request.Request(base + path, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read()
    except urllib.error.HTTPError as error:  # masakari's own answer, e.g. 409 for a host with a recovery at work
        sys.exit(f"masakari: {method} {path}: HTTP {error.code} {error.read().decode(errors='replace')[:500]}")
    except OSError as error:
        sys.exit(f"masakari: {method} {path}: {error}")
    return json.loads(text) if text else {}

for segment in call("GET", "/segments")["segments"]:
    for host in call("GET", f"/segments/{segment['uuid']}/hosts")["hosts"]:
        if host["name"] != node and not host["name"].startswith(node + "."):
            continue
        path = f"/segments/{segment['uuid']}/hosts/{host['uuid']}"
        if what == "delete":
            call("DELETE", path)
        else:
            call("PUT", path, {"host": {"on_maintenance": what == "true"}})
        print(f"masakari: host {host['name']} of segment {segment['name']}: "
              + ("deleted" if what == "delete" else f"on_maintenance {what}"))
PY
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
  # The node is gone for good: its masakari hosts (with INSTANCE_HA), its compute services (nova refuses while
  # instances are recorded on the host), network agents, volume services (the block storage API cannot delete them:
  # they are disabled) and the placement resource providers nova left. Nothing of the node left (a second run) is
  # success.
  local listed ids
  if [[ ${INSTANCE_HA:-} == 1 ]]; then
    masakari_hosts delete
  fi
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
  disable)
    if has_role compute; then
      # masakari first: an instance that fails while it is migrated away is not evacuated onto the move
      if [[ ${INSTANCE_HA:-} == 1 ]]; then masakari_hosts true; fi
      disable_compute
    fi
    if has_role network; then set_agents disable; fi ;;
  migrate) migrate ;;
  enable) if has_role compute; then enable_compute; fi; if has_role network; then set_agents enable; fi ;;
  cleanup) cleanup ;;
  *) echo "unknown action ${action}" >&2; exit 2 ;;
esac
echo "${action} of ${node}: done"
