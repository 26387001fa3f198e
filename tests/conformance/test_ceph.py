"""features.ceph against the real charts: the pods that read the exchange need exactly the objects the operator
copies into the namespace (core.secrets.ceph.namespace_objects), agree on the Ceph client and libvirt secret, and restart
when the exchange changes; with the object gateway, keystone's bootstrap Job creates the gateway's user and the
published facts are the ones the chart itself uses."""

from __future__ import annotations

import shlex
import subprocess
from typing import Any

import pytest

from openstack_operator.core.secrets.ceph import (DIGEST_ANNOTATION, GATEWAY_CREDENTIAL, GATEWAY_DOMAIN,
                                          GATEWAY_PASSWORD_DIR, GATEWAY_PASSWORD_KEY, GATEWAY_PASSWORD_SECRET,
                                          GATEWAY_PROJECT, GATEWAY_ROLE, LIBVIRT_SECRET_UUID, exchange_digest,
                                          gateway_credentials, manila_digest, namespace_objects)

from . import lib
from .conftest import Deployment, Deployments, Rendered

# the rbd charts, and manila with ceph.yaml's cephfs share backend
READERS = ("openstack-glance", "openstack-cinder", "openstack-nova", "openstack-libvirt", "openstack-manila")


def conforms(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


@pytest.fixture
def ceph(deployments: Deployments) -> Deployment:
    return deployments.get_ok("ceph")


def _release(deployment: Deployment, name: str) -> Rendered:
    rendered = deployment.releases[name]
    if rendered.problem:
        pytest.fail(f"{name}: {rendered.problem}")
    return rendered


def test_readers_need_exactly_the_copied_objects(ceph: Deployment) -> None:
    """No admin key (pvc-ceph-client-key) and nothing else from outside: each ConfigMap or Secret the readers'
    pods mount from outside the release is one the operator copies, with the keys they read."""
    copied = {(o.kind, o.name): set(o.data) for o in namespace_objects(ceph.ceph)}
    needed: dict[tuple[str, str], set[str]] = {}
    problems = []
    for name in READERS:
        for ref, keys in lib.external_objects(_release(ceph, name).manifests).items():
            needed.setdefault(ref, set()).update(keys)
            if ref not in copied:
                problems.append(f"{name}: pods need {ref[0]}/{ref[1]}, which the operator does not create")
            elif not keys <= copied[ref]:
                problems.append(f"{name}: pods read keys {sorted(keys - copied[ref])} of {ref[0]}/{ref[1]}")
    problems += [f"{kind}/{obj} is copied but no pod mounts it" for kind, obj in sorted(copied.keys() - needed)]
    conforms(problems)


def test_no_other_release_needs_ceph_objects(ceph: Deployment) -> None:
    copied = {(o.kind, o.name) for o in namespace_objects(ceph.ceph)}
    conforms([f"{name}: pods need {kind}/{obj}" for name, r in sorted(ceph.releases.items())
              if name not in READERS and r.problem is None
              for kind, obj in lib.external_objects(r.manifests) if (kind, obj) in copied])


def test_client_pool_and_secret_uuid_agree(ceph: Deployment) -> None:
    exchange = ceph.ceph
    glance = lib.config_file(_release(ceph, "openstack-glance").manifests, "Secret", "glance-etc", "glance-api.conf")
    cinder = lib.config_file(_release(ceph, "openstack-cinder").manifests, "Secret", "cinder-etc", "backends.conf")
    nova = lib.config_file(_release(ceph, "openstack-nova").manifests, "Secret", "nova-etc", "nova.conf")
    libvirt = lib.container_env(_release(ceph, "openstack-libvirt").manifests, "DaemonSet", "libvirt-libvirt-default",
                                "libvirt")
    expected = [
        ("glance-api.conf [glance_store] default_backend",
         lib.ini_has(glance, "glance_store", "default_backend", "rbd")),
        ("glance-api.conf [rbd] rbd_store_user", lib.ini_has(glance, "rbd", "rbd_store_user", exchange.glance.user)),
        ("glance-api.conf [rbd] rbd_store_pool", lib.ini_has(glance, "rbd", "rbd_store_pool",
                                                             exchange.images_pool.name)),
        ("backends.conf [rbd1] rbd_user", lib.ini_has(cinder, "rbd1", "rbd_user", exchange.cinder.user)),
        ("backends.conf [rbd1] rbd_pool", lib.ini_has(cinder, "rbd1", "rbd_pool", exchange.volumes_pool.name)),
        ("backends.conf [rbd1] rbd_secret_uuid", lib.ini_has(cinder, "rbd1", "rbd_secret_uuid", LIBVIRT_SECRET_UUID)),
        ("backends.conf [rbd1] volume_driver", lib.ini_has(cinder, "rbd1", "volume_driver",
                                                           "cinder.volume.drivers.rbd.RBDDriver")),
        ("nova.conf [libvirt] rbd_user", lib.ini_has(nova, "libvirt", "rbd_user", exchange.cinder.user)),
        ("nova.conf [libvirt] rbd_secret_uuid", lib.ini_has(nova, "libvirt", "rbd_secret_uuid", LIBVIRT_SECRET_UUID)),
        ("libvirt env CEPH_CINDER_USER", libvirt.get("CEPH_CINDER_USER") == exchange.cinder.user),
        ("libvirt env CEPH_CINDER_KEYRING", libvirt.get("CEPH_CINDER_KEYRING") == exchange.cinder.key),
        ("libvirt env LIBVIRT_CEPH_CINDER_SECRET_UUID",
         libvirt.get("LIBVIRT_CEPH_CINDER_SECRET_UUID") == LIBVIRT_SECRET_UUID),
    ]
    conforms([f"{what}: not set from the exchange" for what, ok in expected if not ok])


def test_compute_hosts_get_the_cinder_key_as_a_value(ceph: Deployment) -> None:
    """nova writes the keyring from conf.ceph.cinder.keyring (its ceph-keyring.sh), so no admin key is used."""
    script = lib.config_file(_release(ceph, "openstack-nova").manifests, "ConfigMap", "nova-bin", "ceph-keyring.sh")
    assert f"[client.{ceph.ceph.cinder.user}]" in script and f"key = {ceph.ceph.cinder.key}" in script
    assert "ceph auth get-or-create" not in script


def test_pods_that_read_the_exchange_carry_its_digest(ceph: Deployment) -> None:
    """A new exchange changes the pod template of every workload that mounts a copied object or holds the key
    (manila's share pods: the digest of what they read, its client and ceph.conf)."""
    copied = {(o.kind, o.name) for o in namespace_objects(ceph.ceph)}
    problems, readers = [], []
    for name in READERS:
        digest = manila_digest(ceph.ceph) if name == "openstack-manila" else exchange_digest(ceph.ceph)
        for workload in lib.workloads(_release(ceph, name).manifests):
            if not (lib.external_objects([workload]).keys() & copied):
                continue
            readers.append(lib.name_of(workload))
            annotations = lib.pod_annotations([workload], workload["kind"], workload["metadata"]["name"])
            if digest not in (annotations.get(DIGEST_ANNOTATION),
                              annotations.get("openstackhelm.openstack.org/release_uuid")):
                problems.append(f"{name}: {lib.name_of(workload)} pods do not carry the exchange digest")
    conforms(problems)
    assert {"Deployment/glance-api", "Deployment/cinder-volume", "DaemonSet/libvirt-libvirt-default"} <= set(readers)
    assert any(r.startswith("DaemonSet/nova-compute") for r in readers) and "StatefulSet/manila-share" in readers


# ---------------------------------------------------------------------------------------------------------------
# The object gateway's Keystone user (features.ceph.object_gateway)

KEYSTONE = "openstack-keystone"


def _commands(script: str) -> list[list[str]]:
    """Each line of a shell script as its words: continuations joined, comments and blank lines dropped."""
    lines = (shlex.split(line, comments=True) for line in script.replace("\\\n", " ").splitlines())
    return [words for words in lines if words]


def _bootstrap_script(deployment: Deployment) -> str:
    return lib.config_file(_release(deployment, KEYSTONE).manifests, "ConfigMap", "keystone-bin", "bootstrap.sh")


def _chart_default_script(deployment: Deployment) -> str:
    return str(lib.chart_facts(_release(deployment, KEYSTONE).chart_tgz).defaults["bootstrap"]["script"])


def _bootstrap_pod(manifests: list[lib.Manifest]) -> dict[str, Any]:
    job = next(m for m in manifests if m.get("kind") == "Job" and m["metadata"]["name"] == "keystone-bootstrap")
    pod: dict[str, Any] = job["spec"]["template"]["spec"]
    return pod


def test_the_bootstrap_job_creates_the_gateway_user(ceph: Deployment) -> None:
    """The keystone chart's bootstrap Job (post-install and post-upgrade, as admin) keeps the chart's own commands
    and creates the gateway's user, in the service project of the default domain, with the admin role."""
    user = ceph.credentials[GATEWAY_CREDENTIAL]
    script = _bootstrap_script(ceph)
    commands = _commands(script)
    problems = [f"the chart's default command {' '.join(c)!r} is gone" for c in _commands(_chart_default_script(ceph))
                if c not in commands]
    text = [" ".join(words) for words in commands]
    expected = [
        f"gateway_user={user.username}",
        f"gateway_password=$(cat {GATEWAY_PASSWORD_DIR}/{GATEWAY_PASSWORD_KEY})",
        f"--domain={GATEWAY_DOMAIN} {GATEWAY_PROJECT})",
        f"openstack user create --or-show --enable -f value -c id --domain={GATEWAY_DOMAIN}",
        f"openstack role add --user=${{gateway_user_id}} --project=${{gateway_project}} {GATEWAY_ROLE}",
        "openstack token issue",
        "openstack user set --enable --password=${gateway_password} ${gateway_user_id}",
    ]
    problems += [f"no command with {want!r}" for want in expected if not any(want in line for line in text)]
    syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30)
    problems += [f"bash -n: {syntax.stderr.strip()}"] if syntax.returncode else []
    conforms(problems)


