"""The Ceph exchange: what the storage side publishes for OpenStack, and what the charts read from it.

The storage side (Pelagia on Rook) publishes one Secret, by default openstack-ceph-shared/openstack-ceph-keys,
with the monitor endpoints and one cephx client per OpenStack service (docs/resource.md, features.ceph). The
operator copies into the deployment's namespace only what the upstream OpenStack-Helm charts mount, under the
names they mount by default, and gives the templates the users, pools and the libvirt secret UUID to configure.

Back the other way, with features.ceph.object_gateway, goes what the storage side's object gateway (RGW) needs to
validate OpenStack tokens: a Keystone user of its own, which the keystone release creates, published as facts in
one Secret, by default openstack-ceph-shared/openstack-rgw-creds (Rockoon's names and keys).

The admin key (`client.admin`) is never read: with these objects and values no chart needs it (the charts'
storage-init and clean Jobs, the only admin-key users, are turned off by the templates). The `nova` client is not
read either: a volume attaches with the Ceph identity cinder puts in the connection info (nova prefers it to its
own [libvirt] rbd_user since Ocata), so compute hosts get the cinder client, and no ephemeral disks live in Ceph.
The `manila` client is optional: manila's CephFS share driver mounts it; its changes restart no rbd pod.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Collection, Mapping
from urllib.parse import urlsplit

from openstack_operator.core.secrets.credentials import Credential, Stored
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.models.spec import DeploymentSpec

# Pelagia's and Rockoon's names for the shared namespace and the Secret.
DEFAULT_KEYS_NAMESPACE = "openstack-ceph-shared"
DEFAULT_KEYS_NAME = "openstack-ceph-keys"
DEFAULT_GATEWAY_SECRET_NAME = "openstack-rgw-creds"

# What the charts mount, by their default names (ceph_client.configmap, glance secrets.rbd, cinder
# secrets.rbd.volume); the templates set them from here so the two cannot drift.
CONFIGMAP = "ceph-etc"
GLANCE_KEYRING_SECRET = "images-rbd-keyring"
CINDER_KEYRING_SECRET = "cinder-volume-rbd-keyring"
# manila's secrets.rbd: its share pods place the bare key from it as their keyring (the chart's ceph-keyring.sh).
MANILA_KEYRING_SECRET = "manila-keyring"
# The libvirt secret holding the cinder client key on every compute host; cinder sends this UUID in each volume's
# connection info. It never changes: running guests and libvirt's stored secret refer to it. The charts' default,
# so hosts that ran them already hold a secret under this UUID.
LIBVIRT_SECRET_UUID = "457eb676-33da-42ec-9a8c-9293d545c337"
# The pod annotation holding the exchange digest: a new digest rolls the pods that read the exchange.
DIGEST_ANNOTATION = "openstack.osop.dev/ceph-keys"

# Every value below ends up in a chart's shell script or an ini file (nova writes the keyring with an unquoted
# here-document): only characters that mean nothing to a shell or a parser are accepted.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_KEY = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_ROLE = re.compile(r"[a-z][a-z0-9_-]*")
_DEVICE_CLASS = re.compile(r"[A-Za-z0-9_.-]*")

MON_ENDPOINTS = "mon_endpoints"
GLANCE = "glance"
CINDER = "cinder"
MANILA = "manila"  # optional: the CephFS share driver's client
# The object gateway's URLs (Rockoon's keys): where object-storage registers it in Keystone's catalog.
RGW_INTERNAL = "rgw_internal"
RGW_EXTERNAL = "rgw_external"
GATEWAY_REGISTRAR = "ceph-rgw"  # the chart that registers it (catalog.yaml, service object-storage)
# A host name or an IP address (IPv6 as urlsplit gives it, without brackets): nothing a chart's script would parse.
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]+")


@dataclass(frozen=True)
class CephPool:
    name: str
    role: str  # what the storage side made it for: images, volumes, backup, vms, ...
    device_class: str  # hdd, ssd, ...; may be empty


@dataclass(frozen=True)
class CephClient:
    user: str  # the cephx id without "client.", as OpenStack configuration names it (rbd_user)
    key: str = field(repr=False)  # base64 cephx secret, as `ceph auth get-key` prints it
    pools: tuple[CephPool, ...]

    def pool(self, role: str) -> CephPool | None:
        """The first pool of this role, in the storage side's order."""
        return next((pool for pool in self.pools if pool.role == role), None)


