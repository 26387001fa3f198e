"""End to end, what the secrets process exchanges through Secrets with its neighbours: the storage side's Ceph keys,
copied into the deployment's namespace in the charts' form (a change re-renders exactly their four users), the
object gateway's Keystone credentials published back (the deployed user, through a rotation, withdrawn with the
osdpl), and the public endpoints' certificate, checked against the routed host names; without features.ceph, the
charts' own Ceph wiring waited for. Each test has a deployment of its own."""

from __future__ import annotations

import base64
import datetime
import json
import time
from typing import Any, Iterator

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from openstack_operator.core.secrets.ceph import GATEWAY_CREDENTIAL
from openstack_operator.core.secrets.rotation import rotate_annotation

from .conftest import (DEPLOY_TIMEOUT, STORAGE_NAMESPACE, Deployment, Helm, Kubectl, Operators, minimal,
                       wait_for)

CEPH_USERS = {"openstack-glance", "openstack-cinder", "openstack-nova", "openstack-libvirt"}


def _key(seed: str) -> str:
    return base64.b64encode(seed.encode().ljust(40, b"0")).decode()


def _pelagia(monitors: str) -> dict[str, str]:
    """The storage side's Secret as Pelagia publishes it (docs/resource.md, features.ceph)."""
    return {"client.admin": _key("admin"), "mon_endpoints": monitors,
            "glance": f"client.glance;{_key('glance')}\n;images-hdd:images:hdd",
            "cinder": f"client.cinder;{_key('cinder')}\n;volumes-hdd:volumes:hdd;images-hdd:images:hdd",
            "nova": f"client.nova;{_key('nova')}\n;vms-hdd:vms:hdd"}


def _apply_secret(kubectl: Kubectl, namespace: str, name: str, data: dict[str, str], kind: str = "Opaque") -> None:
    body = {"apiVersion": "v1", "kind": "Secret", "type": kind, "metadata": {"name": name, "namespace": namespace},
            "stringData": data}
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(body))


def test_without_features_ceph_an_rbd_backend_waits_for_the_charts_own_ceph_wiring(
        namespace: str, operators: Operators, kubectl: Kubectl) -> None:
    """cinder's default rbd backend without features.ceph mounts ceph-etc and pvc-ceph-client-key (ceph-adapter-rook
    creates them): until both exist nothing is written, since those pods could never start."""
    manifest = minimal("osh-wired")
    manifest["spec"]["preset"] = "compute"
    deployment = Deployment(kubectl, namespace, manifest)
    deployment.apply()
    wait_for("waiting for the charts' Ceph wiring", lambda: deployment.condition("Progressing").get("reason") ==
             "WaitingForCephWiring", operators)
    message = deployment.condition("Progressing")["message"]
    assert f"ConfigMap {namespace}/ceph-etc and Secret {namespace}/pvc-ceph-client-key" in message, message
    assert kubectl.json("-n", namespace, "get", "helmbundles")["items"] == []
    kubectl.run("-n", namespace, "create", "configmap", "ceph-etc", "--from-literal=ceph.conf=[global]")
    wait_for("only the Secret named", lambda: "ConfigMap" not in deployment.condition("Progressing")["message"],
             operators)
    assert kubectl.json("-n", namespace, "get", "helmbundles")["items"] == []
    _apply_secret(kubectl, namespace, "pvc-ceph-client-key", {"key": _key("admin")})
    wait_for("the block storage bundle written", lambda: "block-storage" in {
        b["spec"]["service"] for b in kubectl.json("-n", namespace, "get", "helmbundles")["items"]}, operators)