def test_the_gateway_password_reaches_the_bootstrap_job_only_through_a_secret(ceph: Deployment) -> None:
    """The script is a ConfigMap (keystone-bin): the password is in the release's Secret the Job mounts, at the
    path the script reads, and in no ConfigMap."""
    password = ceph.credentials[GATEWAY_CREDENTIAL].password
    manifests = _release(ceph, KEYSTONE).manifests
    assert lib.config_file(manifests, "Secret", GATEWAY_PASSWORD_SECRET, GATEWAY_PASSWORD_KEY) == password
    leaks = [lib.name_of(m) for m in manifests if m.get("kind") == "ConfigMap" and password in str(m.get("data"))]
    assert not leaks, f"the gateway's password is in {leaks}"
    pod = _bootstrap_pod(manifests)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = [(mount, volumes[mount["name"]]) for container in pod["containers"]
              for mount in container.get("volumeMounts") or []
              if (volumes[mount["name"]].get("secret") or {}).get("secretName") == GATEWAY_PASSWORD_SECRET]
    assert [mount["mountPath"] for mount, _ in mounts] == [GATEWAY_PASSWORD_DIR]
    assert [i["path"] for i in mounts[0][1]["secret"]["items"]] == [GATEWAY_PASSWORD_KEY]
    # Only the bootstrap Job mounts it.
    pods = [lib.name_of(m) for m in manifests if m.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job",
                                                                   "CronJob", "Pod")
            and GATEWAY_PASSWORD_SECRET in str(m)]
    assert pods == ["Job/keystone-bootstrap"]


