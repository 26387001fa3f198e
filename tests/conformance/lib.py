"""Conformance library: render values with the real OpenStack-Helm charts (`helm template`) and check that what
we set took effect.

Every check is a pure function returning human-readable problems (empty list: conforms). Messages name objects,
paths and credentials, never a password.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import subprocess
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import yaml

from openstack_operator.core.secrets import amphora_pki
from openstack_operator.core.secrets.credentials import AMPHORA_PKI, aes256_key
from openstack_operator.core.secrets.credentials import Credential

Manifest = dict[str, Any]
KeyPath = tuple[str, ...]  # a values path, e.g. ("conf", "nova", "DEFAULT")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
HTTPROUTE_API = "gateway.networking.k8s.io/v1"


# ---------------------------------------------------------------------------------------------------------------
# Charts and `helm template`


@dataclass(frozen=True)
class ChartFacts:
    """What a chart archive tells without rendering: its defaults, the `.Values` paths its own templates and
    helm-toolkit's name, and its per-node override keys with their shape (`conf` or `root`)."""

    defaults: Mapping[str, Any]
    referenced: frozenset[KeyPath]  # by the chart's own templates
    toolkit_referenced: frozenset[KeyPath]  # by helm-toolkit (generic: reads whatever context it is given)
    overrides: Mapping[str, str]


_VALUES_REF = re.compile(r"Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
# `index .Values.a "b" "c"`: the quoted arguments extend the path (keys with dashes are read this way)
_INDEX_REF = re.compile(r'index\s+\(?\$?[A-Za-z_]*\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)*)((?:\s+"[^"]+")+)')
_DAEMONSET_NAME = re.compile(r'\$daemonset\s*:=\s*"([^"]+)"')
# helm-toolkit's custom_pod_annotations reads annotations.pod.<component> for the component a template names
_POD_ANNOTATIONS = re.compile(
    r'tuple\s+"([^"]+)"\s+\S+\s*\|\s*include\s+"helm-toolkit\.snippets\.custom_pod_annotations"')
_COMMENT = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.DOTALL)
# helm-toolkit's db-sync Job runs the image images.tags.<serviceName>_db_sync of the service a template names
_DB_SYNC_JOB = re.compile(r'"serviceName"\s+"([^"]+)"[^\n]*\n(?:.*\n)*?.*helm-toolkit\.manifests\.job_db_sync')


def _references(text: str) -> set[KeyPath]:
    text = _COMMENT.sub("", text)  # template comments mention values they do not read
    found = {tuple(m.group(1)[1:].split(".")) for m in _VALUES_REF.finditer(text)}
    found |= {("annotations", "pod", m.group(1)) for m in _POD_ANNOTATIONS.finditer(text)}
    found |= {("images", "tags", f"{m.group(1)}_db_sync") for m in _DB_SYNC_JOB.finditer(text)}
    for m in _INDEX_REF.finditer(text):
        found.add(tuple(p for p in m.group(1).split(".") if p) + tuple(re.findall(r'"([^"]+)"', m.group(2))))
    return found


@functools.cache
def chart_facts(chart_tgz: Path) -> ChartFacts:
    defaults: Mapping[str, Any] = {}
    own: set[KeyPath] = set()
    toolkit: set[KeyPath] = set()
    overrides: dict[str, str] = {}
    with tarfile.open(chart_tgz) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            file = archive.extractfile(member) if member.isfile() else None
            if file is None:
                continue
            text = file.read().decode(errors="replace")
            if len(parts) == 2 and parts[1] == "values.yaml":
                defaults = yaml.load(text, Loader=_Loader) or {}
            elif len(parts) > 3 and parts[1] == "charts" and "templates" in parts:  # <chart>/charts/helm-toolkit
                toolkit |= _references(text)
            elif parts[1:2] == ["templates"]:
                own |= _references(text)
                # which helm-toolkit override helper a DaemonSet template calls, and for which DaemonSet
                shape = ("root" if "utils.daemonset_overrides_root" in text
                         else "conf" if 'utils.daemonset_overrides"' in text else None)
                name = _DAEMONSET_NAME.search(text)
                if shape and name:
                    overrides[f"{parts[0]}_{name.group(1)}"] = shape
    return ChartFacts(defaults=defaults, referenced=frozenset(own), toolkit_referenced=frozenset(toolkit),
                      overrides=overrides)