def test_changed_ceph_keys_re_render_exactly_glance_cinder_nova_and_libvirt(
        namespace: str, debug_operators: Operators, kubectl: Kubectl, helm: Helm) -> None:
    operators = debug_operators
    manifest = minimal("osh-ceph")
    manifest["spec"]["preset"] = "compute"
    manifest["spec"].setdefault("features", {}).update({
        "glance": {"backend": "rbd"}, "cinder": {"backend": "rbd"},
        "ceph": {"enabled": True, "keys_secret": {"namespace": namespace, "name": "ceph-keys"}}})
    deployment = Deployment(kubectl, namespace, manifest)
    deployment.apply()
    # Nothing to render from before the storage side publishes its keys: the osdpl says what it waits for.
    wait_for("waiting for the Ceph keys", lambda: deployment.condition("Progressing").get("reason") ==
             "WaitingForCephKeys", operators)
    assert "ceph-keys" in deployment.condition("Progressing")["message"]
    _apply_secret(kubectl, namespace, "ceph-keys", _pelagia("10.0.0.1:6789,10.0.0.2:6789"))
    wait_for("Ready", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT,
             describe=lambda: deployment.get().get("status", {}).get("conditions"))
    # What the charts mount, in their form; the admin key is never copied.
    conf = kubectl.json("-n", namespace, "get", "configmap", "ceph-etc")["data"]["ceph.conf"]
    assert "10.0.0.1:6789" in conf
    keyring = kubectl.json("-n", namespace, "get", "secret", "images-rbd-keyring")["data"]["key"]
    assert base64.b64decode(keyring).decode() == _key("glance")
    copies = json.dumps([o for o in kubectl.json("-n", namespace, "get", "secrets,configmaps")["items"]
                         if o["metadata"]["name"] != "ceph-keys"])  # the source lives here too, in this test
    assert _key("admin") not in copies and base64.b64encode(_key("admin").encode()).decode() not in copies
    before = helm.revisions(namespace)
    assert CEPH_USERS <= set(before)

    _apply_secret(kubectl, namespace, "ceph-keys", _pelagia("10.0.0.1:6789,10.0.0.3:6789"))
    wait_for("the new monitors copied", lambda: "10.0.0.3:6789" in kubectl.json(
        "-n", namespace, "get", "configmap", "ceph-etc")["data"]["ceph.conf"], operators)
    wait_for("Ready with the new keys", lambda: deployment.ready_at_generation() and all(
        helm.revisions(namespace)[r] == before[r] + 1 for r in CEPH_USERS), operators, timeout=300)
    after = helm.revisions(namespace)
    assert {r for r in after if after[r] != before[r]} == CEPH_USERS
    # A broken source is a condition naming the key, and the copy in use stays.
    _apply_secret(kubectl, namespace, "ceph-keys", {**_pelagia("10.0.0.1:6789"), "cinder": "client.cinder;"})
    degraded = wait_for("Degraded CephKeysInvalid", lambda: deployment.condition("Degraded").get("reason") ==
                        "CephKeysInvalid" and deployment.condition("Degraded"), operators)
    assert "cinder" in degraded["message"] and _key("cinder") not in degraded["message"]
    assert helm.revisions(namespace) == after
    # No key in any log line (DEBUG), Event, status or HelmBundle.
    texts = {"logs": operators.log_text(full=True),
             "events": kubectl.run("-n", namespace, "get", "events", "-o", "json").stdout,
             "osdpl": json.dumps(deployment.get()),
             "bundles": kubectl.run("-n", namespace, "get", "helmbundles", "-o", "json").stdout}
    keys = {_key(name) for name in ("admin", "glance", "cinder", "nova")}
    assert not {where for where, text in texts.items() for key in keys if key in text}


@pytest.fixture(scope="module")
def storage_namespace(kubectl: Kubectl) -> Iterator[str]:
    """The storage side's namespace, where the gateway's credentials are published: the one the operators are
    started for (OSOP_CEPH_NAMESPACES)."""
    kubectl.run("create", "namespace", STORAGE_NAMESPACE)
    yield STORAGE_NAMESPACE
    kubectl.run("delete", "namespace", STORAGE_NAMESPACE, "--wait=false")


def _published(kubectl: Kubectl, namespace: str) -> dict[str, str] | None:
    found = kubectl.run("-n", namespace, "get", "secret", "rgw-creds", "-o", "json", "--ignore-not-found").stdout
    if not found.strip():
        return None
    return {k: base64.b64decode(v).decode() for k, v in (json.loads(found).get("data") or {}).items()}


