"""Each service of the newer waves, added to a running deployment through `features.services`: its releases
install from the real charts, the osdpl is Ready with every workload its releases installed Ready in `status.health`
(read from Helm for the catalog's charts of the service: a new service names itself, nothing more), and one of its
features takes effect in what the chart deployed. The shared deployment is reset afterwards (the service removed);
a feature fixed at creation (the key manager's store) gets a deployment of its own."""

from __future__ import annotations

import base64
import configparser
import json
from typing import Any

import yaml

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.releases.bundles import values_secret_name
from openstack_operator.core.rendering.renderer import release_name
from openstack_operator.core.secrets.ceph import (CINDER_KEYRING_SECRET, CONFIGMAP, GLANCE_KEYRING_SECRET,
                                                  MANILA_KEYRING_SECRET)
from openstack_operator.core.secrets.credentials import aes256_key
from openstack_operator.kube.ceph import copy_name

from ..osdpl_cases import VAULT

from .conftest import DEPLOY_TIMEOUT, Deployment, Helm, Kubectl, Operators, minimal, wait_for


def _secret_file(kubectl: Kubectl, namespace: str, secret: str, key: str) -> str:
    return base64.b64decode(kubectl.json("-n", namespace, "get", "secret", secret)["data"][key]).decode()


def _credential(kubectl: Kubectl, namespace: str, osdpl: str, name: str) -> str:
    """A credential's password from the secrets process's Secret (records are JSON: username, password)."""
    record = json.loads(_secret_file(kubectl, namespace, f"{osdpl}-credentials", name))
    return str(record["password"])


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
STORAGE_KEYS = "storage-ceph-keys"  # the storage side's Secret, in the deployment's own namespace


def _assert_service_deployed(deployment: Deployment, helm: Helm, kubectl: Kubectl, service: str) -> None:
    """What the service's releases installed (read from Helm for the catalog's charts of the service, not listed by
    hand): every workload Ready in `status.health` under its application and component labels, and every route's
    backend a Service of the namespace with that port."""
    osdpl = deployment.get()
    health = osdpl["status"]["health"]
    objects = [obj for chart in Catalog.load().services[service].charts_for(osdpl["spec"]["features"])
               for obj in helm.manifest(deployment.namespace, release_name(chart.name))]
    expected = {((obj["metadata"].get("labels") or {}).get("application", ""),
                 (obj["metadata"].get("labels") or {}).get("component", ""))
                for obj in objects if obj.get("kind") in WORKLOAD_KINDS}
    assert expected, f"{service}: its releases installed no workload"
    unready = {f"{app}/{component}": health.get(app, {}).get(component) for app, component in sorted(expected)
               if health.get(app, {}).get(component, {}).get("state") != "Ready"}
    assert not unready, unready
    services = {s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]}
                for s in kubectl.json("-n", deployment.namespace, "get", "services")["items"]}
    backends = [(ref["name"], ref["port"]) for obj in objects if obj.get("kind") == "HTTPRoute"
                for rule in obj["spec"]["rules"] for ref in rule["backendRefs"]]
    assert [backend for backend in backends if backend[1] not in services.get(backend[0], set())] == []


def _reset_and_wait_uninstalled(deployment: Deployment, operators: Operators, helm: Helm, *releases: str) -> None:
    """The shared deployment back to its base manifest, and the releases a test added gone."""
    deployment.reset()
    wait_for(f"{', '.join(releases)} uninstalled", lambda: not set(releases) & set(helm.releases(
        deployment.namespace)), operators, timeout=DEPLOY_TIMEOUT)