@dataclass(frozen=True)
class GatewayUrl:
    scheme: str  # http or https
    host: str  # a DNS name or an IP address
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class GatewayUrls:
    """Where the storage side's object gateway (RGW) answers: inside the cluster and for the cloud's users."""

    internal: GatewayUrl
    external: GatewayUrl


@dataclass(frozen=True)
class CephExchange:
    mon_hosts: tuple[str, ...]  # "ip:port", IPv6 as "[ip]:port"
    glance: CephClient
    cinder: CephClient
    gateway: GatewayUrls | None = None  # rgw_internal and rgw_external, when the storage side publishes them
    manila: CephClient | None = None  # the `manila` key, when the storage side publishes it; no pool required

    @property
    def images_pool(self) -> CephPool:
        return _required_pool(self.glance, "images")

    @property
    def volumes_pool(self) -> CephPool:
        return _required_pool(self.cinder, "volumes")


@dataclass(frozen=True)
class NamespaceObject:
    """A ConfigMap or Secret the operator keeps in the deployment's namespace, with string data."""

    kind: str  # "ConfigMap" or "Secret"
    name: str
    data: Mapping[str, str] = field(repr=False, hash=False)


def _required_pool(client: CephClient, role: str) -> CephPool:
    pool = client.pool(role)
    if pool is None:  # parse_ceph_keys checks it; only a hand-built exchange gets here
        raise OperatorError(f"Ceph client {client.user} has no {role} pool")
    return pool


# ---------------------------------------------------------------------------------------------------------------
# Parsing the storage side's Secret


def parse_ceph_keys(data: Mapping[str, str], source: str) -> CephExchange:
    """The exchange from a Secret's decoded data. `source` ("<namespace>/<name>") names the Secret in errors,
    which also name the data key at fault but never quote a value. The object gateway's URLs (rgw_internal and
    rgw_external) are optional, and read only when both are there. The `manila` client is optional too, read when
    the key is there and not empty, with no pool required. Other keys (client.admin, nova, rgw_*_cacert, ...) are
    ignored."""
    glance = _client(data, GLANCE, source)
    cinder = _client(data, CINDER, source)
    for client, service, role in ((glance, GLANCE, "images"), (cinder, CINDER, "volumes")):
        if client.pool(role) is None:
            raise OperatorError(f"Secret {source}: key {service!r} lists no pool with role {role!r}")
    manila = _client(data, MANILA, source) if (data.get(MANILA) or "").strip() else None
    return CephExchange(mon_hosts=_mon_hosts(_value(data, MON_ENDPOINTS, source), source),
                        glance=glance, cinder=cinder, gateway=_gateway(data, source), manila=manila)


def _gateway(data: Mapping[str, str], source: str) -> GatewayUrls | None:
    """Both URLs, or None: a storage side that publishes one of them has no gateway for OpenStack's users."""
    if not all((data.get(key) or "").strip() for key in (RGW_INTERNAL, RGW_EXTERNAL)):
        return None
    return GatewayUrls(internal=_gateway_url(data[RGW_INTERNAL], RGW_INTERNAL, source),
                       external=_gateway_url(data[RGW_EXTERNAL], RGW_EXTERNAL, source))


def _gateway_url(text: str, key: str, source: str) -> GatewayUrl:
    """<scheme>://<host>[:<port>][/]: the charts add the Swift API's path themselves."""
    where = f"Secret {source}: key {key!r}"
    try:
        url = urlsplit(text.strip())
        port = url.port
    except ValueError:
        raise OperatorError(f"{where}: not a URL") from None  # the message would quote the text
    if url.scheme not in ("http", "https") or not url.hostname or not _HOST.fullmatch(url.hostname):
        raise OperatorError(f"{where}: not an http(s)://<host>[:<port>] URL")
    if url.username or url.password or url.path not in ("", "/") or url.query or url.fragment:
        raise OperatorError(f"{where}: only <scheme>://<host>[:<port>], no user, path or query")
    return GatewayUrl(scheme=url.scheme, host=url.hostname,
                      port=port if port is not None else (443 if url.scheme == "https" else 80))