def _gateway_record(kubectl: Kubectl, namespace: str, osdpl: str) -> dict[str, str]:
    data = kubectl.json("-n", namespace, "get", "secret", f"{osdpl}-credentials")["data"]
    record: dict[str, str] = json.loads(base64.b64decode(data[GATEWAY_CREDENTIAL]))
    return record


def _rotation(deployment: Deployment) -> dict[str, Any]:
    credentials = (deployment.get().get("status") or {}).get("credentials") or {}
    found: dict[str, Any] = (credentials.get("rotations") or {}).get("service") or {}
    return found


def _registered_endpoints(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    """Interface -> URL, as the ceph-rgw release's ks-endpoints Job registers them in Keystone."""
    job = kubectl.json("-n", namespace, "get", "job", "ceph-ks-endpoints")
    found = {}
    for container in job["spec"]["template"]["spec"]["containers"]:
        env = {item["name"]: item.get("value") for item in container.get("env", [])}
        found[env["OS_SVC_ENDPOINT"]] = env["OS_SERVICE_ENDPOINT"]
    return found


def test_the_object_gateway_is_registered_and_gets_the_keystone_user_through_a_rotation_until_the_osdpl_goes(
        namespace: str, storage_namespace: str, operators: Operators, kubectl: Kubectl) -> None:
    manifest = minimal("osh-rgw")
    manifest["spec"].setdefault("features", {}).update({
        "services": ["object-storage"],
        "glance": {"backend": "rbd"},
        "ceph": {"enabled": True, "keys_secret": {"namespace": storage_namespace, "name": "ceph-keys"},
                 "object_gateway": {"enabled": True, "credentials_secret": {"namespace": storage_namespace,
                                                                            "name": "rgw-creds"}}}})
    _apply_secret(kubectl, storage_namespace, "ceph-keys", _pelagia("10.0.0.1:6789"))
    deployment = Deployment(kubectl, namespace, manifest)
    deployment.apply()
    # object-storage registers the gateway at the URLs the storage side publishes: nothing is written until it does.
    waiting = wait_for("Ready=False naming the missing URLs", lambda: (c := deployment.condition("Ready")).get(
        "status") == "False" and "rgw_internal and rgw_external" in c.get("message", "") and c, operators)
    assert f"Secret {storage_namespace}/ceph-keys has no rgw_internal" in waiting["message"], waiting
    assert not kubectl.json("-n", namespace, "get", "helmbundles")["items"]
    _apply_secret(kubectl, storage_namespace, "ceph-keys", {
        **_pelagia("10.0.0.1:6789"), "rgw_internal": "https://rook-ceph-rgw-store.rook-ceph.svc:8443",
        "rgw_external": "https://object-store.cloud.example.com"})
    # Published once keystone has created the user: with the deployment Ready, not before.
    wait_for("Ready", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT)
    assert _registered_endpoints(kubectl, namespace) == {
        "admin": "https://rook-ceph-rgw-store.rook-ceph.svc:8443/swift/v1/KEY_$(tenant_id)s",
        "internal": "https://rook-ceph-rgw-store.rook-ceph.svc:8443/swift/v1/KEY_$(tenant_id)s",
        "public": "https://object-store.cloud.example.com/swift/v1/KEY_$(tenant_id)s"}
    published = wait_for("published", lambda: _published(kubectl, storage_namespace), operators)
    record = _gateway_record(kubectl, namespace, "osh-rgw")
    assert (published["username"], published["password"]) == (record["username"], record["password"])
    assert published["auth_url"] == f"http://keystone-api.{namespace}.svc.cluster.local:5000/v3"
    assert published["project_name"] == "service" and published["interface"] == "internal"
    gateway_status = deployment.get()["status"]["object_gateway"]
    assert gateway_status["state"] == "Published" and record["password"] not in json.dumps(deployment.get())

    # A rotation of the service users: the old user stays published while the releases move to the new one, and
    # the new one is published when the rotation ends.
    kubectl.run("-n", namespace, "annotate", "osdpl", "osh-rgw", f"{rotate_annotation('service')}=r-{time.time()}")
    wait_for("the rotation rolling out", lambda: _rotation(deployment).get("phase") in ("RollingOut", "Done"),
             operators)
    deadline = time.monotonic() + DEPLOY_TIMEOUT
    while time.monotonic() < deadline:
        # Read before the phase: the phase is Done before the new user is published, so a Secret read while the
        # phase read after it still says RollingOut was read during the rollout.
        seen = _published(kubectl, storage_namespace)
        if _rotation(deployment).get("phase") != "RollingOut":
            break
        assert seen == published
        time.sleep(1)
    assert _rotation(deployment).get("phase") == "Done"
    new = _gateway_record(kubectl, namespace, "osh-rgw")
    assert new["username"].startswith("ceph_rgw_") and new["password"] != record["password"]
    wait_for("the new user published", lambda: (_published(kubectl, storage_namespace) or {}).get("password") ==
             new["password"], operators)
    assert _published(kubectl, storage_namespace)["username"] == new["username"]  # type: ignore[index]

    # A Secret of the same name that is not ours is never overwritten: reported instead.
    foreign = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "rgw-creds", "namespace": storage_namespace},
               "stringData": {"username": "someone-else"}}  # replaced whole: our labels go
    kubectl.run("replace", "-f", "-", input=json.dumps(foreign))
    wait_for("the foreign Secret reported", lambda: deployment.get()["status"]["object_gateway"]["state"] ==
             "Invalid", operators)
    assert _published(kubectl, storage_namespace) == {"username": "someone-else"}
    kubectl.run("-n", storage_namespace, "delete", "secret", "rgw-creds")
    wait_for("published again", lambda: _published(kubectl, storage_namespace), operators)

    # Deleting the osdpl withdraws the credentials: its user goes with the keystone release.
    kubectl.run("-n", namespace, "delete", "osdpl", "osh-rgw", "--wait=false")
    wait_for("the credentials withdrawn", lambda: _published(kubectl, storage_namespace) is None, operators,
             timeout=DEPLOY_TIMEOUT)


