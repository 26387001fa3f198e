"""The newer services' features against the real charts (all-features.yaml enables every service)."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import yaml

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.rendering.renderer import Renderer, notification_bus
from openstack_operator.core.schema.manifest import load_osdpl
from openstack_operator.core.secrets import amphora_pki
from openstack_operator.core.secrets.ceph import CONFIGMAP, DIGEST_ANNOTATION, MANILA_KEYRING_SECRET, manila_digest
from openstack_operator.core.secrets.credentials import aes256_key, required_credentials

from . import lib
from .conftest import BOOTSTRAP_REPORT, HERE, Deployments, conformance_credentials


def test_key_manager_keeps_secrets_under_the_deployments_own_kek(deployments: Deployments) -> None:
    deployment = deployments.get_ok("all-features")
    release = deployment.releases["openstack-barbican"]
    assert release.problem is None, release.problem
    conf = lib.config_file(release.manifests, "Secret", "barbican-etc", "barbican.conf")
    kek = aes256_key(deployment.credentials["barbican_kek"].password)
    assert lib.ini_has(conf, "simple_crypto_plugin", "kek", kek)
    assert len(base64.b64decode(kek)) == 32  # what barbican's simple_crypto plugin takes
    assert lib.ini_has(conf, "secretstore", "enabled_secretstore_plugins", "store_crypto")
    assert lib.ini_has(conf, "crypto", "enabled_crypto_plugins", "simple_crypto")


def test_the_vault_store_gets_the_approle_from_the_referenced_secret(catalog: Catalog, charts: Path,
                                                                     helm: Path) -> None:
    doc = yaml.safe_load((HERE / "all-features.yaml").read_text())
    ref = {"value_from": {"secret_key_ref": {"name": "vault-approle", "key": "role_id"}}}
    doc["spec"]["features"]["barbican"] = {"backends": {"vault": {
        "enabled": True, "vault_url": "https://vault.example.com:8200", "approle_role_id": ref,
        "approle_secret_id": {"value_from": {"secret_key_ref": {"name": "vault-approle", "key": "secret_id"}}},
        "namespace": "cloud", "use_ssl": True}}}
    osdpl = load_osdpl(catalog, doc)
    credentials = conformance_credentials(catalog, required_credentials(catalog, ["key-manager"]))
    values = {"spec.features.barbican.backends.vault.approle_role_id": "role-4f1c",
              "spec.features.barbican.backends.vault.approle_secret_id": "secret-9e2d"}
    release = Renderer(catalog).render(osdpl.spec, credentials, osdpl.namespace, only={"key-manager"},
                                       references=values)[0].releases[0]
    manifests = lib.helm_template(helm, release.name, charts / f"barbican-{release.version}.tgz", release.namespace,
                                  release.values)
    conf = lib.config_file(manifests, "Secret", "barbican-etc", "barbican.conf")
    assert lib.ini_has(conf, "secretstore", "enabled_secretstore_plugins", "vault_plugin")
    for option, value in (("vault_url", "https://vault.example.com:8200"), ("approle_role_id", "role-4f1c"),
                          ("approle_secret_id", "secret-9e2d"), ("kv_mountpoint", "secret"),
                          ("namespace", "cloud"), ("use_ssl", True)):
        assert lib.ini_has(conf, "vault_plugin", option, value), option


def test_cinder_designate_and_aodh_coordinate_through_the_coordination_services_etcd(
        deployments: Deployments) -> None:
    deployment = deployments.get_ok("all-features")
    url = "etcd3+http://etcd.openstack.svc.cluster.local:2379"
    for chart in ("cinder", "designate", "aodh"):
        conf = lib.config_file(deployment.releases[f"openstack-{chart}"].manifests, "Secret", f"{chart}-etc",
                               f"{chart}.conf")
        assert lib.ini_has(conf, "coordination", "backend_url", url), chart
    # what the URL names is what the etcd chart serves: its Service `etcd` with the client port
    services = [o for o in deployment.releases["openstack-etcd"].manifests if o["kind"] == "Service"]
    client = next(s for s in services if s["metadata"]["name"] == "etcd")
    assert 2379 in [p["port"] for p in client["spec"]["ports"]]


def test_cinder_without_the_coordination_service_keeps_the_charts_file_locks(deployments: Deployments) -> None:
    conf = lib.config_file(deployments.get_ok("ceph").releases["openstack-cinder"].manifests, "Secret", "cinder-etc",
                           "cinder.conf")
    assert lib.ini_has(conf, "coordination", "backend_url", "file:///var/lib/cinder/coordination")


def test_etcd_and_redis_admit_only_the_deployments_own_pods(deployments: Deployments) -> None:
    deployment = deployments.get_ok("all-features")
    for release, application, ports in (("openstack-etcd", "etcd", {2379: {}, 2380: {"application": "etcd"}}),
                                        ("openstack-redis", "redis", {6379: {}})):
        manifests = deployment.releases[release].manifests
        [policy] = [o for o in manifests if o["kind"] == "NetworkPolicy"]
        assert policy["metadata"]["namespace"] == "openstack"
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        # the policy selects the pods that serve the port: the chart's own labels
        served = [o for o in manifests if o["kind"] in ("Deployment", "StatefulSet")]
        assert served and all(o["spec"]["template"]["metadata"]["labels"]["application"] == application
                              for o in served)
        assert policy["spec"]["podSelector"] == {"matchLabels": {"application": application}}
        rules = {rule["ports"][0]["port"]: rule["from"] for rule in policy["spec"]["ingress"]}
        # a peer of {} selects every pod of the policy's namespace and none outside it (no namespaceSelector)
        assert rules == {port: [{"podSelector": {"matchLabels": peer} if peer else {}}]
                         for port, peer in ports.items()}


def test_designate_writes_zones_to_the_deployments_powerdns_with_its_own_api_key(deployments: Deployments) -> None:
    deployment = deployments.get_ok("all-features")
    key = deployment.credentials["powerdns_api_key"].password
    assert key not in ("chiave_segreta", "")
    pdns = lib.config_file(deployment.releases["openstack-powerdns"].manifests, "Secret", "powerdns-etc", "pdns.conf")
    assert f"api-key = {key}" in pdns.splitlines()
    pools = yaml.safe_load(lib.config_file(deployment.releases["openstack-designate"].manifests, "Secret",
                                           "designate-etc", "pools.yaml"))
    [target] = pools[0]["targets"]
    assert (target["type"], target["options"]["api_token"]) == ("pdns4", key)
    assert target["options"]["api_endpoint"] == "http://${POWERDNS_SERVICE_HOST}:8081"
    assert pools[0]["ns_records"] == [{"hostname": "ns.cloud.example.org.", "priority": 1}]
    # the worker's shell evaluates the pools text inside double quotes: none may be in it
    assert '"' not in lib.config_file(deployment.releases["openstack-designate"].manifests, "Secret",
                                      "designate-etc", "pools.yaml")


def test_powerdns_serves_zones_outside_and_its_api_only_inside(deployments: Deployments) -> None:
    manifests = deployments.get_ok("all-features").releases["openstack-powerdns"].manifests
    services = {o["metadata"]["name"]: o["spec"] for o in manifests if o["kind"] == "Service"}
    # the API on the cluster-internal Service that designate's workers use, no node port anywhere
    assert services["powerdns"].get("type", "ClusterIP") == "ClusterIP"
    assert 8081 in [p["port"] for p in services["powerdns"]["ports"]]
    external = services["powerdns-external"]
    assert (external["type"], external["loadBalancerIP"]) == ("LoadBalancer", "203.0.113.53")
    assert sorted((p["protocol"], p["port"]) for p in external["ports"]) == [("TCP", 53), ("UDP", 53)]
    [server] = [o for o in manifests if o["kind"] == "Deployment"]
    labels = server["spec"]["template"]["metadata"]["labels"]
    assert external["selector"].items() <= labels.items()
    [policy] = [o["spec"] for o in manifests if o["kind"] == "NetworkPolicy"]
    assert {(r["ports"][0]["port"], r["ports"][0]["protocol"]): r.get("from") for r in policy["ingress"]} == {
        (8081, "TCP"): [{"podSelector": {}}], (53, "TCP"): None, (53, "UDP"): None}


def test_neutron_publishes_names_in_designate_when_dns_is_on(deployments: Deployments) -> None:
    conf = lib.config_file(deployments.get_ok("all-features").releases["openstack-neutron"].manifests, "Secret",
                           "neutron-etc", "neutron.conf")
    assert lib.ini_has(conf, "DEFAULT", "external_dns_driver", "designate")
    assert lib.ini_has(conf, "DEFAULT", "dns_domain", "cloud.example.org.")
    assert lib.ini_has(conf, "designate", "url", "http://designate-api.openstack.svc.cluster.local:9001/v2")
    assert lib.ini_has(conf, "designate", "auth_url", "http://keystone-api.openstack.svc.cluster.local:5000/v3")
    ml2 = lib.config_file(deployments.get_ok("all-features").releases["openstack-neutron"].manifests, "Secret",
                          "neutron-etc", "ml2_conf.ini")
    assert lib.ini_has(ml2, "ml2", "extension_drivers", "port_security,dns_domain_ports")
    without = lib.config_file(deployments.get_ok("minimal").releases["openstack-neutron"].manifests, "Secret",
                              "neutron-etc", "neutron.conf")
    assert not lib.ini_has(without, "DEFAULT", "external_dns_driver", "designate")


def test_instance_ha_monitors_every_compute_node_as_asked(deployments: Deployments) -> None:
    manifests = deployments.get_ok("all-features").releases["openstack-masakari"].manifests
    monitors = {o["metadata"]["name"]: o for o in manifests if o["kind"] == "DaemonSet"}
    # libvirt's events always, the guests' agents as asked; no host or process monitor (no pacemaker, no host PIDs)
    assert set(monitors) == {"masakari-instance-monitor", "masakari-introspective-instance-monitor"}
    for daemonset in monitors.values():
        assert daemonset["spec"]["template"]["spec"]["nodeSelector"] == {"openstack-compute-node": "enabled"}
    conf = lib.config_file(manifests, "Secret", "masakari-etc", "masakarimonitors.conf")
    for option, value in (("guest_monitoring_interval", 15), ("guest_monitoring_timeout", 4),
                          ("guest_monitoring_failure_threshold", 5)):
        assert lib.ini_has(conf, "introspectiveinstancemonitor", option, value), option


def test_instance_ha_without_the_introspective_monitor_runs_only_the_instance_monitor(catalog: Catalog,
                                                                                    charts: Path,
                                                                                    helm: Path) -> None:
    doc = yaml.safe_load((HERE / "all-features.yaml").read_text())
    del doc["spec"]["features"]["masakari"]
    osdpl = load_osdpl(catalog, doc)
    credentials = conformance_credentials(catalog, required_credentials(catalog, ["instance-ha"]))
    release = Renderer(catalog).render(osdpl.spec, credentials, osdpl.namespace, only={"instance-ha"})[0].releases[0]
    manifests = lib.helm_template(helm, release.name, charts / f"masakari-{release.version}.tgz", release.namespace,
                                  release.values)
    assert [o["metadata"]["name"] for o in manifests if o["kind"] == "DaemonSet"] == ["masakari-instance-monitor"]


def test_tempest_runs_our_script_with_a_conf_of_the_enabled_services_and_no_claim(deployments: Deployments) -> None:
    deployment = deployments.get_ok("all-features")
    release = deployment.releases["openstack-tempest"]
    assert release.problem is None, release.problem
    conf = lib.config_file(release.manifests, "Secret", "tempest-etc", "tempest.conf")
    for option in ("cinder", "glance", "heat", "neutron", "nova", "barbican", "designate", "octavia"):
        assert lib.ini_has(conf, "service_available", option, True), option
    for option in ("swift", "horizon"):  # no object-storage in this manifest; see resource.md
        assert lib.ini_has(conf, "service_available", option, False), option
    assert lib.ini_has(conf, "auth", "admin_password", deployment.credentials["keystone_admin"].password)
    assert lib.ini_has(conf, "network", "floating_network_name", "public")
    script = lib.config_file(release.manifests, "ConfigMap", "tempest-bin", "run-tests.sh")
    assert "BUDGET_SECONDS=" in script and "/dev/termination-log" in script
    assert "tempest cleanup --init-saved-state" in script.split("BUDGET_SECONDS=")[1]  # ours, after the bootstrap
    assert not [m for m in release.manifests if m["kind"] == "PersistentVolumeClaim"]
    job = next(m for m in release.manifests if m["kind"] == "Job" and m["metadata"]["name"].endswith("-run-tests"))
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert {v["name"]: "emptyDir" in v for v in job["spec"]["template"]["spec"]["volumes"]}["tempest-reports"]


def test_octavia_boots_amphorae_with_what_its_bootstrap_reported_and_its_own_pki(deployments: Deployments) -> None:
    deployment = deployments.get_ok("all-features")  # rendered with conftest.BOOTSTRAP_REPORT
    release = deployment.releases["openstack-octavia"]
    assert release.problem is None, release.problem
    conf = lib.config_file(release.manifests, "Secret", "octavia-etc", "octavia.conf")
    report = BOOTSTRAP_REPORT.report
    assert report is not None
    for section, option, value in (
            ("controller_worker", "amp_boot_network_list", report["network_id"]),
            ("controller_worker", "amp_secgroup_list", report["amphora_secgroup_id"]),
            ("controller_worker", "amp_flavor_id", report["flavor_id"]),
            ("controller_worker", "amp_image_tag", "amphora"),
            ("health_manager", "controller_ip_port_list", "10.255.0.11:5555,10.255.0.12:5555"),
            ("health_manager", "heartbeat_key", deployment.credentials["octavia_heartbeat_key"].password),
            ("certificates", "server_certs_key_passphrase", deployment.credentials["octavia_certs_key"].password),
            ("certificates", "ca_private_key_passphrase",
             amphora_pki.files(deployment.credentials["octavia_amphora_pki"].password).passphrase),
            ("task_flow", "jobboard_backend_hosts", "redis.openstack.svc.cluster.local"),
            ("task_flow", "jobboard_backend_port", 6379),
            ("api_settings", "default_provider_driver", "amphorav2")):
        assert lib.ini_has(conf, section, option, value), (section, option)
    assert "amp_ssh_key_name" not in conf  # nova would refuse a key it does not know
    daemonsets = {o["metadata"]["name"]: o for o in release.manifests if o["kind"] == "DaemonSet"}
    assert set(daemonsets) == {"octavia-worker-default", "octavia-health-manager-default"}
    certs = next(o for o in release.manifests if lib.name_of(o) == "Secret/octavia-amphora-certs")
    for daemonset in daemonsets.values():
        spec = daemonset["spec"]["template"]["spec"]
        volume = next(v for v in spec["volumes"] if v["name"] == "amphora-certs")
        assert volume["secret"]["secretName"] == "octavia-amphora-certs"
        assert {i["key"] for i in volume["secret"]["items"]} == set(certs["stringData"])
    script = lib.config_file(release.manifests, "ConfigMap", "octavia-bin", "bootstrap.sh")
    assert "set +x\nHOSTS='net-1 net-2'\nMGMT_NETWORK=octavia-mgmt\nMGMT_CIDR=172.31.0.0/22\n" in script
    job = next(m for m in release.manifests if lib.name_of(m) == "Job/octavia-bootstrap")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"


def test_octavia_before_its_bootstrap_reported_runs_no_worker_or_health_manager(deployments: Deployments) -> None:
    release = deployments.get_ok("full").releases["openstack-octavia"]
    assert release.problem is None, release.problem
    assert not [o for o in release.manifests if o["kind"] == "DaemonSet"]
    conf = lib.config_file(release.manifests, "Secret", "octavia-etc", "octavia.conf")
    assert "amp_boot_network_list" not in conf and "controller_ip_port_list" not in conf


def test_manila_shares_through_the_manifests_generic_backends(deployments: Deployments) -> None:
    release = deployments.get_ok("all-features").releases["openstack-manila"]
    assert release.problem is None, release.problem
    conf = lib.config_file(release.manifests, "Secret", "manila-etc", "manila.conf")
    for section, option, value in (
            ("DEFAULT", "enabled_share_backends", "generic,generic-untyped"),
            ("DEFAULT", "default_share_type", "generic"),
            ("generic", "share_driver", "manila.share.drivers.generic.GenericShareDriver"),
            ("generic", "driver_handles_share_servers", True),
            ("generic", "interface_driver", "manila.network.linux.interface.OVSInterfaceDriver"),
            ("generic", "service_image_name", "manila-service-image"),
            ("generic-untyped", "share_backend_name", "generic-untyped"),
            ("coordination", "backend_url", "etcd3+http://etcd.openstack.svc.cluster.local:2379")):
        assert lib.ini_has(conf, section, option, value), (section, option)
    assert "[generic-off]" not in conf and "\nhost =" not in conf  # each share pod is a host of its own
    kinds = {lib.name_of(o) for o in lib.workloads(release.manifests)}
    assert "StatefulSet/manila-share" in kinds and "Deployment/manila-share" not in kinds
    script = lib.config_file(release.manifests, "ConfigMap", "manila-bin", "bootstrap.sh")
    assert "https://mirror.example.net/manila/manila-service-image-master.qcow2" in script.replace("\\\n", "")
    assert ("openstack share type show generic >/dev/null 2>&1 || openstack share type create generic true "
            "--public true --extra-specs share_backend_name=generic") in script
    assert "share type create generic-untyped" not in script and "generic-off" not in script


def test_manila_mounts_the_exchanges_manila_client_for_a_cephfs_backend(deployments: Deployments) -> None:
    deployment = deployments.get_ok("ceph")
    release = deployment.releases["openstack-manila"]
    assert release.problem is None, release.problem
    conf = lib.config_file(release.manifests, "Secret", "manila-etc", "manila.conf")
    for section, option, value in (("DEFAULT", "enabled_share_backends", "cephfs"),
                                   ("DEFAULT", "default_share_type", "cephfs"),
                                   ("cephfs", "share_driver", "manila.share.drivers.cephfs.driver.CephFSDriver"),
                                   ("cephfs", "driver_handles_share_servers", False),
                                   ("cephfs", "cephfs_auth_id", "manila")):
        assert lib.ini_has(conf, section, option, value), (section, option)
    assert "GenericShareDriver" not in conf  # the chart's example backend emptied
    share = next(o for o in release.manifests if lib.name_of(o) == "StatefulSet/manila-share")
    volumes = {v["name"]: v for v in share["spec"]["template"]["spec"]["volumes"]}
    assert volumes["ceph-keyring"]["secret"]["secretName"] == MANILA_KEYRING_SECRET
    assert volumes["ceph-etc"]["configMap"]["name"] == CONFIGMAP
    assert lib.container_env(release.manifests, "StatefulSet", "manila-share",
                             "ceph-keyring-placement")["CEPHFS_AUTH_ID"] == "manila"
    assert lib.pod_annotations(release.manifests, "StatefulSet", "manila-share")[DIGEST_ANNOTATION] == \
        manila_digest(deployment.ceph)
    script = lib.config_file(release.manifests, "ConfigMap", "manila-bin", "bootstrap.sh")
    assert "openstack image" not in script and "openstack flavor" not in script  # no share servers to boot


def test_aodh_logs_at_the_manifests_level_and_its_cleaner_gets_the_volume_it_mounts(deployments: Deployments) -> None:
    release = deployments.get_ok("all-features").releases["openstack-aodh"]
    assert release.problem is None, release.problem
    logging_conf = lib.config_file(release.manifests, "Secret", "aodh-etc", "logging.conf")
    assert lib.ini_has(logging_conf, "logger_aodh", "level", "DEBUG")
    assert lib.ini_has(logging_conf, "logger_root", "level", "DEBUG")
    cleaner = next(o for o in release.manifests if lib.name_of(o) == "CronJob/aodh-alarms-cleaner")
    volumes = [v["name"] for v in cleaner["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]]
    assert "aodh-etc-snippets" in volumes


def test_gnocchi_indexes_in_mariadb_and_stores_on_its_volume_with_redis_for_new_measures(
        deployments: Deployments) -> None:
    deployment = deployments.get_ok("all-features")
    release = deployment.releases["openstack-gnocchi"]
    assert release.problem is None, release.problem
    conf = lib.config_file(release.manifests, "Secret", "gnocchi-etc", "gnocchi.conf")
    password = deployment.credentials["gnocchi_db"].password
    redis = "redis://redis.openstack.svc.cluster.local:6379"
    for section, option, value in (
            ("indexer", "url", f"mysql+pymysql://gnocchi:{password}@mariadb.openstack.svc.cluster.local:3306/gnocchi"),
            ("storage", "driver", "file"), ("storage", "file_basepath", "/var/lib/gnocchi"),
            ("incoming", "driver", "redis"), ("incoming", "redis_url", redis),
            ("DEFAULT", "coordination_url", redis), ("DEFAULT", "debug", True)):
        assert lib.ini_has(conf, section, option, value), (section, option)
    # the same statsd identity at every render (the chart's default draws new ones, restarting the pods)
    assert lib.ini_has(conf, "statsd", "resource_id", str(uuid.uuid5(uuid.NAMESPACE_URL, "statsd-resource.openstack")))
    claim = next(o for o in release.manifests if lib.name_of(o) == "PersistentVolumeClaim/gnocchi-data")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"] and claim["spec"]["storageClassName"] == "ceph-rbd"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for kind, name in (("Deployment", "gnocchi-api"), ("DaemonSet", "gnocchi-metricd")):
        pod = next(o for o in release.manifests if lib.name_of(o) == f"{kind}/{name}")["spec"]["template"]["spec"]
        assert {"name": "gnocchi-data", "persistentVolumeClaim": {"claimName": "gnocchi-data"}} in pod["volumes"]
        mounts = [m for c in pod["containers"] for m in c["volumeMounts"] if m["name"] == "gnocchi-data"]
        assert [m["mountPath"] for m in mounts] == ["/var/lib/gnocchi"], name
    names = {lib.name_of(o) for o in release.manifests}
    assert not {"DaemonSet/gnocchi-statsd", "Service/gnocchi-statsd", "Job/gnocchi-storage-init",
                "Job/gnocchi-db-init-indexer"} & names


def test_telemetry_reads_every_services_notifications_on_one_bus(deployments: Deployments, catalog: Catalog) -> None:
    deployment = deployments.get_ok("all-features")
    bus = notification_bus("openstack", "cluster.local", deployment.credentials)
    assert bus and bus.endswith("@rabbitmq.openstack.svc.cluster.local:5672/ceilometer")
    for chart in (c for c in catalog.charts.values() if c.notifier):
        release = deployment.releases[f"openstack-{chart.name}"]
        assert release.problem is None, release.problem
        published = lib.notification_publishers(release.manifests)  # every file that publishes, wherever
        assert published and all(p.endswith(f"driver = messagingv2 (transport_url = {bus})") for p in published), \
            (chart.name, published)
    ceilometer = deployment.releases["openstack-ceilometer"]
    assert ceilometer.problem is None, ceilometer.problem
    conf = lib.config_file(ceilometer.manifests, "Secret", "ceilometer-etc", "ceilometer.conf")
    assert lib.ini_has(conf, "notification", "messaging_urls", bus)  # what it reads: the bus, nothing else
    assert lib.ini_has(conf, "DEFAULT", "debug", True)
    pipeline = yaml.safe_load(lib.config_file(ceilometer.manifests, "Secret", "ceilometer-etc", "pipeline.yaml"))
    assert pipeline["sinks"] == [{"name": "meter_sink", "publishers": ["gnocchi://"]}]
    events = yaml.safe_load(lib.config_file(ceilometer.manifests, "Secret", "ceilometer-etc", "event_pipeline.yaml"))
    assert events["sinks"][0]["publishers"] == ["gnocchi://", "notifier://?topic=alarm.all"]  # events to aodh too
    names = {lib.name_of(o) for o in ceilometer.manifests}
    assert {"Deployment/ceilometer-notification", "Deployment/ceilometer-central",
            "DaemonSet/ceilometer-compute"} <= names
    aodh = lib.config_file(deployment.releases["openstack-aodh"].manifests, "Secret", "aodh-etc", "aodh.conf")
    assert lib.ini_has(aodh, "oslo_messaging_notifications", "transport_url", bus)  # the listener reads the events


def test_neutron_on_ovn_runs_ovns_metadata_agent_and_none_of_the_open_vswitch_agents(deployments: Deployments) -> None:
    deployment = deployments.get_ok("ovn")
    neutron = deployment.releases["openstack-neutron"].manifests
    # DaemonSets per node group: <name>-<group>-<hash>
    daemonsets = {o["metadata"]["name"].rsplit("-", 2)[0] for o in neutron if o["kind"] == "DaemonSet"}
    assert not daemonsets & {"neutron-ovs-agent", "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent"}
    groups = sorted(o["metadata"]["name"].rsplit("-", 2)[1] for o in neutron if o["kind"] == "DaemonSet"
                    and o["metadata"]["name"].startswith("neutron-ovn-metadata-agent-"))
    assert groups == ["default", "rack"]  # the node group's own metadata agent beside the default one
    assert not [o for o in neutron if o["kind"] == "Deployment" and o["metadata"]["name"] == "neutron-rpc-server"]
    ml2 = lib.config_file(neutron, "Secret", "neutron-etc", "ml2_conf.ini")
    assert lib.ini_has(ml2, "ml2", "mechanism_drivers", "ovn")
    assert lib.ini_has(ml2, "ml2", "tenant_network_types", "geneve")
    assert lib.ini_has(ml2, "ml2", "type_drivers", "flat,vlan,geneve")
    assert lib.ini_has(ml2, "ml2_type_vlan", "network_vlan_ranges", "physnet1:100:199")
    assert lib.ini_has(ml2, "ovn", "dns_servers", "10.0.0.53,10.0.0.54")  # OVN's own DHCP hands them out
    conf = lib.config_file(neutron, "Secret", "neutron-etc", "neutron.conf")
    assert lib.ini_has(conf, "DEFAULT", "service_plugins", "ovn-router")
    metadata = lib.config_file(neutron, "Secret", "neutron-etc", "ovn_metadata_agent.ini")
    assert lib.ini_has(metadata, "DEFAULT", "metadata_proxy_shared_secret",
                       deployment.credentials["metadata_secret"].password)


def test_ovn_runs_its_databases_on_the_control_plane_and_a_controller_on_every_open_vswitch_node(
        deployments: Deployments) -> None:
    deployment = deployments.get_ok("ovn")
    ovn = deployment.releases["openstack-ovn"].manifests
    workloads = {o["metadata"]["name"]: o for o in lib.workloads(ovn)}
    for name in ("ovn-ovsdb-nb", "ovn-ovsdb-sb"):  # size medium: three-member raft clusters
        assert workloads[name]["spec"]["replicas"] == 3
        assert workloads[name]["spec"]["template"]["spec"]["nodeSelector"] == {"openstack-control-plane": "enabled"}
        assert "-raft" in " ".join(workloads[name]["spec"]["template"]["spec"]["containers"][0]["command"])
    assert workloads["ovn-northd"]["spec"]["template"]["spec"]["nodeSelector"] == {"openstack-control-plane": "enabled"}
    controller = workloads["ovn-controller-default"]["spec"]["template"]["spec"]
    assert controller["nodeSelector"] == {"openvswitch": "enabled"}
    init = lib.config_file(ovn, "ConfigMap", "ovn-controller-default-bin", "ovn-controller-init.sh")
    assert 'ovn-bridge-mappings="physnet1:br-ex"' in init
    assert 'tunnel_interface="ens4"' in init
    assert "ovn-monitor-all=\"true\"" in init  # spec.services.networking.ovn values
    # gateway chassis where the control plane runs (the init container reads the node's label)
    gateway = next(c for c in controller["initContainers"] if c["name"] == "get-gw-enabled")
    assert "openstack-control-plane" in gateway["command"][-1]
    [policy] = [o for o in ovn if o["kind"] == "NetworkPolicy"]
    rules = {rule["ports"][0]["port"]: rule.get("from") for rule in policy["spec"]["ingress"]}
    assert rules == {6641: [{"podSelector": {}}], 6642: None, 6643: [{"podSelector": {"matchLabels": {"application": "ovn"}}}],
                     6644: [{"podSelector": {"matchLabels": {"application": "ovn"}}}]}


def test_the_open_vswitch_backend_installs_no_ovn(deployments: Deployments) -> None:
    assert "openstack-ovn" not in deployments.get_ok("all-features").releases


def test_ironic_boots_nodes_from_its_conductors_on_the_manifests_network(deployments: Deployments) -> None:
    release = deployments.get_ok("all-features").releases["openstack-ironic"]
    assert release.problem is None, release.problem
    conf = lib.config_file(release.manifests, "Secret", "ironic-etc", "ironic.conf")
    for section, option, value in (
            ("agent", "image_download_source", "http"),  # served by the conductors: no object store
            ("neutron", "cleaning_network", "provisioning"),
            ("neutron", "provisioning_network", "provisioning"),
            ("DEFAULT", "enabled_console_interfaces", "no-console"),  # console.serial.enabled false
            ("glance", "username", "ironic")):  # ironic's own user, not glance's
        assert lib.ini_has(conf, section, option, value), (section, option)
    workloads = {o["metadata"]["name"]: o for o in lib.workloads(release.manifests)}
    conductor = workloads["ironic-conductor"]["spec"]
    assert conductor["replicas"] == 3 and conductor["template"]["spec"]["hostNetwork"] is True
    assert conductor["template"]["spec"]["nodeSelector"] == {"openstack-control-plane": "enabled"}
    assert "requiredDuringSchedulingIgnoredDuringExecution" in conductor["template"]["spec"]["affinity"]["podAntiAffinity"]
    init = {c["name"]: c for c in conductor["template"]["spec"]["initContainers"]}
    assert {"name": "PROVISIONER_INTERFACE", "value": "pxe0"} in init["ironic-conductor-init"]["env"]
    assert "ironic-retrive-swift-config" not in init
    # the bootstrap Job runs our script with the manifest's network and agent images, as the admin
    script = lib.config_file(release.manifests, "ConfigMap", "ironic-bin", "bootstrap.sh")
    for line in ("NETWORK=provisioning", "PHYSNET=ironic", "NETWORK_TYPE=vlan", "SEGMENTATION_ID=3001", "MTU=1500",
                 "EXTERNAL=false", "SHARED=true", "SUBNET_RANGE=10.30.0.0/24", "GATEWAY=10.30.0.1",
                 "KERNEL_URL=https://mirror.example.net/ipa/tinyipa-stable-2025.1.vmlinuz",
                 "INITRAMFS_URL=https://mirror.example.net/ipa/tinyipa-stable-2025.1.gz"):
        assert f"\n{line}\n" in script, line
    assert "Job/ironic-manage-cleaning-network" not in {lib.name_of(o) for o in release.manifests}  # flat only
    [job] = [o for o in release.manifests if o["kind"] == "Job" and o["metadata"]["name"] == "ironic-bootstrap"]
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["OS_USERNAME"]["valueFrom"]["secretKeyRef"]["name"] == "ironic-keystone-admin"


def test_nova_runs_ironics_compute_driver_only_with_baremetal(deployments: Deployments) -> None:
    nova = deployments.get_ok("all-features").releases["openstack-nova"].manifests
    [compute] = [o for o in lib.workloads(nova) if o["metadata"]["name"] == "nova-compute-ironic"]
    assert compute["spec"]["template"]["spec"]["nodeSelector"] == {"openstack-control-plane": "enabled"}
    # the driver's credentials: a snippet of the chart's nova.conf.d
    assert lib.ini_has(lib.config_file(nova, "Secret", "nova-ks-etc", "nova_ironic.conf"), "ironic", "username",
                       "nova_ironic")
    others = deployments.get_ok("ovn").releases["openstack-nova"].manifests
    assert not [o for o in lib.workloads(others) if o["metadata"]["name"] == "nova-compute-ironic"]