def _value(data: Mapping[str, str], key: str, source: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise OperatorError(f"Secret {source}: key {key!r} is missing or empty")
    return value


def _mon_hosts(text: str, source: str) -> tuple[str, ...]:
    hosts = []
    for number, item in enumerate(text.strip().split(","), 1):
        host = _mon_host(item.strip())
        if host is None:
            raise OperatorError(f"Secret {source}: key {MON_ENDPOINTS!r}: endpoint {number} is not <ip>:<port>")
        hosts.append(host)
    return tuple(hosts)


def _mon_host(item: str) -> str | None:
    address, sep, port = item.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    bracketed = address.startswith("[") and address.endswith("]")
    try:
        ip = ipaddress.ip_address(address[1:-1] if bracketed else address)
    except ValueError:
        return None
    if ip.version == 6 and not bracketed:
        return None
    return f"[{ip}]:{int(port)}" if ip.version == 6 else f"{ip}:{int(port)}"


def _client(data: Mapping[str, str], service: str, source: str) -> CephClient:
    """One service entry: Pelagia's "client.<user>;<key>\\n;<pool>:<role>:<class>;..." or the JSON form
    {"client_name": "client.<user>", "key": ..., "pools": ["<pool>:<role>:<class>", ...]}."""
    text = _value(data, service, source)
    where = f"Secret {source}: key {service!r}"
    if text.lstrip().startswith("{"):
        name, key, pools = _json_entry(text, where)
    else:
        parts = text.split(";")
        if len(parts) < 2:
            raise OperatorError(f"{where}: not client.<name>;<key>[;<pool>:<role>:<device class>...]")
        name, key, pools = parts[0], parts[1], parts[2:]
    name, key = name.strip(), key.strip()
    if not name.startswith("client.") or not _NAME.fullmatch(name[len("client."):]):
        raise OperatorError(f"{where}: the client name is not client.<name>")
    if not _valid_key(key):
        raise OperatorError(f"{where}: the client key is not a base64 cephx key")
    parsed = tuple(_pool(item.strip(), number, where) for number, item in enumerate(pools, 1) if item.strip())
    return CephClient(user=name[len("client."):], key=key, pools=parsed)


def _json_entry(text: str, where: str) -> tuple[str, str, list[str]]:
    try:
        entry: dict[str, Any] = json.loads(text)  # an object: the text starts with "{"
    except ValueError:
        raise OperatorError(f"{where}: not valid JSON") from None  # the message would quote the text
    name, key, pools = entry.get("client_name"), entry.get("key"), entry.get("pools", [])
    if not isinstance(name, str) or not isinstance(key, str):
        raise OperatorError(f"{where}: client_name and key must be strings")
    if not isinstance(pools, list) or not all(isinstance(pool, str) for pool in pools):
        raise OperatorError(f"{where}: pools must be a list of strings")
    client_id = entry.get("client_id")
    if client_id is not None and f"client.{client_id}" != name:
        raise OperatorError(f"{where}: client_id does not match client_name")
    return name, key, pools


def _valid_key(key: str) -> bool:
    if not _KEY.fullmatch(key):
        return False
    try:
        return len(base64.b64decode(key, validate=True)) > 0
    except binascii.Error:
        return False


def _pool(item: str, number: int, where: str) -> CephPool:
    parts = item.split(":")
    if (len(parts) != 3 or not _NAME.fullmatch(parts[0]) or not _ROLE.fullmatch(parts[1])
            or not _DEVICE_CLASS.fullmatch(parts[2])):
        raise OperatorError(f"{where}: pool {number} is not <pool>:<role>:<device class>")
    return CephPool(name=parts[0], role=parts[1], device_class=parts[2])


# ---------------------------------------------------------------------------------------------------------------
# What the deployment's namespace and the templates get


def ceph_conf(exchange: CephExchange) -> str:
    """The ceph.conf every Ceph-using pod mounts (nova and libvirt as a template they copy)."""
    return f"[global]\nmon_host = {','.join(exchange.mon_hosts)}\n"


def namespace_objects(exchange: CephExchange) -> list[NamespaceObject]:
    """What the charts mount from the namespace, under the names they mount, each key `key` holding the bare
    cephx key as the charts' keyring-placement init containers expect. The cinder key for nova and libvirt is not
    here: it goes in their values (conf.ceph.cinder.keyring), since without that value both charts mount
    pvc-ceph-client-key as an admin key to create the client themselves. manila's Secret only with its client."""
    objects = _rbd_objects(exchange)
    if exchange.manila is not None:
        objects.append(NamespaceObject("Secret", MANILA_KEYRING_SECRET, {"key": exchange.manila.key}))
    return objects


def _rbd_objects(exchange: CephExchange) -> list[NamespaceObject]:
    """The objects the rbd charts mount: the ConfigMap and glance's and cinder's Secrets."""
    return [
        NamespaceObject("ConfigMap", CONFIGMAP, {"ceph.conf": ceph_conf(exchange)}),
        NamespaceObject("Secret", GLANCE_KEYRING_SECRET, {"key": exchange.glance.key}),
        NamespaceObject("Secret", CINDER_KEYRING_SECRET, {"key": exchange.cinder.key}),
    ]


def _rendered(exchange: CephExchange) -> dict[str, Any]:
    """Everything the rbd charts render from the exchange, objects and template facts, except the digest itself.
    Not manila's client: its pods have a digest of their own (template_facts), and no rbd pod restarts for it."""
    return {
        "objects": [{"kind": o.kind, "name": o.name, "data": dict(o.data)} for o in _rbd_objects(exchange)],
        "configmap": CONFIGMAP,
        "secret_uuid": LIBVIRT_SECRET_UUID,
        "annotation": DIGEST_ANNOTATION,
        "glance": {"user": exchange.glance.user, "pool": exchange.images_pool.name,
                   "keyring_secret": GLANCE_KEYRING_SECRET},
        "cinder": {"user": exchange.cinder.user, "pool": exchange.volumes_pool.name,
                   "keyring_secret": CINDER_KEYRING_SECRET, "key": exchange.cinder.key},
    }


def exchange_digest(exchange: CephExchange) -> str:
    """Digest of everything the rbd charts render from the exchange: it changes exactly when an object or a value
    they read changes (not, say, when the storage side adds a pool no chart is configured with, or when manila's
    client appears or changes)."""
    canonical = json.dumps(_rendered(exchange), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def copy_digest(exchange: CephExchange) -> str:
    """Digest of everything rendered from the exchange, the gateway's URLs included (status.ceph.digest): a change
    renders the deployment again, and exchange_digest decides which pods restart."""
    return hashlib.sha256(json.dumps(to_secret_data(exchange), sort_keys=True).encode()).hexdigest()[:20]


def manila_digest(exchange: CephExchange) -> str | None:
    """Digest of what manila's share pods read from the exchange (its user and key, ceph.conf); None without
    manila's client."""
    if exchange.manila is None:
        return None
    canonical = json.dumps({"user": exchange.manila.user, "key": exchange.manila.key,
                            "ceph.conf": ceph_conf(exchange)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def template_facts(exchange: CephExchange) -> dict[str, Any]:
    """The `ceph` fact of the templates of the charts that use the exchange. The gateway's URLs are outside the
    digest: only the registering chart reads them, and no rbd pod must restart when they change. Nor is manila's
    client in it: `manila` (None without the client) carries a digest of its own for manila's share pods."""
    facts = _rendered(exchange)
    del facts["objects"]
    manila = None if exchange.manila is None else {
        "user": exchange.manila.user, "keyring_secret": MANILA_KEYRING_SECRET, "digest": manila_digest(exchange)}
    return {**facts, "digest": exchange_digest(exchange),
            "gateway": None if exchange.gateway is None else asdict(exchange.gateway), "manila": manila}


# The charts' own Ceph wiring, which their rbd backends mount when features.ceph is off: a ConfigMap with ceph.conf
# and a Secret with an admin key (ceph-adapter-rook creates both; their storage-init Jobs make the clients' keyrings
# from them). The operator creates neither, so it writes nothing until both exist (reconcilers.osdpl_apply).
CHART_WIRING: tuple[tuple[str, str], ...] = (("ConfigMap", "ceph-etc"), ("Secret", "pvc-ceph-client-key"))


def rbd_charts(features: Mapping[str, Any], enabled: Collection[str]) -> frozenset[str]:
    """Charts with a Ceph RBD backend under these (defaulted) features and enabled services: glance with its rbd
    store; cinder with its rbd backend, and with it nova and libvirt, which attach its volumes."""
    charts = set()
    if "image" in enabled and features["glance"]["backend"] == "rbd":
        charts.add("glance")
    if "block-storage" in enabled and features["cinder"]["backend"] == "rbd":
        charts |= {"cinder", "nova", "libvirt"}
    return frozenset(charts)


def consumers(features: Mapping[str, Any], enabled: Collection[str]) -> frozenset[str]:
    """Charts that read the exchange, with features.ceph on: the rbd charts, the chart that registers the
    object gateway (object-storage), and manila with an enabled cephfs share backend."""
    if not features.get("ceph", {}).get("enabled"):
        return frozenset()
    return (rbd_charts(features, enabled) | ({GATEWAY_REGISTRAR} if "object-storage" in enabled else set())
            | ({MANILA} if "shared-file-system" in enabled and cephfs_share_backends(features) else set()))


def cephfs_share_backends(features: Mapping[str, Any]) -> list[str]:
    """The enabled share backends of features.manila (defaulted) with the cephfs driver, by name."""
    backends = features.get("manila", {}).get("share", {}).get("backends", {})
    return sorted(name for name, backend in backends.items()
                  if backend["driver"] == "cephfs" and backend.get("enabled", True))


def chart_wiring_readers(features: Mapping[str, Any], enabled: Collection[str]) -> frozenset[str]:
    """Charts that mount CHART_WIRING: the rbd charts, with features.ceph off."""
    return frozenset() if features.get("ceph", {}).get("enabled") else rbd_charts(features, enabled)


def keys_source(features: Mapping[str, Any]) -> str:
    """The storage side's Secret under these (defaulted) features, as <namespace>/<name>."""
    secret = features["ceph"]["keys_secret"]
    return f"{secret['namespace']}/{secret['name']}"


# ---------------------------------------------------------------------------------------------------------------
# The namespace-local copy


def to_secret_data(exchange: CephExchange) -> dict[str, str]:
    """The exchange as the data of a Secret (the operator's copy in the deployment's namespace), in the JSON form
    parse_ceph_keys reads: from_secret_data(to_secret_data(x)) == x."""
    def entry(client: CephClient) -> str:
        return json.dumps({"client_name": f"client.{client.user}", "key": client.key,
                           "pools": [f"{p.name}:{p.role}:{p.device_class}" for p in client.pools]},
                          sort_keys=True)

    data = {MON_ENDPOINTS: ",".join(exchange.mon_hosts), GLANCE: entry(exchange.glance),
            CINDER: entry(exchange.cinder)}
    if exchange.manila is not None:  # without it, the data (and copy_digest) as before manila was read
        data[MANILA] = entry(exchange.manila)
    if exchange.gateway is not None:
        data.update({RGW_INTERNAL: str(exchange.gateway.internal), RGW_EXTERNAL: str(exchange.gateway.external)})
    return data


def from_secret_data(data: Mapping[str, str], source: str) -> CephExchange:
    """The exchange back from to_secret_data's Secret data (`source` names that Secret in errors)."""
    return parse_ceph_keys(data, source)


def placeholder_exchange() -> CephExchange:
    """A stand-in for offline rendering: shows where each Ceph value lands without knowing any key."""
    def client(user: str, role: str) -> CephClient:
        return CephClient(user=user, key=f"<ceph-{user}-key>", pools=(CephPool(f"<{role}-pool>", role, ""),))

    return CephExchange(mon_hosts=("<mon-endpoints>",), glance=client(GLANCE, "images"),
                        cinder=client(CINDER, "volumes"), manila=CephClient(MANILA, "<ceph-manila-key>", ()),
                        gateway=GatewayUrls(internal=GatewayUrl("https", f"<{RGW_INTERNAL}-host>", 443),
                                            external=GatewayUrl("https", f"<{RGW_EXTERNAL}-host>", 443)))


# ---------------------------------------------------------------------------------------------------------------
# Publishing back: the object gateway's Keystone user

GATEWAY_CREDENTIAL = "ceph_rgw_keystone"  # catalog.yaml; declared by the keystone chart, whose bootstrap creates it
# Where the user lives and what it holds. `admin`: what the gateway needs to validate any user's token (the
# ceph-rgw chart's own ks-user gives its user the same). The default domain by the name the charts use for it.
GATEWAY_DOMAIN = "default"
GATEWAY_PROJECT = "service"
GATEWAY_ROLE = "admin"
GATEWAY_INTERFACE = "internal"
# The keystone release's Secret with the user's password, mounted into its bootstrap Job only: the bootstrap
# script itself is a ConfigMap (keystone-bin), no place for a password.
GATEWAY_PASSWORD_SECRET = "keystone-ceph-rgw"
GATEWAY_PASSWORD_DIR = "/etc/keystone-ceph-rgw"
GATEWAY_PASSWORD_KEY = "password"

# Keystone's internal endpoint as the charts build it from the keystone chart's endpoints.identity defaults (host
# keystone-api, port 5000, path /v3, plain HTTP inside the cluster) and cluster_domain_suffix, which the templates
# set to spec.internal_domain_name.
KEYSTONE_INTERNAL_HOST = "keystone-api"
KEYSTONE_INTERNAL_PORT = 5000


def gateway_secret(features: Mapping[str, Any]) -> tuple[str, str] | None:
    """The Secret the gateway's credentials are published to under these (defaulted) features, as (namespace,
    name); None when they are not published."""
    ceph = features.get("ceph") or {}
    gateway = ceph.get("object_gateway") or {}
    if not (ceph.get("enabled") and gateway.get("enabled")):
        return None
    secret = gateway["credentials_secret"]
    return secret["namespace"], secret["name"]


def keystone_internal_url(namespace: str, internal_domain: str) -> str:
    return f"http://{KEYSTONE_INTERNAL_HOST}.{namespace}.svc.{internal_domain}:{KEYSTONE_INTERNAL_PORT}/v3"


def gateway_credentials(spec: DeploymentSpec, namespace: str, credential: Credential) -> dict[str, str]:
    """The published Secret's string data: how the gateway reaches Keystone and logs in, plus the public DNS
    domain. Facts only: the storage side decides what to make of them. `credential`: the deployment's
    GATEWAY_CREDENTIAL as the deployed keystone release was rendered with it (a rotation's new user exists only
    once that release's upgrade has run its bootstrap Job). Errors name the credential, never its value."""
    for what, value in (("user name", credential.username), ("password", credential.password)):
        if not value or not value.isprintable():  # an empty or multi-line value would publish a broken login
            raise OperatorError(f"credential {GATEWAY_CREDENTIAL}: the {what} is empty or not printable")
    return {
        "auth_url": keystone_internal_url(namespace, spec.internal_domain_name),
        "default_domain": GATEWAY_DOMAIN,
        "interface": GATEWAY_INTERFACE,
        "password": credential.password,
        "project_domain_name": GATEWAY_DOMAIN,
        "project_name": GATEWAY_PROJECT,
        "public_domain": spec.public_domain_name,
        "region_name": spec.region_name,
        "user_domain_name": GATEWAY_DOMAIN,
        "username": credential.username,
    }


def deployed_gateway_credential(stored: Stored, rolled_out: bool) -> Credential | None:
    """The record of the gateway's user that the deployed keystone release has created, to publish: during a
    rotation of its group the previous one (kept in Keystone until the rotation ends, while the new user exists
    only once keystone's upgrade ran its bootstrap Job); otherwise the current one once every release is Ready
    with the current credentials (`rolled_out`). None when neither is known to exist yet."""
    if GATEWAY_CREDENTIAL in stored.previous:
        return stored.previous[GATEWAY_CREDENTIAL]
    return stored.current.get(GATEWAY_CREDENTIAL) if rolled_out else None


def gateway_template_facts(features: Mapping[str, Any]) -> dict[str, str] | None:
    """The `object_gateway` fact of the templates: what the keystone release creates the user with; None when
    the credentials are not published, so that no value changes for a deployment without the gateway."""
    if gateway_secret(features) is None:
        return None
    return {"credential": GATEWAY_CREDENTIAL, "domain": GATEWAY_DOMAIN, "project": GATEWAY_PROJECT,
            "role": GATEWAY_ROLE, "password_secret": GATEWAY_PASSWORD_SECRET, "password_dir": GATEWAY_PASSWORD_DIR,
            "password_key": GATEWAY_PASSWORD_KEY}


# ---------------------------------------------------------------------------------------------------------------
# Which namespaces the exchange may reach


def refused_namespaces(features: Mapping[str, Any], allowed: tuple[str, ...], own: str) -> dict[str, str]:
    """Per exchange report ("ceph", "object_gateway"), why its Secret is refused under these (defaulted) features:
    it names a namespace other than the deployment's own (`own`) and outside `allowed` (the setting
    OSOP_CEPH_NAMESPACES). The secrets process holds Secrets in every deployment namespace, so without this an osdpl
    could copy another deployment's keys or overwrite its Secrets. The message names the field, never a key."""
    refused = {}
    shown = ", ".join(allowed) or "(none)"
    allowed = (*allowed, own)
    if features.get("ceph", {}).get("enabled"):  # refused even before a chart reads the keys
        namespace = features["ceph"]["keys_secret"]["namespace"]
        if namespace not in allowed:
            refused["ceph"] = (f"spec.features.ceph.keys_secret.namespace: {namespace} is not a Ceph namespace the "
                               f"operator is installed for ({shown}; the operator chart's ceph.namespace)")
    published = gateway_secret(features)
    if published is not None and published[0] not in allowed:
        refused["object_gateway"] = (
            f"spec.features.ceph.object_gateway.credentials_secret.namespace: {published[0]} is not a Ceph "
            f"namespace the operator is installed for ({shown}; the operator chart's ceph.namespace)")
    return refused
