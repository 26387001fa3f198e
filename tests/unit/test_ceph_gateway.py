"""features.ceph.object_gateway: the Keystone user the keystone release creates for the storage side's object
gateway, and the facts published for it (core.secrets.ceph, "Publishing back")."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.ceph import (DEFAULT_GATEWAY_SECRET_NAME, DEFAULT_KEYS_NAMESPACE, GATEWAY_CREDENTIAL,
                                          GATEWAY_PASSWORD_DIR, GATEWAY_PASSWORD_KEY, GATEWAY_PASSWORD_SECRET,
                                          deployed_gateway_credential, gateway_credentials, gateway_secret, keystone_internal_url,
                                          placeholder_exchange)
from openstack_operator.core.secrets.credentials import (Credential, Stored, placeholder_credentials,
                                                 required_credentials, rotated)
from openstack_operator.core.errors import OperatorError, RenderError
from openstack_operator.core.schema.manifest import Osdpl, load_osdpl
from openstack_operator.core.rendering.renderer import RenderedRelease, Renderer

from .conftest import load_example

KEYSTONE = "openstack-keystone"
PASSWORD = "Gw0password0for0the0gateway0abcd"
USER = Credential("ceph_rgw", PASSWORD)


def _doc(ceph: bool = True, gateway: bool = True, **secret: str) -> dict[str, Any]:
    doc = load_example("full")
    features = doc["spec"]["features"]
    features["glance"] = {"backend": "rbd"}
    if ceph:
        features["ceph"] = {"enabled": True, "object_gateway": {"enabled": gateway}}
        if secret:
            features["ceph"]["object_gateway"]["credentials_secret"] = secret
    return doc


def _render(renderer: Renderer, doc: dict[str, Any], user: Credential | None = USER,
            only: set[str] | None = None) -> dict[str, RenderedRelease]:
    catalog = renderer.catalog
    osdpl = load_osdpl(catalog, doc)
    credentials = placeholder_credentials(catalog, required_credentials(catalog, osdpl.spec.enabled_services(catalog)))
    if user is None:
        del credentials[GATEWAY_CREDENTIAL]
    else:
        credentials[GATEWAY_CREDENTIAL] = user
    services = renderer.render(osdpl.spec, credentials, osdpl.namespace, only=only, ceph=placeholder_exchange())
    return {release.name: release for service in services for release in service.releases}


def _keystone(renderer: Renderer, doc: dict[str, Any], user: Credential | None = USER) -> RenderedRelease:
    return _render(renderer, doc, user, only={"identity"})[KEYSTONE]


def _osdpl(catalog: Catalog, doc: dict[str, Any]) -> Osdpl:
    return load_osdpl(catalog, doc)


# ---------------------------------------------------------------------------------------------------------------
# The spec and the published facts


def test_the_secret_is_published_only_when_both_are_on(catalog: Catalog) -> None:
    def secret(doc: dict[str, Any]) -> tuple[str, str] | None:
        return gateway_secret(_osdpl(catalog, doc).spec.features)

    assert secret(_doc(ceph=False)) is None
    assert secret(_doc(gateway=False)) is None
    assert secret(_doc()) == (DEFAULT_KEYS_NAMESPACE, DEFAULT_GATEWAY_SECRET_NAME) == (
        "openstack-ceph-shared", "openstack-rgw-creds")
    assert secret(_doc(namespace="rook-ceph", name="rgw-keystone")) == ("rook-ceph", "rgw-keystone")


def test_the_published_data_are_rockoons_keys(catalog: Catalog) -> None:
    spec = _osdpl(catalog, _doc()).spec
    data = gateway_credentials(spec, "openstack", USER)
    assert data == {
        "auth_url": f"http://keystone-api.openstack.svc.{spec.internal_domain_name}:5000/v3",
        "default_domain": "default",
        "interface": "internal",
        "password": PASSWORD,
        "project_domain_name": "default",
        "project_name": "service",
        "public_domain": spec.public_domain_name,
        "region_name": spec.region_name,
        "user_domain_name": "default",
        "username": "ceph_rgw",
    }
    assert all(isinstance(value, str) for value in data.values())


def test_the_auth_url_follows_namespace_and_cluster_domain(catalog: Catalog) -> None:
    doc = _doc()
    doc["spec"]["internal_domain_name"] = "cluster.example"
    doc["spec"]["region_name"] = "RegionTwo"
    spec = _osdpl(catalog, doc).spec
    data = gateway_credentials(spec, "cloud-a", Credential("ceph_rgw_k3x9q2", PASSWORD))
    assert data["auth_url"] == keystone_internal_url("cloud-a", "cluster.example") == (
        "http://keystone-api.cloud-a.svc.cluster.example:5000/v3")
    assert (data["region_name"], data["username"]) == ("RegionTwo", "ceph_rgw_k3x9q2")


@pytest.mark.parametrize("credential", [Credential("ceph_rgw", ""), Credential("", PASSWORD),
                                        Credential("ceph_rgw", PASSWORD + "\n" + PASSWORD),
                                        Credential("ceph\trgw" + PASSWORD, PASSWORD)])
def test_a_broken_credential_is_refused_without_its_value(catalog: Catalog, credential: Credential) -> None:
    with pytest.raises(OperatorError) as error:
        gateway_credentials(_osdpl(catalog, _doc()).spec, "openstack", credential)
    assert GATEWAY_CREDENTIAL in str(error.value)
    assert PASSWORD not in str(error.value)


def test_the_credential_is_a_rotated_keystone_service_user(catalog: Catalog) -> None:
    spec = catalog.credentials[GATEWAY_CREDENTIAL]
    assert (spec.kind, spec.username, spec.rotation) == ("keystone", "ceph_rgw", "service")
    assert GATEWAY_CREDENTIAL in catalog.charts["keystone"].credentials
    assert rotated(catalog, GATEWAY_CREDENTIAL, USER).username.startswith("ceph_rgw_")


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def test_the_published_user_is_the_one_the_deployed_keystone_created(catalog: Catalog) -> None:
    new = rotated(catalog, GATEWAY_CREDENTIAL, USER)
    other = {"keystone_admin": Credential("admin", "x" * 32)}
    # First deployment: nothing until keystone has run its bootstrap (every release Ready with these credentials).
    assert deployed_gateway_credential(Stored({GATEWAY_CREDENTIAL: USER, **other}), rolled_out=False) is None
    assert deployed_gateway_credential(Stored({GATEWAY_CREDENTIAL: USER, **other}), rolled_out=True) == USER
    # A rotation of its group: the old user, which Keystone keeps, until the rotation ends.
    rotating = Stored({GATEWAY_CREDENTIAL: new, **other}, previous={GATEWAY_CREDENTIAL: USER})
    assert deployed_gateway_credential(rotating, rolled_out=False) == USER
    assert deployed_gateway_credential(rotating, rolled_out=True) == USER
    assert deployed_gateway_credential(Stored({GATEWAY_CREDENTIAL: new, **other}), rolled_out=True) == new
    # A rotation of another group leaves the gateway's record where it is.
    admin = Stored({GATEWAY_CREDENTIAL: USER, "keystone_admin": Credential("admin_abc123", "y" * 32)},
                   previous=other)
    assert deployed_gateway_credential(admin, rolled_out=True) == USER


def test_without_the_gateway_no_value_changes(renderer: Renderer) -> None:
    """The credential is generated for every deployment; without the gateway nothing reads it."""
    without_ceph = _render(renderer, _doc(ceph=False))
    off = _render(renderer, _doc(gateway=False))
    other_user = _render(renderer, _doc(gateway=False), Credential("ceph_rgw_k3x9q2", "another"))
    assert off[KEYSTONE].values == without_ceph[KEYSTONE].values
    assert {n: r.fingerprint for n, r in off.items()} == {n: r.fingerprint for n, r in other_user.items()}
    for values in (off[KEYSTONE].values, without_ceph[KEYSTONE].values):
        assert "bootstrap" not in values and "mounts" not in values.get("pod", {})
        assert GATEWAY_PASSWORD_SECRET not in json.dumps(values)


def test_the_gateway_changes_the_keystone_release_only(renderer: Renderer) -> None:
    off, on = _render(renderer, _doc(gateway=False)), _render(renderer, _doc())
    assert sorted(name for name in on if on[name].fingerprint != off[name].fingerprint) == [KEYSTONE]


def test_the_keystone_release_creates_the_user(renderer: Renderer) -> None:
    values = _keystone(renderer, _doc()).values
    script = values["bootstrap"]["script"]
    # The chart's default command stays: the value replaces the chart's whole script.
    assert 'openstack role add --user="${OS_USERNAME}" --domain="${OS_DEFAULT_DOMAIN}" admin' in script
    assert "gateway_user=ceph_rgw\n" in script
    assert "openstack user create --or-show" in script
    assert PASSWORD not in script  # it lands in the ConfigMap keystone-bin
    secret = values["extraObjects"]["ceph_rgw_user"]
    assert (secret["kind"], secret["metadata"]["name"], secret["stringData"]) == (
        "Secret", GATEWAY_PASSWORD_SECRET, {GATEWAY_PASSWORD_KEY: PASSWORD})
    assert f"cat {GATEWAY_PASSWORD_DIR}/{GATEWAY_PASSWORD_KEY}" in script
    mounts = values["pod"]["mounts"]["keystone_bootstrap"]["keystone_bootstrap"]
    assert mounts["volumes"][0]["secret"]["secretName"] == GATEWAY_PASSWORD_SECRET
    assert mounts["volumeMounts"][0]["mountPath"] == GATEWAY_PASSWORD_DIR
    # The public route (and the Gateway, if created) are still there next to it.
    assert "route_keystone" in values["extraObjects"]


def test_every_interpolated_value_is_quoted(renderer: Renderer) -> None:
    name = "ceph rgw'; touch /tmp/owned; echo \"$(id)\""
    script = _keystone(renderer, _doc(), Credential(name, PASSWORD)).values["bootstrap"]["script"]
    assert f"gateway_user={shlex.quote(name)}\n" in script
    assert name not in script.replace(shlex.quote(name), "")


def test_a_missing_credential_is_named_without_any_value(renderer: Renderer) -> None:
    with pytest.raises(RenderError) as error:
        _keystone(renderer, _doc(), user=None)
    assert GATEWAY_CREDENTIAL in str(error.value)
    assert "<" not in str(error.value)  # no other credential's (placeholder) value either


def test_a_service_value_still_has_the_last_word(renderer: Renderer) -> None:
    doc = _doc()
    doc["spec"].setdefault("services", {})["identity"] = {"keystone": {"values": {"bootstrap": {"script": "true"}}}}
    assert _keystone(renderer, doc).values["bootstrap"]["script"] == "true"


# ---------------------------------------------------------------------------------------------------------------
# The bootstrap script against a stand-in for the openstack client: idempotent, rotation-safe, quiet.

STUB = r'''
import json, os, sys
path = os.environ["STUB_STATE"]
state = json.load(open(path)) if os.path.exists(path) else {"projects": {}, "users": {}, "roles": [], "calls": []}
args = sys.argv[1:]
for flag in ("-f", "-c"):
    while flag in args:
        del args[args.index(flag):args.index(flag) + 2]
options = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
words = [a for a in args if not a.startswith("--")]
state["calls"].append(" ".join(words[:2]))
def save():
    json.dump(state, open(path, "w"))
if words[:2] == ["project", "create"]:
    key = options["domain"] + "/" + words[2]
    state["projects"].setdefault(key, "p-" + words[2])
    print(state["projects"][key])
elif words[:2] == ["user", "create"]:
    key = options["domain"] + "/" + words[2]
    state["users"].setdefault(key, {"id": "u-" + str(len(state["users"])), "password": options["password"],
                                    "enabled": True})
    print(state["users"][key]["id"])
elif words[:2] == ["role", "add"]:
    state["roles"].append([options["user"], options.get("project") or "domain:" + options["domain"], words[2]])
elif words[:2] == ["token", "issue"]:
    user = state["users"].get(os.environ["OS_USER_DOMAIN_NAME"] + "/" + os.environ["OS_USERNAME"])
    project = state["projects"].get(os.environ["OS_PROJECT_DOMAIN_NAME"] + "/" + os.environ["OS_PROJECT_NAME"])
    if not (user and user["enabled"] and user["password"] == os.environ["OS_PASSWORD"]
            and any(r[:2] == [user["id"], project] for r in state["roles"])):
        save()
        sys.exit("The request you have made requires authentication. (HTTP 401)")
    print("a-token")
elif words[:2] == ["user", "set"]:
    user = next(u for u in state["users"].values() if u["id"] == words[2])
    user.update({"password": options["password"], "enabled": True})
else:
    save()
    sys.exit("unexpected: " + " ".join(words))
save()
'''


class Keystone:
    """Runs the rendered bootstrap script as the chart does (`set -ex`, then the value), with the admin's openrc
    environment, against a stub `openstack` keeping its state in a file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.state_file = directory / "state.json"
        bin_dir = directory / "bin"
        bin_dir.mkdir()
        stub = bin_dir / "openstack"
        stub.write_text(f"#!{sys.executable}\n{STUB}")
        stub.chmod(0o755)
        self.env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "STUB_STATE": str(self.state_file),
                    "OS_USERNAME": "admin", "OS_PASSWORD": "admin-password", "OS_DEFAULT_DOMAIN": "default",
                    "OS_USER_DOMAIN_NAME": "default", "OS_PROJECT_DOMAIN_NAME": "default", "OS_PROJECT_NAME": "admin"}

    def run(self, values: dict[str, Any], password: str) -> subprocess.CompletedProcess[str]:
        secret_dir = self.directory / "secret"
        secret_dir.mkdir(exist_ok=True)
        (secret_dir / GATEWAY_PASSWORD_KEY).write_text(password)  # as the Secret volume holds it
        script = "set -ex\n" + values["bootstrap"]["script"].replace(GATEWAY_PASSWORD_DIR, str(secret_dir))
        self.clear_calls()
        result = subprocess.run(["bash", "-c", script], env=self.env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(self.state_file.read_text())
        return state

    def clear_calls(self) -> None:
        if self.state_file.exists():
            self.state_file.write_text(json.dumps({**self.state(), "calls": []}))

    def set_password(self, user: str, password: str) -> None:
        state = self.state()
        state["users"][f"default/{user}"]["password"] = password
        self.state_file.write_text(json.dumps(state))


@pytest.fixture
def keystone(tmp_path: Path) -> Keystone:
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    return Keystone(tmp_path)


def test_the_first_run_creates_the_user_with_its_role(renderer: Renderer, keystone: Keystone) -> None:
    result = keystone.run(dict(_keystone(renderer, _doc()).values), PASSWORD)
    state = keystone.state()
    user = state["users"]["default/ceph_rgw"]
    assert (user["password"], user["enabled"]) == (PASSWORD, True)
    assert [user["id"], state["projects"]["default/service"], "admin"] in state["roles"]
    assert ["admin", "domain:default", "admin"] in state["roles"]  # the chart's own command
    assert "user set" not in state["calls"]
    assert PASSWORD not in result.stdout + result.stderr  # xtrace is on around it


def test_a_rerun_changes_nothing(renderer: Renderer, keystone: Keystone) -> None:
    values = dict(_keystone(renderer, _doc()).values)
    keystone.run(values, PASSWORD)
    users = keystone.state()["users"]
    keystone.run(values, PASSWORD)
    assert keystone.state()["users"] == users
    assert "user set" not in keystone.state()["calls"]  # no password change: it would revoke the gateway's tokens


def test_a_password_that_no_longer_works_is_set_again(renderer: Renderer, keystone: Keystone) -> None:
    values = dict(_keystone(renderer, _doc()).values)
    keystone.run(values, PASSWORD)
    keystone.set_password("ceph_rgw", "changed-by-hand")
    result = keystone.run(values, PASSWORD)
    assert keystone.state()["users"]["default/ceph_rgw"]["password"] == PASSWORD
    assert keystone.state()["calls"].count("user set") == 1
    assert PASSWORD not in result.stdout + result.stderr


def test_a_rotation_creates_the_new_user_and_keeps_the_old(renderer: Renderer, keystone: Keystone,
                                                           catalog: Catalog) -> None:
    keystone.run(dict(_keystone(renderer, _doc()).values), PASSWORD)
    new = rotated(catalog, GATEWAY_CREDENTIAL, USER)
    result = keystone.run(dict(_keystone(renderer, _doc(), new).values), new.password)
    users = keystone.state()["users"]
    assert users["default/ceph_rgw"]["password"] == PASSWORD
    assert users[f"default/{new.username}"]["password"] == new.password
    assert new.password not in result.stdout + result.stderr


def test_an_odd_user_name_reaches_keystone_as_it_is(renderer: Renderer, keystone: Keystone, tmp_path: Path) -> None:
    name = f"ceph rgw'; touch {tmp_path}/owned; echo \"$(id)\""
    keystone.run(dict(_keystone(renderer, _doc(), Credential(name, PASSWORD)).values), PASSWORD)
    assert f"default/{name}" in keystone.state()["users"]
    assert not (tmp_path / "owned").exists()