class HelmError(Exception):
    pass


_cache: dict[tuple[str, str, str, str], list[Manifest]] = {}
_cache_lock = threading.Lock()


def helm_template(helm: Path, release: str, chart_tgz: Path, namespace: str,
                  values: Mapping[str, Any]) -> list[Manifest]:
    """The chart's manifests for these values, cached per (chart, release, namespace, values digest) for the
    session. Callers must not modify the result."""
    text = json.dumps(values, sort_keys=True)  # JSON is YAML: helm reads it from stdin
    key = (str(chart_tgz), release, namespace, hashlib.sha256(text.encode()).hexdigest())
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    result = subprocess.run(
        [str(helm), "template", release, str(chart_tgz), "--namespace", namespace,
         "--api-versions", HTTPROUTE_API, "-f", "-"],
        input=text, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise HelmError(f"helm template {release} ({chart_tgz.name}): {result.stderr.strip()}")
    manifests = [doc for doc in yaml.load_all(result.stdout, Loader=_Loader) if isinstance(doc, dict)]
    with _cache_lock:
        _cache[key] = manifests
    return manifests


# ---------------------------------------------------------------------------------------------------------------
# Manifest helpers


def _name(obj: Manifest) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def _walk_containers(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every container of an object, wherever its pod template sits (Deployment, CronJob, extra objects...)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from _walk_containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_containers(item)


def _config_files(obj: Manifest) -> dict[str, str]:
    """File name -> text of a Secret (data decoded, stringData) or ConfigMap (data)."""
    files: dict[str, str] = {}
    if obj.get("kind") == "Secret":
        for key, value in (obj.get("data") or {}).items():
            try:
                files[key] = base64.b64decode(str(value)).decode(errors="replace")
            except (binascii.Error, ValueError):
                files[key] = str(value)
        files.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
    elif obj.get("kind") == "ConfigMap":
        files.update({k: str(v) for k, v in (obj.get("data") or {}).items()})
    return files


def _get(tree: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


# ---------------------------------------------------------------------------------------------------------------
# 1. images


def _registry(image: str) -> str:
    first = image.split("/", 1)[0]
    # Docker's rule: a first component with a dot, a colon or "localhost" is a registry host
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io (implicit)"


def foreign_images(manifests: Sequence[Manifest], base_url: str) -> list[str]:
    prefix = base_url.rstrip("/") + "/"
    problems = []
    for obj in manifests:
        for container in _walk_containers(obj):
            image = str(container.get("image", ""))
            if not image.startswith(prefix):
                problems.append(f"{_name(obj)} container {container.get('name')}: image from {_registry(image)}, "
                                f"not {base_url}")
    return problems


def unpinned_images(manifests: Sequence[Manifest], values: Mapping[str, Any]) -> list[str]:
    """Every container runs an image our values name in images.tags: no chart default slips through (a key we
    do not set, or one the chart renamed, leaves the chart's own upstream image in place)."""
    ours = {str(v) for v in (_get(values, ("images", "tags")) or {}).values()}
    problems = []
    for obj in manifests:
        for container in _walk_containers(obj):
            if str(container.get("image", "")) not in ours:
                problems.append(f"{_name(obj)} container {container.get('name')}: image {container.get('image')} "
                                f"is the chart's default, not one of our images.tags")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# 2. replicas

SENTINEL_BASE = 701  # probe replica counts: no chart default and no size layer uses these


def replica_probe_values(values: Mapping[str, Any],
                         defaults: Mapping[str, Any]) -> tuple[dict[str, Any], dict[int, str]]:
    """`values` with every pod.replicas key (ours and the chart's) set to a distinct sentinel; rendering them
    shows which workload reads which key (names differ: nova's `osapi` is component `os-api`)."""
    keys = sorted({**(_get(defaults, ("pod", "replicas")) or {}), **(_get(values, ("pod", "replicas")) or {})})
    sentinels = {SENTINEL_BASE + i: key for i, key in enumerate(keys)}
    probe = json.loads(json.dumps(values))
    probe.setdefault("pod", {})["replicas"] = {key: n for n, key in sentinels.items()}
    return probe, sentinels


def replica_keys(probe_manifests: Sequence[Manifest], sentinels: Mapping[int, str]) -> dict[str, str]:
    """Workload ("Kind/name") -> the pod.replicas key it reads, from a probe rendering."""
    return {_name(obj): sentinels[obj["spec"]["replicas"]] for obj in probe_manifests
            if obj.get("kind") in ("Deployment", "StatefulSet")
            and obj.get("spec", {}).get("replicas") in sentinels}


def replica_mismatches(manifests: Sequence[Manifest], values: Mapping[str, Any],
                       workload_keys: Mapping[str, str]) -> list[str]:
    """Every Deployment/StatefulSet reading a pod.replicas key we set has that many replicas. Keys of workloads
    that are not rendered (disabled components) are fine."""
    ours = _get(values, ("pod", "replicas")) or {}
    problems = []
    for obj in manifests:
        key = workload_keys.get(_name(obj))
        if obj.get("kind") in ("Deployment", "StatefulSet") and key in ours:
            actual = obj.get("spec", {}).get("replicas")
            if actual != ours[key]:
                problems.append(f"{_name(obj)}: replicas {actual}, values pod.replicas.{key} say {ours[key]}")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# 3. public routes


@dataclass(frozen=True)
class Route:
    hostname: str
    service: str
    port: int | None = None  # None: any port the Service exposes


def expected_routes(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[Route]:
    """The public endpoints a release's values declare: every endpoints.<type> whose host_fqdn_override.public.host
    we set, served by the chart's internal Service (hosts.internal, else hosts.default, as helm-toolkit's
    hostname_short_endpoint_lookup resolves it)."""
    routes = []
    for kind, ours in sorted((_get(values, ("endpoints",)) or {}).items()):
        host = _get(ours, ("host_fqdn_override", "public", "host"))
        if not isinstance(host, str):
            continue
        hosts = {**(_get(defaults, ("endpoints", kind, "hosts")) or {}), **(_get(ours, ("hosts",)) or {})}
        service = hosts.get("internal") or hosts.get("default")
        service = service.get("host") if isinstance(service, dict) else service
        routes.append(Route(host, str(service)))
    return routes


def missing_routes(manifests: Sequence[Manifest], expected: Sequence[Route]) -> list[str]:
    """Each expected public hostname has an HTTPRoute with parents, whose backendRef is the expected Service on
    a port that Service exposes. `manifests`: every release of the deployment (routes and Services may live in
    different releases)."""
    services = {obj["metadata"]["name"]: obj for obj in manifests if obj.get("kind") == "Service"}
    routes = [obj for obj in manifests if obj.get("kind") == "HTTPRoute" and obj.get("apiVersion") == HTTPROUTE_API]
    problems = []
    for want in sorted(set(expected), key=lambda r: r.hostname):
        matching = [r for r in routes if want.hostname in (r.get("spec", {}).get("hostnames") or [])]
        if not matching:
            problems.append(f"{want.hostname}: no HTTPRoute ({HTTPROUTE_API}) for this hostname")
            continue
        for route in matching:
            if not route["spec"].get("parentRefs"):
                problems.append(f"{want.hostname}: {_name(route)} has no parentRefs (attached to no Gateway)")
        refs = [ref for route in matching for rule in route["spec"].get("rules") or []
                for ref in rule.get("backendRefs") or [] if ref.get("kind", "Service") == "Service"]
        to_service = [ref for ref in refs if ref.get("name") == want.service
                      and (want.port is None or ref.get("port") == want.port)]
        if not to_service:
            found = ", ".join(sorted(f"{r.get('name')}:{r.get('port')}" for r in refs)) or "none"
            problems.append(f"{want.hostname}: no backendRef to Service {want.service}"
                            f"{'' if want.port is None else f':{want.port}'} (backendRefs: {found})")
            continue
        service = services.get(want.service)
        if service is None:
            problems.append(f"{want.hostname}: backend Service {want.service} is not rendered by any release")
            continue
        ports = {p.get("port") for p in service.get("spec", {}).get("ports") or []}
        for ref in to_service:
            if ref.get("port") not in ports:
                problems.append(f"{want.hostname}: backendRef port {ref.get('port')} is not a port of Service "
                                f"{want.service} ({', '.join(map(str, sorted(ports)))})")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# 4. per-node DaemonSet overrides


def ini_settings(conf: Mapping[str, Any]) -> dict[tuple[str, str], Any]:
    """Scalar settings of a `conf` values tree as (section, option) -> value: conf.<file>.<section>.<option>
    (deeper trees such as conf.plugins.<file>.<section>.<option> alike); conf.<file>.<option> for section-less
    files (libvirt.conf) has section ""."""
    settings: dict[tuple[str, str], Any] = {}

    def walk(node: Mapping[str, Any], path: KeyPath) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, (*path, str(key)))
            elif not isinstance(value, list) and value is not None:
                settings[(path[-1] if len(path) >= 2 else "", str(key))] = value
    walk(conf, ())
    return settings


def _same_value(text: str, want: Any) -> bool:
    text = text.strip().strip("\"'")
    if isinstance(want, bool):
        return text.lower() == str(want).lower()
    if isinstance(want, (int, float)):
        try:
            return float(text) == float(want)
        except ValueError:
            return False
    return text == str(want)


def _file_has(text: str, section: str, option: str, want: Any) -> bool:
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
        elif "=" in line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            if key.strip() == option and current == section and _same_value(value, want):
                return True
    return False


def node_override_problems(manifests: Sequence[Manifest], override_key: str, label: str, value: str,
                           settings: Mapping[tuple[str, str], Any]) -> list[str]:
    """The chart renders, for override key `<chart>_<daemonset>` and node group `label::value`, a DaemonSet of its
    own (helm-toolkit names it `<chart>-<daemonset>-<hash>`, dashes for underscores) that requires `label In
    [value]`, and the configuration it mounts (its own Secret/ConfigMap, rendered from the merged values) holds
    every `settings` (section, option) -> value."""
    group = f"{label}::{value}"
    prefix = override_key.replace("_", "-") + "-"
    candidates = [obj for obj in manifests if obj.get("kind") == "DaemonSet"
                  and str(obj["metadata"]["name"]).startswith(prefix)]
    if not candidates:
        return [f"{group}: no DaemonSet {prefix}* rendered (override key {override_key})"]
    selected = [ds for ds in candidates if _requires(ds, label, value)]
    if not selected:
        return [f"{group}: no DaemonSet {prefix}* requires node label {label} In [{value}] "
                f"(rendered: {', '.join(sorted(ds['metadata']['name'] for ds in candidates))})"]
    configs = {(obj["kind"], obj["metadata"]["name"]): obj for obj in manifests
               if obj.get("kind") in ("Secret", "ConfigMap")}
    # the other DaemonSets of this key (the default one, other groups) must stay off the group's nodes, or two
    # agents run on one host
    problems = [f"{group}: {_name(ds)} may also run on these nodes (no {label} NotIn [{value}])"
                for ds in candidates if ds not in selected and not _excludes(ds, label, value)]
    for ds in selected:
        files = [text for ref in _mounted(ds) if ref in configs for text in _config_files(configs[ref]).values()]
        for (section, option), want in sorted(settings.items()):
            if not any(_file_has(text, section, option, want) for text in files):
                where = f"[{section}] " if section else ""
                problems.append(f"{group}: {_name(ds)}: {where}{option} = {want} not in its mounted configuration")
    return problems


def _node_terms(daemonset: Manifest) -> list[list[Mapping[str, Any]]]:
    """The matchExpressions of each required nodeSelectorTerm (terms are ORed, expressions ANDed)."""
    terms = _get(daemonset, ("spec", "template", "spec", "affinity", "nodeAffinity",
                             "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")) or []
    return [term.get("matchExpressions") or [] for term in terms]


def _requires(daemonset: Manifest, label: str, value: str) -> bool:
    """Every term admits only nodes with label=value (one term without it would let pods land elsewhere)."""
    terms = _node_terms(daemonset)
    return bool(terms) and all(any(e.get("key") == label and e.get("operator") == "In"
                                   and value in (e.get("values") or []) for e in term) for term in terms)


def _excludes(daemonset: Manifest, label: str, value: str) -> bool:
    """Every term rejects nodes with label=value."""
    def rejects(e: Mapping[str, Any]) -> bool:
        listed = value in (e.get("values") or [])
        return e.get("key") == label and ((e.get("operator") == "NotIn" and listed)
                                          or (e.get("operator") == "In" and not listed))
    terms = _node_terms(daemonset)
    return bool(terms) and all(any(rejects(e) for e in term) for term in terms)


def _mounted(daemonset: Manifest) -> list[tuple[str, str]]:
    volumes = _get(daemonset, ("spec", "template", "spec", "volumes")) or []
    refs = [("Secret", v["secret"].get("secretName")) for v in volumes if isinstance(v.get("secret"), dict)]
    refs += [("ConfigMap", v["configMap"].get("name")) for v in volumes if isinstance(v.get("configMap"), dict)]
    return refs


# ---------------------------------------------------------------------------------------------------------------
# 5. credentials


def _forms(password: str, kind: str) -> tuple[str, ...]:
    """How a credential shows in a configuration: itself, the key derived from it (barbican's KEK), or for the
    amphora PKI's record its CA key's passphrase (octavia.conf) and its certificates (the release's Secret)."""
    if kind == AMPHORA_PKI:
        pki = amphora_pki.files(password)
        return (pki.passphrase, *pki.files.values())
    return password, aes256_key(password)


def credential_problems(manifests_by_release: Mapping[str, Sequence[Manifest]],
                        credentials: Mapping[str, Credential], consumers: Mapping[str, Sequence[str]],
                        kinds: Mapping[str, str]) -> list[str]:
    """Each credential's password reaches every release that declares it (in a Secret's or ConfigMap's data, as
    itself or as the key derived from it where the service wants a key: barbican's KEK), and no two credentials
    of one kind share a user name.

    Kind is the system that checks the credential (catalog.yaml `credentials.<name>.kind`): `database` (one
    MariaDB server), `messaging` (one RabbitMQ cluster), `keystone` (one Keystone). Within one system a user name
    is one account with one password, so two credentials naming it would overwrite each other's password
    (the chart's db-init/rabbit-init/ks-user Jobs set it) and rotating one would break the other. Kind `secret`
    (shared keys, no user) and names without a kind are exempt.
    """
    problems = []
    for release, names in sorted(consumers.items()):
        texts = [text for obj in manifests_by_release.get(release, ()) for text in _config_files(obj).values()]
        for name in sorted(names):
            forms = _forms(credentials[name].password, kinds.get(name, "secret")) if name in credentials else ()
            if forms and not any(form in text for text in texts for form in forms):
                problems.append(f"{release}: credential {name} declared but its password is in no Secret or "
                                f"ConfigMap")
    owners: dict[tuple[str, str], list[str]] = {}
    for name, credential in sorted(credentials.items()):
        kind = kinds.get(name, "secret")
        if kind != "secret" and credential.username:
            owners.setdefault((kind, credential.username), []).append(name)
    problems += [f"credentials {', '.join(names)}: one {kind} user name {user!r}"
                 for (kind, user), names in sorted(owners.items()) if len(names) > 1]
    return problems


# ---------------------------------------------------------------------------------------------------------------
# 6. keys the chart never reads

# Keys read although the defaults do not list them: a pattern's last key is the one the defaults may lack (`*`:
# any name), everything above it must be in the chart's defaults (so `endpoints.volume.auth` is not open where
# the chart has no `endpoints.volume`), and anything below it is read. Kept short: each entry is a place where
# helm-toolkit iterates or indexes by a name we choose.
OPEN_MAPS: tuple[tuple[str, ...], ...] = (
    # looked up by endpoint class (default/internal/public/admin/service), any class
    ("endpoints", "*", "hosts", "*"), ("endpoints", "*", "host_fqdn_override", "*"),
    ("endpoints", "*", "path", "*"), ("endpoints", "*", "scheme", "*"), ("endpoints", "*", "port", "*", "*"),
    # users by the names the chart's Jobs and configs ask for; namespace/name of any endpoint
    ("endpoints", "*", "auth", "*"), ("endpoints", "*", "namespace"), ("endpoints", "*", "name"),
    # a component's dependencies (jobs, services, pod, daemonset), read whole by helm-toolkit's init container for
    # the components the chart lists
    ("dependencies", "static", "*", "*"),
    # Kubernetes SecurityContext objects, passed through toYaml by helm-toolkit's security context snippets
    ("pod", "security_context", "*", "pod", "*"), ("pod", "security_context", "*", "container", "*", "*"),
)


# Maps whose keys must be in the defaults although helpers range over the whole map: the image-sync Job lists
# every images.tags key, so a tag no container names would look read.
CLOSED_MAPS: tuple[tuple[str, ...], ...] = (("images", "tags"), ("pod", "replicas"))


def _matches(pattern: KeyPath, path: KeyPath) -> bool:
    return len(pattern) == len(path) and all(p in ("*", k) for p, k in zip(pattern, path))


def _leaves(tree: Mapping[str, Any], path: KeyPath = ()) -> Iterator[KeyPath]:
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*path, str(key)))
        else:
            yield (*path, str(key))  # scalars, lists (replaced whole) and empty maps


def _in_defaults(defaults: Mapping[str, Any], path: KeyPath) -> bool:
    node: Any = defaults
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _open(facts: ChartFacts, prefix: KeyPath) -> bool:
    """Whether everything at and below `prefix` is read although the defaults do not list it."""
    if prefix in {("conf", "overrides", k) for k, s in facts.overrides.items() if s == "conf"} | \
            {("overrides", k) for k, s in facts.overrides.items() if s == "root"}:
        return True  # helm-toolkit's per-node overrides for a DaemonSet this chart renders with them
    if any(_matches(pattern, prefix) for pattern in OPEN_MAPS):
        return _in_defaults(facts.defaults, prefix[:-1])
    if len(prefix) < 2 or not _in_defaults(facts.defaults, prefix[:-1]):
        return False
    default = _get(facts.defaults, prefix[:-1])
    if default is None or default == {}:
        return True  # an empty or null default is a slot for our own keys (extraObjects: {}, conf.policy: {})
    # a key of an ini file (a map of sections, e.g. conf.nova): helm-toolkit's to_oslo_conf renders any section
    return prefix[0] == "conf" and len(prefix) >= 3 and isinstance(default, dict) \
        and all(isinstance(v, dict) or v is None for v in default.values())


def unread_keys(values: Mapping[str, Any], facts: ChartFacts) -> list[str]:
    """Paths of `values` the chart never reads. A leaf is read when its path is in the chart's defaults, lies
    below an open map (`_open`), or a template names it or its parent map (`.Values.a.b`, `index .Values.a "b"`;
    not for CLOSED_MAPS), or the chart's own templates name an ancestor the defaults lack (an optional map the
    chart ranges over, such as keystone's conf.ks_domains). helm-toolkit's references do not count for ancestors:
    it names `.Values.overrides` in every chart, read or not. Each unread subtree is reported once, by the
    shortest path the chart does not know."""
    named = facts.referenced | facts.toolkit_referenced
    unread: dict[KeyPath, int] = {}
    for leaf in _leaves(values):
        if _in_defaults(facts.defaults, leaf) or any(_open(facts, leaf[:i]) for i in range(1, len(leaf) + 1)):
            continue
        if leaf in named:
            continue
        if any(leaf[:len(closed)] == closed for closed in CLOSED_MAPS):
            pass  # only the defaults count (see CLOSED_MAPS)
        elif len(leaf) > 1 and leaf[:-1] in named:
            continue
        elif any(leaf[:i] in facts.referenced and not _in_defaults(facts.defaults, leaf[:i])
                 for i in range(1, len(leaf))):
            continue
        unknown = next(leaf[:i] for i in range(1, len(leaf) + 1) if not _in_defaults(facts.defaults, leaf[:i]))
        unread[unknown] = unread.get(unknown, 0) + 1
    return [f"{'.'.join(path)}: not read by the chart" + (f" ({count} values below)" if count > 1 else "")
            for path, count in sorted(unread.items())]


# ---------------------------------------------------------------------------------------------------------------
# 7. objects from outside the release


ObjectRef = tuple[str, str]  # (kind, name) of a ConfigMap or Secret


def _pod_specs(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every pod spec of an object (Deployment, DaemonSet, StatefulSet, Job, CronJob...)."""
    if isinstance(node, dict):
        if isinstance(node.get("containers"), list):
            yield node
        for value in node.values():
            yield from _pod_specs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _pod_specs(item)


def _volume_source(volume: Mapping[str, Any]) -> tuple[ObjectRef, bool, list[str]] | None:
    """What a volume mounts: the object, whether it may be missing, and the keys it picks (empty: all)."""
    for field, kind, name_key in (("secret", "Secret", "secretName"), ("configMap", "ConfigMap", "name")):
        source = volume.get(field)
        if isinstance(source, dict):
            keys = [str(item["key"]) for item in source.get("items") or []]
            return (kind, str(source.get(name_key))), bool(source.get("optional")), keys
    return None


def external_objects(manifests: Sequence[Manifest]) -> dict[ObjectRef, set[str]]:
    """ConfigMaps and Secrets the release's pods need but the release does not create, with the keys they read
    (an empty set: the whole object). Optional references do not count: a pod starts without them."""
    own = {(str(m.get("kind")), str(m.get("metadata", {}).get("name"))) for m in manifests}
    needed: dict[ObjectRef, set[str]] = {}
    for pod in (p for m in manifests for p in _pod_specs(m)):
        sources = {}
        for volume in pod.get("volumes") or []:
            found = _volume_source(volume)
            if found and not found[1]:
                sources[volume.get("name")] = found
                needed.setdefault(found[0], set()).update(found[2])
        for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            for mount in container.get("volumeMounts") or []:
                source = sources.get(mount.get("name"))
                if source and not source[2] and mount.get("subPath"):
                    needed[source[0]].add(str(mount["subPath"]))
            for env in container.get("env") or []:
                for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                    ref = (env.get("valueFrom") or {}).get(field)
                    if isinstance(ref, dict) and not ref.get("optional"):
                        needed.setdefault((kind, str(ref.get("name"))), set()).add(str(ref.get("key")))
            for env_from in container.get("envFrom") or []:
                for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                    ref = env_from.get(field)
                    if isinstance(ref, dict) and not ref.get("optional"):
                        needed.setdefault((kind, str(ref.get("name"))), set())
    return {ref: keys for ref, keys in needed.items() if ref not in own}


def unnamed_volume_mounts(manifests: Sequence[Manifest]) -> list[str]:
    """Mounts that name no volume of their pod: the API server refuses the workload (helm template does not)."""
    problems = []
    for manifest in manifests:
        claims = {claim.get("metadata", {}).get("name")
                  for claim in (manifest.get("spec") or {}).get("volumeClaimTemplates") or []}  # a StatefulSet's
        for pod in _pod_specs(manifest):
            volumes = claims | {volume.get("name") for volume in pod.get("volumes") or []}
            for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
                problems += [f"{name_of(manifest)} container {container.get('name')} mounts "
                             f"{mount.get('name')}, no volume of its pod"
                             for mount in container.get("volumeMounts") or [] if mount.get("name") not in volumes]
    return problems


def job_written_secrets(manifests: Sequence[Manifest]) -> set[str]:
    """Secrets a Job of the release is told to write: the storage-init Jobs take the keyring's name in
    RBD_POOL_SECRET."""
    return {str(env.get("value")) for m in manifests if m.get("kind") == "Job" for pod in _pod_specs(m)
            for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
            for env in container.get("env") or [] if env.get("name") == "RBD_POOL_SECRET" and env.get("value")}


def missing_dependency_jobs(manifests: Sequence[Manifest]) -> list[str]:
    """Jobs a pod's dependency init container (kubernetes-entrypoint, DEPENDENCY_JOBS) waits for that the
    release does not render: the pod would wait for ever."""
    jobs = {str(m.get("metadata", {}).get("name")) for m in manifests if m.get("kind") == "Job"}
    problems = set()
    for obj in manifests:
        for container in _walk_containers(obj):
            for env in container.get("env") or []:
                if env.get("name") == "DEPENDENCY_JOBS" and env.get("value"):
                    problems |= {f"{_name(obj)} waits for Job/{job}, which the release does not render"
                                 for job in str(env["value"]).split(",") if job and job not in jobs}
    return sorted(problems)


def missing_dependency_pods(manifests: Sequence[Manifest]) -> list[str]:
    """Pods a pod's dependency init container (kubernetes-entrypoint, DEPENDENCY_POD_JSON) waits for that no
    workload of the deployment's releases (`manifests`: all of them) makes: the pod would wait for ever."""
    made = [_get(m, ("spec", "template", "metadata", "labels")) or {} for m in workloads(manifests)]
    problems = set()
    for obj in manifests:
        for container in _walk_containers(obj):
            for env in container.get("env") or []:
                if env.get("name") != "DEPENDENCY_POD_JSON" or not env.get("value"):
                    continue
                for wanted in json.loads(str(env["value"])):
                    labels = wanted.get("labels") or {}
                    if not any(all(have.get(k) == v for k, v in labels.items()) for have in made):
                        problems.add(f"{_name(obj)} waits for a pod labelled {labels}, which no release makes")
    return sorted(problems)


def pod_annotations(manifests: Sequence[Manifest], kind: str, name: str) -> Mapping[str, Any]:
    for obj in manifests:
        if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
            return _get(obj, ("spec", "template", "metadata", "annotations")) or {}
    return {}


def container_env(manifests: Sequence[Manifest], kind: str, name: str, container: str) -> dict[str, str]:
    for obj in manifests:
        if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
            for c in _walk_containers(obj):
                if c.get("name") == container:
                    return {str(e.get("name")): str(e.get("value")) for e in c.get("env") or [] if "value" in e}
    return {}


def config_file(manifests: Sequence[Manifest], kind: str, name: str, file: str) -> str:
    for obj in manifests:
        if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
            return _config_files(obj).get(file, "")
    return ""


def ini_has(text: str, section: str, option: str, want: Any) -> bool:
    """Whether an ini file sets `option` in `section` to `want`."""
    return _file_has(text, section, option, want)


def notification_publishers(manifests: Sequence[Manifest], bus: str | None = None) -> list[str]:
    """Config files (in a Secret or ConfigMap) whose [oslo_messaging_notifications] publish where nothing reads:
    a driver but noop whose transport_url is not `bus` (the notification bus ceilometer reads; None: there is
    none), or a section without a driver when the file sets others (the chart's default then decides)."""
    found = []
    for obj in manifests:
        for file, text in _config_files(obj).items():
            section, options = "", {}
            for line in text.splitlines():
                line = line.strip()
                if line.startswith("[") and line.endswith("]"):
                    section = line[1:-1].strip()
                elif section == "oslo_messaging_notifications" and "=" in line and not line.startswith(("#", ";")):
                    key, value = line.split("=", 1)
                    options[key.strip()] = value.strip()
            driver, transport = options.get("driver"), options.get("transport_url")
            if driver is not None and driver != "noop" and (bus is None or transport != bus):
                where = f"transport_url = {transport}" if transport else "its own vhost"
                found.append(f"{_name(obj)} {file}: [oslo_messaging_notifications] driver = {driver} ({where})")
    return found


def workloads(manifests: Sequence[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m.get("kind") in ("Deployment", "StatefulSet", "DaemonSet")]


def name_of(obj: Manifest) -> str:
    return _name(obj)