def test_key_manager_deploys_with_its_own_kek(deployment: Deployment, operators: Operators, helm: Helm,
                                              kubectl: Kubectl) -> None:
    namespace = deployment.namespace
    deployment.merge_patch({"spec": {"features": {"services": ["key-manager"]}}})
    wait_for("barbican installed", lambda: "openstack-barbican" in helm.releases(namespace), operators)
    wait_for("Ready with the key manager", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
             describe=lambda: deployment.get().get("status"))
    _assert_service_deployed(deployment, helm, kubectl, "key-manager")
    # The deployment's own KEK, never the chart's well-known default: the credential, base64-encoded.
    conf = configparser.ConfigParser(strict=False, interpolation=None)
    conf.read_string(_secret_file(kubectl, namespace, "barbican-etc", "barbican.conf"))
    kek = _credential(kubectl, namespace, deployment.name, "barbican_kek")
    assert conf["simple_crypto_plugin"]["kek"] == aes256_key(kek)
    assert len(base64.b64decode(conf["simple_crypto_plugin"]["kek"])) == 32
    backend = kubectl.json("-n", namespace, "get", "httproute", "barbican")["spec"]["rules"][0]["backendRefs"][0]
    assert (backend["name"], backend["port"]) == ("barbican-api", 9311)


def test_the_key_managers_vault_store_takes_its_approle_from_a_secret_of_the_namespace(
        namespace: str, operators: Operators, kubectl: Kubectl) -> None:
    """What the chart makes of these values is the conformance test's (tests/conformance/test_services.py): here the
    operator reads the referenced Secret for real and renders its values, which takes no install."""
    manifest = minimal("osh-vault")
    manifest["spec"]["features"] = {"services": ["key-manager"], "barbican": {"backends": {"vault": VAULT}}}
    deployment = Deployment(kubectl, namespace, manifest)
    deployment.apply()
    wait_for("waiting for the AppRole's Secret", lambda: deployment.condition("Progressing").get("reason") ==
             "WaitingForReferencedSecrets", operators)
    assert f"Secret {namespace}/vault-approle" in deployment.condition("Progressing")["message"]
    assert kubectl.json("-n", namespace, "get", "helmbundles")["items"] == []
    kubectl.run("-n", namespace, "create", "secret", "generic", "vault-approle", "--from-literal=role_id=role-7a3e",
                "--from-literal=secret_id=secret-51f0")
    values_secret = values_secret_name("osh-vault", "key-manager")
    wait_for("the key manager's values written", lambda: values_secret in {
        s["metadata"]["name"] for s in kubectl.json("-n", namespace, "get", "secrets")["items"]}, operators)
    values = yaml.safe_load(_secret_file(kubectl, namespace, values_secret, "openstack-barbican"))
    assert values["conf"]["barbican"]["secretstore"]["enabled_secretstore_plugins"] == "vault_plugin"
    vault = values["conf"]["barbican"]["vault_plugin"]
    assert (vault["approle_role_id"], vault["approle_secret_id"]) == ("role-7a3e", "secret-51f0")
    assert "secret-51f0" not in json.dumps(deployment.get())  # neither in the spec nor on the status