def test_the_published_facts_are_the_charts_own(ceph: Deployment) -> None:
    """auth_url, region, interface and domain as the chart gives them to its own admin (keystone-keystone-admin,
    built from the chart's internal identity endpoint)."""
    admin = {key: lib.config_file(_release(ceph, KEYSTONE).manifests, "Secret", "keystone-keystone-admin", key)
             for key in ("OS_AUTH_URL", "OS_REGION_NAME", "OS_INTERFACE", "OS_USER_DOMAIN_NAME")}
    data = gateway_credentials(ceph.osdpl.spec, ceph.osdpl.namespace, ceph.credentials[GATEWAY_CREDENTIAL])
    assert (data["auth_url"], data["region_name"], data["interface"], data["user_domain_name"]) == (
        admin["OS_AUTH_URL"], admin["OS_REGION_NAME"], admin["OS_INTERFACE"], admin["OS_USER_DOMAIN_NAME"])


@pytest.mark.parametrize("name", ["minimal", "full", "all-features"])
def test_without_the_gateway_the_chart_default_bootstrap_runs(deployments: Deployments, name: str) -> None:
    deployment = deployments.get_ok(name)
    manifests = _release(deployment, KEYSTONE).manifests
    assert "bootstrap" not in _release(deployment, KEYSTONE).release.values
    # The chart's wrapper (set -ex) around its default script
    assert _commands(_bootstrap_script(deployment)) == [["set", "-ex"], *_commands(_chart_default_script(deployment))]
    assert GATEWAY_PASSWORD_SECRET not in str(manifests)