def _certificate(hosts: list[str], days: int) -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
            .sign(key, hashes.SHA256()))
    return {"tls.crt": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "tls.key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode()}


def _certificate_status(deployment: Deployment) -> dict[str, Any]:
    found: dict[str, Any] = (deployment.get().get("status") or {}).get("certificate") or {}
    return found


def test_the_public_certificate_is_checked_against_the_routed_host_names(
        namespace: str, operators: Operators, kubectl: Kubectl) -> None:
    manifest = minimal("osh-tls")
    manifest["spec"].setdefault("features", {})["ssl"] = {
        "public_endpoints": {"enabled": True, "secret_name": "public-tls"}}
    deployment = Deployment(kubectl, namespace, manifest)
    # A certificate for only some of the public host names: Degraded, naming the others.
    _apply_secret(kubectl, namespace, "public-tls", _certificate(["keystone.cloud.example.com"], 365),
                  "kubernetes.io/tls")
    deployment.apply()
    degraded = wait_for("Degraded CertificateInvalid", lambda: deployment.condition("Degraded").get("reason") ==
                        "CertificateInvalid" and deployment.condition("Degraded"), operators,
                        timeout=DEPLOY_TIMEOUT)
    assert "glance.cloud.example.com" in degraded["message"] and "public-tls" in degraded["message"]
    # A wildcard certificate that expires in a week: no longer Degraded, but reported.
    _apply_secret(kubectl, namespace, "public-tls", _certificate(["*.cloud.example.com"], 7), "kubernetes.io/tls")
    wait_for("the certificate expiring", lambda: _certificate_status(deployment).get("state") == "Expiring",
             operators)
    wait_for("Ready", deployment.ready_at_generation, operators, timeout=DEPLOY_TIMEOUT)
    assert deployment.condition("Degraded")["status"] == "False"
    assert "expires" in _certificate_status(deployment)["message"]
    events = kubectl.json("-n", namespace, "get", "events", "--field-selector", "reason=PublicCertificateExpiring")
    assert events["items"]