def test_networking_on_ovn_is_ready_with_a_controller_on_every_open_vswitch_node_and_keeps_its_backend(
        namespace: str, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    """A deployment created on OVN (the backend is fixed at creation, so not the shared one): OVN's databases,
    northd and per-node controllers, neutron's OVN metadata agents and no Open vSwitch agent; the node process counts
    every controller's node in the network role."""
    manifest = minimal("osh-ovn")
    manifest["spec"]["features"] = {"neutron": {"backend": "ml2/ovn"}}
    deployment = Deployment(kubectl, namespace, manifest)
    deployment.apply()
    wait_for("Ready on OVN", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
             describe=lambda: (deployment.get().get("status") or {}).get("conditions"))
    releases = helm.releases(namespace)
    assert {"openstack-openvswitch", "openstack-ovn", "openstack-neutron"} <= set(releases), releases
    _assert_service_deployed(deployment, helm, kubectl, "networking")
    # other tests add and remove nodes: the DaemonSets' status and the inventory follow shortly
    nodes = {n["metadata"]["name"] for n in kubectl.json("get", "nodes", "-l", "openvswitch=enabled")["items"]}
    everywhere = {"state": "Ready", "reason": f"{len(nodes)}/{len(nodes)} nodes available"}

    def counted() -> bool:
        status = deployment.get()["status"]
        hosts = status.get("nodes", {}).get("hosts", {})
        return (status["health"]["ovn"]["ovn-controller"] == everywhere
                and status["health"]["neutron"]["ovn-metadata-agent"] == everywhere
                and {name for name, host in hosts.items() if "ovn/ovn-controller" in host["components"]
                     and "network" in host["roles"]} == nodes)
    wait_for(f"an ovn-controller and a metadata agent counted on all {len(nodes)} nodes", counted, operators,
             describe=lambda: deployment.get()["status"].get("nodes"))
    health = deployment.get()["status"]["health"]
    assert {"ovn-ovsdb-nb", "ovn-ovsdb-sb", "ovn-northd"} <= set(health["ovn"])
    assert not {"neutron-ovs-agent", "dhcp-agent", "l3-agent", "metadata-agent"} & set(health["neutron"])
    ml2 = configparser.ConfigParser(strict=False, interpolation=None)
    ml2.read_string(_secret_file(kubectl, namespace, "neutron-etc", "ml2_conf.ini"))
    assert ml2["ml2"]["mechanism_drivers"] == "ovn" and ml2["ml2"]["tenant_network_types"] == "geneve"
    refused = kubectl.run("-n", namespace, "patch", "osdpl", "osh-ovn", "--type=merge", "-p",
                          '{"spec": {"features": {"neutron": {"backend": "ml2"}}}}', check=False)
    assert refused.returncode != 0
    assert "spec.features.neutron.backend: Invalid value: the networking backend cannot change after creation" \
        in refused.stderr


def test_coordination_and_redis_deploy_behind_their_network_policies(deployment: Deployment, operators: Operators,
                                                                      helm: Helm, kubectl: Kubectl) -> None:
    namespace = deployment.namespace
    deployment.merge_patch({"spec": {"features": {"services": ["coordination", "redis"]}}})
    wait_for("etcd and redis installed", lambda: {"openstack-etcd", "openstack-redis"} <= set(helm.releases(namespace)),
             operators)
    wait_for("Ready with coordination and redis", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
             describe=lambda: deployment.get().get("status"))
    for service in ("coordination", "redis"):
        _assert_service_deployed(deployment, helm, kubectl, service)
    policies = {p["metadata"]["name"]: p["spec"] for p in
                kubectl.json("-n", namespace, "get", "networkpolicies")["items"]}
    assert policies["etcd"]["podSelector"] == {"matchLabels": {"application": "etcd"}}
    assert policies["redis"]["ingress"] == [{"from": [{"podSelector": {}}], "ports": [{"port": 6379,
                                                                                      "protocol": "TCP"}]}]


def test_dns_deploys_designate_on_powerdns_and_neutron_publishes_names_in_it(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    namespace = deployment.namespace
    deployment.merge_patch({"spec": {"features": {"services": ["dns"],
                                                  "designate": {"backend": {"protocol": "tcp"}}}}})
    wait_for("powerdns and designate installed",
             lambda: {"openstack-powerdns", "openstack-designate"} <= set(helm.releases(namespace)), operators)
    wait_for("Ready with DNS as a service", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
             describe=lambda: deployment.get().get("status"))
    _assert_service_deployed(deployment, helm, kubectl, "dns")
    # the one API key: PowerDNS's configuration and designate's pool hold the generated credential
    key = _credential(kubectl, namespace, deployment.name, "powerdns_api_key")
    assert f"api-key = {key}" in _secret_file(kubectl, namespace, "powerdns-etc", "pdns.conf").splitlines()
    assert f"api_token: {key}" in _secret_file(kubectl, namespace, "designate-etc", "pools.yaml")
    external = kubectl.json("-n", namespace, "get", "service", "powerdns-external")["spec"]
    assert (external["type"], [(p["protocol"], p["port"]) for p in external["ports"]]) == (
        "LoadBalancer", [("TCP", 53)])
    neutron = configparser.ConfigParser(strict=False, interpolation=None)
    neutron.read_string(_secret_file(kubectl, namespace, "neutron-etc", "neutron.conf"))
    assert neutron["DEFAULT"]["external_dns_driver"] == "designate"
    backend = kubectl.json("-n", namespace, "get", "httproute", "designate")["spec"]["rules"][0]["backendRefs"][0]
    assert (backend["name"], backend["port"]) == ("designate-api", 9001)


def test_telemetry_deploys_gnocchi_ceilometer_and_aodh_on_one_notification_bus_and_keeps_the_metrics_volume(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    try:
        _telemetry(deployment, operators, helm, kubectl)
    finally:
        _reset_and_wait_uninstalled(deployment, operators, helm, "openstack-gnocchi", "openstack-ceilometer",
                                    "openstack-aodh")
        kubectl.run("-n", deployment.namespace, "delete", "pvc", "--ignore-not-found", "gnocchi-data")


def _telemetry(deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    namespace = deployment.namespace
    # gnocchi's image is the project's own: the deployment's registry serves it (and so every other image)
    deployment.merge_patch({"spec": {"artifacts": {"images_base_url": "registry.example.com/openstack"}, "features": {
        "services": ["metric", "redis", "metering", "alarming", "coordination"],
        "messaging": {"notifications": {"enabled": True}},
        "logging": {"gnocchi": {"level": "DEBUG"}, "aodh": {"level": "DEBUG"}}}}})
    wait_for("telemetry installed", lambda: {"openstack-gnocchi", "openstack-ceilometer", "openstack-aodh"}
             <= set(helm.releases(namespace)), operators, timeout=DEPLOY_TIMEOUT)
    wait_for("Ready with telemetry", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
             describe=lambda: deployment.get().get("status"))
    for service in ("metric", "metering", "alarming"):
        _assert_service_deployed(deployment, helm, kubectl, service)

    def conf(secret: str, file: str) -> configparser.ConfigParser:
        parsed = configparser.ConfigParser(strict=False, interpolation=None)
        parsed.read_string(_secret_file(kubectl, namespace, secret, file))
        return parsed

    # metric: gnocchi from the registry, its time series on its claim, new measures and coordination in redis
    api = kubectl.json("-n", namespace, "get", "deployment", "gnocchi-api")["spec"]["template"]["spec"]
    assert api["containers"][0]["image"] == "registry.example.com/openstack/gnocchi:4.7.1"
    gnocchi = conf("gnocchi-etc", "gnocchi.conf")
    redis = f"redis://redis.{namespace}.svc.cluster.local:6379"
    assert (gnocchi["storage"]["driver"], gnocchi["incoming"]["redis_url"], gnocchi["DEFAULT"]["coordination_url"],
            gnocchi["DEFAULT"]["debug"]) == ("file", redis, redis, "true")
    assert kubectl.json("-n", namespace, "get", "pvc", "gnocchi-data")["status"]["phase"] == "Bound"
    # the notification bus: keystone publishes there, ceilometer reads it, aodh's listener reads ceilometer's events
    bus = conf("ceilometer-etc", "ceilometer.conf")["notification"]["messaging_urls"]
    assert bus.endswith(f"@rabbitmq.{namespace}.svc.cluster.local:5672/ceilometer")
    keystone = conf("keystone-etc", "keystone.conf")["oslo_messaging_notifications"]
    assert (keystone["driver"], keystone["transport_url"]) == ("messagingv2", bus)
    aodh = conf("aodh-etc", "aodh.conf")
    assert (aodh["oslo_messaging_notifications"]["transport_url"], aodh["coordination"]["backend_url"]) == (
        bus, f"etcd3+http://etcd.{namespace}.svc.cluster.local:2379")
    assert conf("aodh-etc", "logging.conf")["logger_aodh"]["level"] == "DEBUG"
    for route, backend in (("gnocchi", ("gnocchi-api", 8041)), ("aodh", ("aodh-api", 8042))):
        ref = kubectl.json("-n", namespace, "get", "httproute", route)["spec"]["rules"][0]["backendRefs"][0]
        assert (ref["name"], ref["port"]) == backend
    # telemetry removed: the releases go, keystone stops publishing, the time series stay for metric's return
    deployment.merge_patch({"spec": {"features": {"services": ["redis", "coordination"],
                                                  "messaging": {"notifications": {"enabled": False}}}}})
    wait_for("telemetry uninstalled", lambda: not {"openstack-gnocchi", "openstack-ceilometer", "openstack-aodh"}
             & set(helm.releases(namespace)), operators, timeout=DEPLOY_TIMEOUT)
    wait_for("keystone's notifications off", lambda: conf("keystone-etc", "keystone.conf")[
        "oslo_messaging_notifications"]["driver"] == "noop", operators, timeout=DEPLOY_TIMEOUT)
    assert kubectl.json("-n", namespace, "get", "pvc", "gnocchi-data")["metadata"]["name"] == "gnocchi-data"


def test_tempest_runs_against_the_deployed_services_reports_on_the_status_and_runs_again_on_request(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    namespace = deployment.namespace
    deployment.merge_patch({"spec": {"features": {"services": ["tempest"]}}})
    wait_for("tempest installed", lambda: "openstack-tempest" in helm.releases(namespace), operators)
    wait_for("Ready with tempest", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
             describe=lambda: deployment.get().get("status"))
    status = deployment.get()["status"]
    # every workload of the release is a Helm hook (its Jobs), which `helm get manifest` leaves out
    assert status["health"]["tempest"]["ks-user"]["state"] == "Ready", status["health"].get("tempest")
    # the run's Job ran as Helm's hook; kwok's simulated node runs no container, so its pod left no summary, and
    # the status says exactly that
    summary = status["children"]["tempest"]["openstack-tempest"]["summary"]
    assert summary == {"result": "Unknown", "job": "openstack-tempest-run-tests",
                       "message": "Job openstack-tempest-run-tests's pod left no summary (termination message)"}
    job = kubectl.json("-n", namespace, "get", "job", "openstack-tempest-run-tests")
    assert job["status"].get("succeeded") == 1
    conf = configparser.ConfigParser(strict=False, interpolation=None)
    conf.read_string(_secret_file(kubectl, namespace, "tempest-etc", "tempest.conf"))
    assert {k: conf["service_available"][k] for k in ("glance", "neutron", "nova", "cinder")} == {
        "glance": "true", "neutron": "true", "nova": "false", "cinder": "false"}  # the core preset's services
    assert conf["auth"]["admin_password"] == _credential(kubectl, namespace, deployment.name, "keystone_admin")

    # A run request upgrades the tempest release alone, and Helm runs the Job again.
    revisions = helm.revisions(namespace)
    kubectl.run("-n", namespace, "annotate", "osdpl", deployment.name, "openstack.osop.dev/run-tempest=first",
                "--overwrite")
    try:
        wait_for("tempest run again", lambda: helm.revisions(namespace)["openstack-tempest"] > revisions[
            "openstack-tempest"] and deployment.ready_at_generation(), operators, timeout=DEPLOY_TIMEOUT)
        rerun = kubectl.json("-n", namespace, "get", "job", "openstack-tempest-run-tests")
        assert rerun["metadata"]["uid"] != job["metadata"]["uid"]
        assert rerun["metadata"]["annotations"]["openstackhelm.openstack.org/release_uuid"] == "first"
        after = helm.revisions(namespace)
        assert {name for name in revisions if after[name] != revisions[name]} == {"openstack-tempest"}
    finally:
        kubectl.run("-n", namespace, "annotate", "osdpl", deployment.name, "openstack.osop.dev/run-tempest-")


def _report_as_the_kubelet_would(kubectl: Kubectl, namespace: str, job: str, report: dict[str, Any]) -> None:
    """The termination message a real node's kubelet copies from the container's /dev/termination-log: kwok's
    simulated node runs no container, so the test writes it on the Job's succeeded pod's status."""
    pods = kubectl.json("-n", namespace, "get", "pods", "-l", f"job-name={job}")["items"]
    pod = max((p for p in pods if p["status"].get("phase") == "Succeeded"),
              key=lambda p: p["metadata"]["creationTimestamp"])
    statuses = pod["status"]["containerStatuses"]
    statuses[0]["state"]["terminated"]["message"] = json.dumps(report)
    kubectl.run("-n", namespace, "patch", "pod", pod["metadata"]["name"], "--subresource=status", "--type=merge",
                "--patch-file=/dev/stdin", input=json.dumps({"status": {"containerStatuses": statuses}}))


def test_the_load_balancer_waits_for_its_bootstrap_report_then_runs_its_worker_and_health_managers(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    try:
        _load_balancer(deployment, operators, helm, kubectl)
    finally:
        # nova's cluster-scoped RBAC goes with its release: gone before the next test looks at the cluster's
        _reset_and_wait_uninstalled(deployment, operators, helm, "openstack-octavia", "openstack-nova",
                                    "openstack-libvirt", "openstack-redis")


def _load_balancer(deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    namespace = deployment.namespace
    deployment.merge_patch({"spec": {"features": {
        "services": ["compute", "redis", "load-balancer"],
        "octavia": {"amphora_image_url": "https://mirror.example.com/amphora-x64-haproxy.qcow2"}}}})
    wait_for("octavia installed", lambda: "openstack-octavia" in helm.releases(namespace), operators,
             timeout=DEPLOY_TIMEOUT)
    # kwok ran the bootstrap Job's pod without a container: no report, and the status says what it waits for
    wait_for("waiting for the bootstrap's report", lambda: "waiting for a Job's report: load-balancer/"
             "openstack-octavia" in deployment.condition("Ready").get("message", ""), operators,
             timeout=DEPLOY_TIMEOUT, describe=lambda: deployment.condition("Ready"))
    assert not kubectl.json("-n", namespace, "get", "daemonsets", "-l", "application=octavia")["items"]
    script = kubectl.json("-n", namespace, "get", "configmap", "octavia-bin")["data"]["bootstrap.sh"]
    assert "HOSTS='ctl-0 ctl-1 ctl-2'\n" in script  # the nodes that run neutron's L3 agent
    managers = {f"ctl-{i}": f"10.255.0.{11 + i}" for i in range(3)}
    _report_as_the_kubelet_would(kubectl, namespace, "octavia-bootstrap", {
        "result": "Ready", "network_id": "net-1", "amphora_secgroup_id": "sg-1", "flavor_id": "flavor-1",
        "health_managers": managers})
    wait_for("Ready with the load balancer", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
             describe=lambda: deployment.get().get("status"))
    status = deployment.get()["status"]
    summary = status["children"]["load-balancer"]["openstack-octavia"]["summary"]
    assert summary["network_id"] == "net-1" and [m["host"] for m in summary["health_managers"]] == list(managers)
    _assert_service_deployed(deployment, helm, kubectl, "load-balancer")
    conf = configparser.ConfigParser(strict=False, interpolation=None)
    conf.read_string(_secret_file(kubectl, namespace, "octavia-etc", "octavia.conf"))
    assert conf["controller_worker"]["amp_boot_network_list"] == "net-1"
    assert conf["health_manager"]["controller_ip_port_list"] == "10.255.0.11:5555,10.255.0.12:5555,10.255.0.13:5555"
    assert conf["health_manager"]["heartbeat_key"] == _credential(kubectl, namespace, deployment.name,
                                                                  "octavia_heartbeat_key")
    pods = kubectl.json("-n", namespace, "get", "pods", "-l", "application=octavia,component=health_manager")["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == list(managers)
    certs = kubectl.json("-n", namespace, "get", "secret", "octavia-amphora-certs")["data"]
    assert base64.b64decode(certs["client_ca.cert.pem"]).startswith(b"-----BEGIN CERTIFICATE-----")


def test_bare_metal_runs_ironics_conductors_on_the_control_plane_and_novas_ironic_driver(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    try:
        _bare_metal(deployment, operators, helm, kubectl)
    finally:
        # nova's cluster-scoped RBAC goes with its release: gone before the next test looks at the cluster's
        _reset_and_wait_uninstalled(deployment, operators, helm, "openstack-ironic", "openstack-nova",
                                    "openstack-libvirt")


def _bare_metal(deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    namespace = deployment.namespace
    deployment.merge_patch({"spec": {"features": {
        "services": ["compute", "baremetal"],
        "neutron": {"external_networks": [{"physnet": "ironic", "interface": "eth2", "network_types": ["vlan"],
                                           "vlan_ranges": "3000:3099"}]},
        "ironic": {"provisioning_interface": "pxe0", "baremetal_network_name": "provisioning",
                   "networks": {"baremetal": {"network_type": "vlan", "segmentation_id": 3001}}}}}})
    wait_for("Ready with bare metal", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
             describe=lambda: deployment.get().get("status"))
    _assert_service_deployed(deployment, helm, kubectl, "baremetal")
    status = deployment.get()["status"]
    assert status["health"]["nova"]["compute-ironic"]["state"] == "Ready"  # nova's ironic driver, with compute
    conductors = {p["spec"]["nodeName"] for p in kubectl.json(
        "-n", namespace, "get", "pods", "-l", "application=ironic,component=conductor")["items"]}
    assert len(conductors) == 1  # size tiny
    # the conductor's node serves PXE and HTTP boot: the node process gives it the baremetal role
    wait_for("the conductor's node in the baremetal role", lambda: {
        name for name, host in deployment.get()["status"].get("nodes", {}).get("hosts", {}).items()
        if "baremetal" in host["roles"] and "ironic/conductor" in host["components"]} == conductors, operators,
        describe=lambda: deployment.get()["status"].get("nodes"))
    conf = configparser.ConfigParser(strict=False, interpolation=None)
    conf.read_string(_secret_file(kubectl, namespace, "ironic-etc", "ironic.conf"))
    assert conf["neutron"]["cleaning_network"] == conf["neutron"]["provisioning_network"] == "provisioning"
    assert conf["keystone_authtoken"]["password"] == _credential(kubectl, namespace, deployment.name,
                                                                 "ironic_keystone")
    script = kubectl.json("-n", namespace, "get", "configmap", "ironic-bin")["data"]["bootstrap.sh"]
    assert "\nNETWORK_TYPE=vlan\nSEGMENTATION_ID=3001\n" in script


def _storage_side_keys(manila: bool) -> dict[str, str]:
    """The storage side's Secret as Pelagia publishes it (docs/resource.md, features.ceph), with or without the
    manila client."""
    def key(seed: str) -> str:
        return base64.b64encode(seed.encode().ljust(40, b"0")).decode()
    data = {"client.admin": key("admin"), "mon_endpoints": "10.0.0.1:6789,10.0.0.2:6789",
            "glance": f"client.glance;{key('glance')}\n;images-hdd:images:hdd",
            "cinder": f"client.cinder;{key('cinder')}\n;volumes-hdd:volumes:hdd"}
    return {**data, "manila": f"client.manila;{key('manila')}\n"} if manila else data


def test_shared_file_systems_run_manila_on_cephfs_with_the_exchanges_manila_client(
        deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    namespace = deployment.namespace
    try:
        _shared_file_systems(deployment, operators, helm, kubectl)
    finally:
        _reset_and_wait_uninstalled(deployment, operators, helm, "openstack-manila")
        # what the secrets process copied belongs to the osdpl: gone with it, but the shared one stays
        kubectl.run("-n", namespace, "delete", "secret", "--ignore-not-found", STORAGE_KEYS, GLANCE_KEYRING_SECRET,
                    CINDER_KEYRING_SECRET, MANILA_KEYRING_SECRET, copy_name(deployment.name))
        kubectl.run("-n", namespace, "delete", "configmap", "--ignore-not-found", CONFIGMAP)


def _shared_file_systems(deployment: Deployment, operators: Operators, helm: Helm, kubectl: Kubectl) -> None:
    namespace = deployment.namespace

    def publish(data: dict[str, str]) -> None:
        # `data`, not stringData: the apply owns each key, so a key left out is removed
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": STORAGE_KEYS, "namespace": namespace},
                "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}}
        kubectl.run("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(body))

    publish(_storage_side_keys(manila=False))
    deployment.merge_patch({"spec": {"features": {
        "services": ["shared-file-system"],
        "ceph": {"enabled": True, "keys_secret": {"namespace": namespace, "name": STORAGE_KEYS}},
        "manila": {"share": {"backends": {"cephfs": {"driver": "cephfs"}}}}}}})
    # the storage side has no manila client yet: nothing of manila is written, and the status says what it waits for
    wait_for("waiting for the manila client", lambda: "has no 'manila' key yet" in deployment.condition(
        "Ready").get("message", ""), operators, timeout=DEPLOY_TIMEOUT, describe=lambda: deployment.condition("Ready"))
    assert "openstack-manila" not in helm.releases(namespace)
    publish(_storage_side_keys(manila=True))
    wait_for("manila installed", lambda: "openstack-manila" in helm.releases(namespace), operators,
             timeout=DEPLOY_TIMEOUT)
    wait_for("Ready with shared file systems", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
             describe=lambda: deployment.get().get("status"))
    _assert_service_deployed(deployment, helm, kubectl, "shared-file-system")
    conf = configparser.ConfigParser(strict=False, interpolation=None)
    conf.read_string(_secret_file(kubectl, namespace, "manila-etc", "manila.conf"))
    assert (conf["DEFAULT"]["enabled_share_backends"], conf["DEFAULT"]["default_share_type"]) == ("cephfs", "cephfs")
    assert conf["cephfs"]["share_driver"] == "manila.share.drivers.cephfs.driver.CephFSDriver"
    assert conf["cephfs"]["cephfs_auth_id"] == "manila"
    # the key reaches the share pods through the Secret they mount, copied from the storage side's
    published = _storage_side_keys(manila=True)["manila"].split(";")[1].strip()
    assert _secret_file(kubectl, namespace, MANILA_KEYRING_SECRET, "key") == published
    share = kubectl.json("-n", namespace, "get", "statefulset", "manila-share")["spec"]["template"]["spec"]
    assert {v["name"]: v.get("secret", {}).get("secretName") for v in share["volumes"]}["ceph-keyring"] == \
        MANILA_KEYRING_SECRET
    backend = kubectl.json("-n", namespace, "get", "httproute", "manila")["spec"]["rules"][0]["backendRefs"][0]
    assert (backend["name"], backend["port"]) == ("manila-api", 8786)
    # the storage side withdraws the client: its key leaves the namespace, and the status says manila waits again
    publish(_storage_side_keys(manila=False))
    wait_for("manila's key withdrawn", lambda: MANILA_KEYRING_SECRET not in {
        s["metadata"]["name"] for s in kubectl.json("-n", namespace, "get", "secrets")["items"]}, operators)
    wait_for("waiting for the manila client again", lambda: "has no 'manila' key yet" in deployment.condition(
        "Ready").get("message", ""), operators, describe=lambda: deployment.condition("Ready"))
