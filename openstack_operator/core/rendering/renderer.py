"""Values layering: from a DeploymentSpec to the final values of every Helm release.

For each enabled service and each of its charts, later layers win:
  0. release images        templates/releases/<release>.yaml: every image key of the chart (images_base_url applied)
  1. template `base`       templates/services/<chart>.yaml.j2, rendered with the facts of the deployment
  2. preset, then size     templates/presets/<preset>.yaml, templates/sizes/<size>.yaml (`values.<chart>`)
  3. template `features`   the same template's reading of spec.features; then, for the charts whose services publish
                           notifications (catalog `notifier`), their driver from spec.features.messaging
  4. common                spec.common.<openstack|infra>.values, by the chart's group
  5. services              spec.services.<service>.<chart>.values
  6. nodes                 spec.nodes["<label>::<value>"].services.<service>.<chart>.<daemonset>.values,
                           as OpenStack-Helm per-node DaemonSet overrides in the shape the chart reads
Merge rules: core.rendering.merge. Output is deterministic: the same spec and credentials give the same values and the same
fingerprint, which changes exactly when a release's chart, version, chart digest, namespace or values change.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import jinja2
import yaml

from openstack_operator.core.secrets import ceph as ceph_exchange
from openstack_operator.core.secrets import references as secret_references
from openstack_operator.core.catalog import Catalog, Chart, Release
from openstack_operator.core.secrets.ceph import CephExchange
from openstack_operator.core.secrets.credentials import Credential, Credentials, aes256_key
from openstack_operator.core.errors import OperatorError, RenderError
from openstack_operator.core.rendering.load_balancer import ControlPlane
from openstack_operator.core.rendering import template_yaml
from openstack_operator.core.rendering.template_outputs import ReadsContext, TemplateOutputs, state
from openstack_operator.core.rendering.merge import Layer, MergeConflicts, merge_layers
from openstack_operator.core.secrets import amphora_pki
from openstack_operator.core.models.spec import DeploymentSpec

_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG, _MERGE_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"


class _TemplateLoader(_YamlLoader):  # type: ignore[misc,valid-type]
    """The safe loader without the per-node work the templates' output never needs: no path resolvers are
    registered, and a quoted scalar (every value printed with |tojson) is a string without looking at it."""

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and not implicit[0]:
            return _STR_TAG
        return super().resolve(kind, value, implicit)
AMPHORA_PKI_CREDENTIAL = "octavia_amphora_pki"  # the credential whose record core.secrets.amphora_pki reads

# Characters a YAML double-quoted scalar cannot carry as themselves: outside PyYAML's printable set, its line breaks
# (which it would fold) and the byte order mark. Every other character is written as itself: JSON's \uXXXX escapes
# of characters beyond the BMP are surrogate pairs, which PyYAML does not combine (it rejects them).
_YAML_UNSAFE = re.compile("[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")


def load_yaml(text: str) -> Any:
    """`yaml.load(text, Loader=CSafeLoader)`, several times faster on the templates' output: their plain subset is
    read by core.rendering.template_yaml (the block structure from the indentation, JSON values by json's decoder),
    and only the values that are neither JSON nor plain words go through PyYAML, all at once. Any other text is
    parsed by the C parser, and mappings, sequences and strings are built here directly rather than through
    PyYAML's generic constructor; every other scalar (numbers, booleans, null) and a mapping with `<<` merge keys go
    through that constructor, so the result is the same."""
    document = template_yaml.load(text, _sequence_entries)
    if document is not template_yaml.UNSUPPORTED:
        return document
    loader = _TemplateLoader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _constructed(loader, node)
    finally:
        loader.dispose()


def _sequence_entries(texts: list[str]) -> list[Any] | None:
    """Each text read as the entry of a block sequence (`- <text>`, one a line), or None unless every one is a
    single node on its own line, a mapping or a list if it starts with `{` or `[`, else a scalar: then it reads as
    it does after `key: ` on a line of its own (template_yaml)."""
    loader = _TemplateLoader("".join(f"- {text}\n" for text in texts))
    try:
        node = loader.get_single_node()
        if not isinstance(node, yaml.SequenceNode) or len(node.value) != len(texts):
            return None
        values: list[Any] = []
        for line, (text, item) in enumerate(zip(texts, node.value)):
            value = _constructed(loader, item)
            kind = dict if text[0] == "{" else list if text[0] == "[" else None
            if item.start_mark.line != line or item.end_mark.line != line or (
                    type(value) is not kind if kind else isinstance(value, (dict, list))):
                return None
            values.append(value)
        return values
    except Exception:  # noqa: BLE001 - a YAML error, an unhashable key, ...: the whole text goes to PyYAML
        return None
    finally:
        loader.dispose()


def _constructed(loader: Any, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode) and not any(key.tag == _MERGE_TAG for key, _ in node.value):
        return {_constructed(loader, key): _constructed(loader, value) for key, value in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_constructed(loader, item) for item in node.value]
    if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG:
        return node.value
    return loader.construct_object(node, deep=True)


# json.dumps(value, ensure_ascii=False, sort_keys=True), as Jinja's tojson calls it, without a new encoder each time
_TOJSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def yaml_safe_json(value: Any, **kwargs: Any) -> str:
    """JSON text (for the templates' `tojson`) that YAML reads back as the same value, whatever the strings hold."""
    text = _TOJSON.encode(value) if kwargs == {"sort_keys": True} else json.dumps(value, ensure_ascii=False, **kwargs)
    return _YAML_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


class RenderProblems(RenderError):
    """Every problem of one render (a merge conflict, a template error), each naming its field or chart."""

    def __init__(self, errors: Sequence[OperatorError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(map(str, errors)))


@dataclass(frozen=True)
class RenderedRelease:
    name: str
    chart: str
    version: str
    digest: str  # "sha256:<hex>" of the chart archive (catalog); empty: not pinned
    namespace: str
    timeout_seconds: int
    values: Mapping[str, Any]
    fingerprint: str


@dataclass(frozen=True)
class RenderedService:
    name: str
    depends_on: tuple[str, ...]  # enabled services only
    releases: tuple[RenderedRelease, ...]


# json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False), one encoder for every fingerprint
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(chart: str, version: str, digest: str, namespace: str, values: Mapping[str, Any]) -> str:
    canonical = _CANONICAL.encode({"chart": chart, "version": version, "digest": digest, "namespace": namespace,
                                   "values": values})
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def release_name(chart: str) -> str:
    return f"openstack-{chart}"


def _amphora_pki(credentials: Credentials) -> dict[str, Any]:
    """The files octavia's controllers mount and the CA key's passphrase, from the credential's record: placeholders
    for an offline render; a record the secrets process did not write is refused, naming the credential."""
    name = AMPHORA_PKI_CREDENTIAL
    record = credentials[name].password if name in credentials else f"<{name}>"
    pki = amphora_pki.files(record)
    if record != f"<{name}>" and pki.passphrase.startswith("<"):
        raise RenderError(f"credential {name}: the record in the credentials Secret is not a usable amphora PKI")
    return {"passphrase": pki.passphrase, "files": dict(pki.files)}


class Renderer:
    """Holds the compiled templates: build one per process and render many times."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(catalog.templates_dir / "services"),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,  # output is YAML, not HTML; strings go through |tojson
            # the macros module too is compiled once, as the chart templates are: an output kept by TemplateOutputs
            # stays the output of the templates this renderer has
            auto_reload=False,
        )
        environment.context_class = ReadsContext  # notes the names each template reads (TemplateOutputs)
        environment.policies["json.dumps_function"] = yaml_safe_json
        environment.filters["shell_quote"] = shlex.quote  # spec strings placed in the charts' shell scripts
        environment.filters["aes256_key"] = aes256_key
        # a UUID fixed by a name (gnocchi's statsd identity per deployment): the same at every render
        environment.filters["uuid5"] = lambda name: str(uuid.uuid5(uuid.NAMESPACE_URL, str(name)))
        self._environment_globals = environment.globals
        try:
            self._templates = {name: environment.get_template(f"{name}.yaml.j2") for name in catalog.charts}
        except jinja2.TemplateError as exc:
            raise RenderError(f"cannot compile template: {exc}") from None
        # the tempest Job's script (templates/services/tempest.yaml.j2 places it in the chart's conf.script)
        self._tempest_script = (catalog.templates_dir / "services" / "_tempest-run.sh").read_text() \
            if "tempest" in catalog.charts else ""
        # octavia's bootstrap Job's script (templates/services/octavia.yaml.j2 places it in bootstrap.script)
        self._octavia_script = (catalog.templates_dir / "services" / "_octavia-bootstrap.sh").read_text() \
            if "octavia" in catalog.charts else ""
        # ironic's (templates/services/ironic.yaml.j2 places it in bootstrap.image.script)
        self._ironic_script = (catalog.templates_dir / "services" / "_ironic-bootstrap.sh").read_text() \
            if "ironic" in catalog.charts else ""
        # each chart's last output, rendered again only when a name its template read changed
        self._outputs = TemplateOutputs()
        # chart -> (its template's last output, that output parsed): a reconcile of an unchanged spec renders the
        # same text, and parsing it is half a render's time. The parsed document is only read (merge_layers copies).
        self._parsed: dict[str, tuple[str, Any]] = {}

    def render(self, spec: DeploymentSpec, credentials: Credentials, namespace: str,
               only: set[str] | None = None, ceph: CephExchange | None = None,
               references: Mapping[str, str] | None = None, tempest_run: str = "",
               load_balancer: ControlPlane | None = None) -> list[RenderedService]:
        """Render every enabled service (or those in `only`), in dependency order. `ceph`: the exchange as copied
        into `namespace` (core.secrets.ceph), needed when features.ceph is on and a chart to render reads it.
        `references`: the values of the spec's Secret references by field path (core.secrets.references), as
        read from the cluster; None renders placeholders (offline commands, host names). `tempest_run`: the
        osdpl's run request (TEMPEST_RUN_ANNOTATION), a new value of which runs tempest again. `load_balancer`: what
        octavia's bootstrap reported and the controller nodes (core.rendering.load_balancer); None: nothing yet."""
        if spec.openstack_version not in self.catalog.releases:
            raise RenderError(f"spec.openstack_version: no release data for {spec.openstack_version!r}")
        enabled = spec.enabled_services(self.catalog)
        selected = [name for name in enabled if only is None or name in only]
        facts = {**self._facts(spec, namespace, enabled), "tempest_run": tempest_run,
                 "notification_bus": notification_bus(namespace, spec.internal_domain_name, credentials)
                 if "metering" in enabled else None,
                 "load_balancer": load_balancer or ControlPlane(),
                 "amphora_pki": _amphora_pki(credentials) if "load-balancer" in selected else None}
        ceph_facts = self._ceph_facts(spec, namespace, enabled, selected, ceph)
        if references is None:
            references = secret_references.placeholders(secret_references.references(spec.features,
                                                                                     "spec.features"))
        states = _FactStates(self._environment_globals, credentials, references)
        rendered: list[RenderedService] = []
        errors: list[OperatorError] = []
        for name in selected:  # every chart, so that every problem is told, not the first one
            service = self.catalog.services[name]
            releases = []
            for chart in service.charts_for(spec.features):
                try:
                    releases.append(self._render_chart(spec, chart, {**facts, "ceph": ceph_facts.get(chart.name),
                                                                     "secret_ref": _reference_lookup(references)},
                                                       credentials, namespace, states))
                except MergeConflicts as conflicts:
                    errors += conflicts.conflicts
                except OperatorError as error:
                    errors.append(error)
            depends_on = tuple(dep for dep in service.depends_on if dep in enabled)
            rendered.append(RenderedService(name=name, depends_on=depends_on, releases=tuple(releases)))
        if errors:
            raise errors[0] if len(errors) == 1 else RenderProblems(errors)
        return rendered

    def _ceph_facts(self, spec: DeploymentSpec, namespace: str, enabled: list[str], selected: list[str],
                    ceph: CephExchange | None) -> dict[str, dict[str, Any]]:
        """The `ceph` fact of each chart that reads the exchange; the other charts see None, so their values
        cannot depend on it and a new exchange re-renders exactly its readers."""
        readers = ceph_exchange.consumers(spec.features, enabled)
        waiting = sorted(chart.name for name in selected for chart in self.catalog.services[name].charts
                         if chart.name in readers)
        if not waiting:
            return {}
        if ceph is None:
            raise RenderError(f"spec.features.ceph.enabled: the Ceph keys of Secret "
                              f"{ceph_exchange.keys_source(spec.features)} are not copied into namespace "
                              f"{namespace} yet (read by {', '.join(waiting)})")
        facts = ceph_exchange.template_facts(ceph)
        if ceph_exchange.GATEWAY_REGISTRAR in waiting and facts["gateway"] is None:
            raise RenderError(f"spec.features.services: object-storage registers the storage side's object gateway, "
                              f"and Secret {ceph_exchange.keys_source(spec.features)} has no "
                              f"{ceph_exchange.RGW_INTERNAL} and {ceph_exchange.RGW_EXTERNAL} (its URLs) yet")
        if ceph_exchange.MANILA in waiting and facts["manila"] is None:
            raise RenderError(f"spec.features.manila.share.backends: a cephfs backend "
                              f"({', '.join(ceph_exchange.cephfs_share_backends(spec.features))}) mounts the storage "
                              f"side's manila client, and Secret {ceph_exchange.keys_source(spec.features)} has no "
                              f"{ceph_exchange.MANILA!r} key yet")
        return {chart: facts for chart in waiting}

    def _facts(self, spec: DeploymentSpec, namespace: str, enabled: list[str]) -> dict[str, Any]:
        ssl = spec.features["ssl"]["public_endpoints"]
        return {
            "openstack_version": spec.openstack_version,
            "series": self.catalog.releases[spec.openstack_version].series,
            "region_name": spec.region_name,
            "namespace": namespace,
            "public_domain": spec.public_domain_name,
            "internal_domain": spec.internal_domain_name,
            "storage": {"local": spec.local_volume_storage_class, "persistent": spec.persistent_volume_storage_class},
            "size": spec.size,
            "helm_timeout_seconds": self.catalog.sizes[spec.size].helm_timeout_seconds,
            "tempest_script": self._tempest_script,
            "octavia_script": self._octavia_script,
            "ironic_script": self._ironic_script,
            "preset": spec.preset,
            "features": spec.features,
            "enabled_services": enabled,
            "coordination_url": coordination_url(namespace, spec.internal_domain_name) if "coordination" in enabled
            else None,
            "rbd_charts": sorted(ceph_exchange.rbd_charts(spec.features, enabled)),
            "public_scheme": "https" if ssl["enabled"] else "http",
            "public_port": 443 if ssl["enabled"] else 80,
            "gateway": gateway_facts(spec, namespace),
            "object_gateway": ceph_exchange.gateway_template_facts(spec.features),
        }

    def _parse(self, chart: str, text: str) -> Any:
        """The template's output as data, parsed again only when it differs from the chart's last one."""
        last = self._parsed.get(chart)
        if last is not None and last[0] == text:
            return last[1]
        document = load_yaml(text)
        self._parsed[chart] = (text, document)
        return document

    def _render_chart(self, spec: DeploymentSpec, chart: Chart, facts: Mapping[str, Any],
                      credentials: Credentials, namespace: str, states: _FactStates) -> RenderedRelease:
        template_path = f"templates/services/{chart.name}.yaml.j2"
        context = {**facts, "chart": chart.name, "cred": _credential_lookup(chart, credentials)}
        try:
            text = self._outputs.render(chart.name, self._templates[chart.name], context, states.of(chart, context))
            document = self._parse(chart.name, text)
        except jinja2.TemplateError as exc:
            raise RenderError(f"{template_path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise RenderError(f"{template_path}: {yaml_problem(exc)}") from None
        if not isinstance(document, dict) or not all(isinstance(document.get(k), dict) for k in ("base", "features")):
            raise RenderError(f"{template_path}: must render a mapping with 'base' and 'features' mappings")
        size = self.catalog.sizes[spec.size]
        service_values = spec.services.get(chart.service, {}).get(chart.name, {}).get("values", {})
        # The image of every image key comes from the release data, the same way for every chart: set here, not
        # printed and parsed again through each template (it is most of a chart's values).
        images = {"images": {"tags": image_tags(self.catalog.releases[spec.openstack_version], chart.name,
                                                spec.images_base_url)}}
        values = merge_layers([
            Layer(f"templates/releases/{spec.openstack_version}.yaml images.{chart.name}", images),
            Layer(f"{template_path} base", document["base"]),
            Layer(f"templates/presets/{spec.preset}.yaml values.{chart.name}",
                  self.catalog.presets[spec.preset].values.get(chart.name, {})),
            Layer(f"templates/sizes/{spec.size}.yaml values.{chart.name}", size.values.get(chart.name, {})),
            Layer(f"{template_path} features", document["features"]),
            Layer("spec.features.messaging.notifications",
                  notification_values(spec, chart, facts["notification_bus"])),
            Layer(f"spec.common.{chart.group}.values", spec.common.get(chart.group, {}).get("values", {})),
            Layer(f"spec.services.{chart.service}.{chart.name}.values", service_values),
            Layer("spec.nodes", node_overrides(spec.nodes, chart, spec.features), addressable=False),
        ])
        return RenderedRelease(
            name=release_name(chart.name),
            chart=chart.name,
            version=chart.version,
            digest=chart.digest,
            namespace=namespace,
            timeout_seconds=size.helm_timeout_seconds,
            values=values,
            fingerprint=fingerprint(chart.name, chart.version, chart.digest, namespace, values),
        )


# Attempts to send a notification before it is dropped: a service never hangs an API call on the notification bus
# (oslo.messaging's default, -1, retries for ever).
NOTIFICATION_RETRIES = 3


def notification_values(spec: DeploymentSpec, chart: Chart, bus: str | None) -> dict[str, Any]:
    """The oslo.messaging notifications of a publishing chart: noop unless notifications are enabled, else published
    on `bus` (notification_bus), where ceilometer's notification agent reads them.

    The charts default to messagingv2 on their own vhost, which fills a RabbitMQ queue per topic that nothing
    reads.
    """
    if not chart.notifier:
        return {}
    if not spec.features["messaging"]["notifications"].get("enabled", False):
        return {"conf": {chart.notifier: {"oslo_messaging_notifications": {"driver": "noop"}}}}
    if bus is None:  # the resource's schema refuses notifications without metering
        raise RenderError("spec.features.messaging.notifications.enabled: notifications go on the notification bus "
                          "of metering, with its credential ceilometer_messaging: metering is off or the credential "
                          "missing")
    return {"conf": {chart.notifier: {"oslo_messaging_notifications": {
        "driver": "messagingv2", "transport_url": bus, "retry": NOTIFICATION_RETRIES}}}}


def notification_bus(namespace: str, domain: str, credentials: Credentials) -> str | None:
    """The notification bus: ceilometer's vhost on the deployment's RabbitMQ, as ceilometer's user (its chart's
    rabbit-init Job creates both). The publishing services and aodh's listener hold this one password, no service
    another's. None without the credential (a render of services that do not include metering's)."""
    user = credentials.get("ceilometer_messaging")
    if user is None:
        return None
    return (f"rabbit://{urllib.parse.quote(user.username, safe='')}:{urllib.parse.quote(user.password, safe='')}"
            f"@rabbitmq.{namespace}.svc.{domain}:5672/ceilometer")


def coordination_url(namespace: str, domain: str) -> str:
    """tooz's URL of the coordination service: the etcd chart's Service `etcd`, client port 2379, over the v3
    gateway (etcd3gw, the driver OpenStack's images carry)."""
    return f"etcd3+http://etcd.{namespace}.svc.{domain}:2379"


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error's problem and position, without the snippet of text PyYAML quotes: rendered values hold
    credentials, and this message reaches logs and the osdpl status."""
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"invalid YAML{where}: {getattr(error, 'problem', None) or type(error).__name__}"


def image_tags(release: Release, chart: str, base_url: str) -> dict[str, str]:
    """Every image key of the chart at this release; with a registry prefix, each image comes from there, under
    the last part of its upstream path (quay.io/airshipit/keystone:2025.1 -> <base_url>/keystone:2025.1)."""
    upstream = release.images[chart]
    if not base_url:
        return dict(upstream)
    return {key: f"{base_url}/{reference.rsplit('/', 1)[-1]}" for key, reference in upstream.items()}


def gateway_facts(spec: DeploymentSpec, namespace: str) -> dict[str, Any]:
    """The parent of every HTTPRoute, and the Gateway object itself when the deployment creates it: an HTTP
    listener, and with TLS an HTTPS one that ends TLS with the certificate Secret of ssl.public_endpoints."""
    gateway = spec.features["gateway"]
    ssl = spec.features["ssl"]["public_endpoints"]
    parent: dict[str, Any] = {"name": gateway["name"], "namespace": gateway.get("namespace") or namespace}
    obj = None
    if gateway.get("class_name"):
        hostname = f"*.{spec.public_domain_name}"
        listeners: list[dict[str, Any]] = [{"name": "http", "protocol": "HTTP", "port": 80, "hostname": hostname}]
        if ssl["enabled"]:
            listeners.append({"name": "https", "protocol": "HTTPS", "port": 443, "hostname": hostname,
                              "tls": {"mode": "Terminate", "certificateRefs": [{"name": ssl["secret_name"]}]}})
            parent["sectionName"] = "https"  # our Gateway: routes only on the TLS listener
        obj = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": gateway["name"], "namespace": namespace},
               "spec": {"gatewayClassName": gateway["class_name"], "listeners": listeners}}
    elif gateway.get("section_name"):
        parent["sectionName"] = gateway["section_name"]
    return {"parent_ref": parent, "object": obj}


def node_overrides(nodes: Mapping[str, Any], chart: Chart, features: Mapping[str, Any]) -> dict[str, Any]:
    """spec.nodes bodies for this chart as per-node DaemonSet overrides, in the shape its DaemonSet template reads
    (helm-toolkit): `conf.overrides.<key>.labels[] = {label: {key, values}, conf}` or a root
    `overrides.<key>.labels["<label>::<value>"].values`. Node groups in key order. Overrides of a DaemonSet the
    features leave out (catalog daemonsets_only_with) are refused: they would be ignored."""
    overrides: dict[str, Any] = {}
    for group in sorted(nodes):
        label, value = group.split("::", 1)
        per_daemonset = nodes[group].get("services", {}).get(chart.service, {}).get(chart.name, {})
        for daemonset in sorted(per_daemonset):
            if not chart.runs_daemonset(daemonset, features):
                needs = " and ".join(f"features.{path} {want}"
                                     for path, want in chart.daemonsets_only_with[daemonset].items())
                raise RenderError(f"spec.nodes.{group}.services.{chart.service}.{chart.name}.{daemonset}: the "
                                  f"{chart.name} chart runs this DaemonSet only with {needs}: its values would be "
                                  "ignored")
            values = per_daemonset[daemonset].get("values", {})
            if chart.daemonsets[daemonset] == "conf":
                entry = {"label": {"key": label, "values": [value]}, "conf": values.get("conf", {})}
                overrides.setdefault(daemonset, {"labels": []})["labels"].append(entry)
            else:
                overrides.setdefault(daemonset, {"labels": {}})["labels"][group] = {"values": values}
    if not overrides:
        return {}
    conf_shaped = {k: v for k, v in overrides.items() if chart.daemonsets[k] == "conf"}
    root_shaped = {k: v for k, v in overrides.items() if chart.daemonsets[k] == "root"}
    return {**({"conf": {"overrides": conf_shaped}} if conf_shaped else {}),
            **({"overrides": root_shaped} if root_shaped else {})}


class _FactStates:
    """The state (core.rendering.template_outputs) of each name a template may read, in one render: each fact's
    computed once for every chart; `cred` and `secret_ref`, functions made for each chart, by what they return."""

    def __init__(self, environment_globals: Mapping[str, Any], credentials: Credentials,
                 references: Mapping[str, str]) -> None:
        self._globals, self._credentials, self._references = environment_globals, credentials, references
        # (name, id of its value) -> (the value, kept alive so that no other takes its id, its state)
        self._memo: dict[tuple[str, int], tuple[Any, Any]] = {}

    def of(self, chart: Chart, context: Mapping[str, Any]) -> Callable[[str], Any]:
        cred: list[Any] = []  # its state, once computed

        def state_of(name: str) -> Any:
            if name == "cred":  # only the credentials the chart declares (_credential_lookup)
                if not cred:
                    cred.append(tuple((credential, self._state("cred", self._credentials[credential])
                                       if credential in self._credentials else None)
                                      for credential in chart.credentials))
                return cred[0]
            if name == "secret_ref":  # _reference_lookup(references)
                return self._state(name, self._references)
            if name not in context:  # one of Jinja's globals, fixed for the renderer, or undefined
                return ("global" if name in self._globals else "undefined", name)
            return self._state(name, context[name])

        return state_of

    def _state(self, name: str, value: Any) -> Any:
        key = (name, id(value))
        if key not in self._memo:
            self._memo[key] = (value, state(dict(value) if name == "secret_ref" else value))
        return self._memo[key][1]


def _reference_lookup(values: Mapping[str, str]) -> Callable[[str], str]:
    def secret_ref(path: str) -> str:
        if path not in values:
            raise RenderError(f"{path}: the value of its Secret reference was not read")
        return values[path]

    return secret_ref


def _credential_lookup(chart: Chart, credentials: Credentials) -> Callable[[str], Credential]:
    def cred(name: str) -> Credential:
        # Templates may read only what the catalog declares, so the declared lists stay the truth the
        # secrets process generates from.
        if name not in chart.credentials:
            raise RenderError(f"chart {chart.name} reads credential {name!r} not declared in catalog.yaml")
        if name not in credentials:
            raise RenderError(f"credential {name!r} needed by chart {chart.name} is missing")
        return credentials[name]

    return cred
