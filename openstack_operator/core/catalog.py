"""What the operator knows about services, charts, releases, presets and sizes.

All of it is data read from the templates directory (catalog.yaml, releases/, presets/, sizes/), so that adding
an OpenStack release or a size is a data change, not a code change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from openstack_operator.core.errors import CatalogError

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"  # package data

CHART_GROUPS = ("openstack", "infra")
CREDENTIAL_KINDS = ("keystone", "database", "messaging", "secret", "amphora-pki")
USERLESS_KINDS = ("secret", "amphora-pki")  # a value, not an account: no user name
ROTATION_GROUPS = ("admin", "service", "database", "messaging")  # what a user can ask to rotate, one at a time
# helm-toolkit's two ways of reading per-node DaemonSet overrides: `conf.overrides` (configuration only) and a
# root-level `overrides` (any value); each chart's DaemonSet template calls one of them.
OVERRIDE_SHAPES = ("conf", "root")


@dataclass(frozen=True)
class ChartSet:
    """The OpenStack-Helm chart set: one version for every chart, and where it is published."""

    version: str
    repository: str


@dataclass(frozen=True)
class Chart:
    name: str
    service: str
    group: str
    version: str
    digest: str  # "sha256:<hex>" of the chart archive
    daemonsets: Mapping[str, str]  # override key (e.g. nova_compute) -> override shape
    credentials: tuple[str, ...]
    kept_secrets: tuple[str, ...] = ()  # created empty by the operator, kept across releases (catalog.yaml)
    notifier: str = ""  # the conf section whose oslo_messaging_notifications the chart's services read (catalog.yaml)
    only_with: Mapping[str, str] = field(default_factory=dict)  # features path -> value (catalog.yaml)
    # override key -> (features path -> value): DaemonSets the chart renders only with those features (catalog.yaml)
    daemonsets_only_with: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def installed_with(self, features: Mapping[str, Any]) -> bool:
        """Whether a deployment with these (defaulted) features installs the chart: every only_with holds."""
        return _holds(self.only_with, features)

    def runs_daemonset(self, daemonset: str, features: Mapping[str, Any]) -> bool:
        """Whether the chart, installed with these (defaulted) features, renders this DaemonSet."""
        return _holds(self.daemonsets_only_with.get(daemonset, {}), features)


def _holds(conditions: Mapping[str, str], features: Mapping[str, Any]) -> bool:
    return all(_feature(features, path) == value for path, value in conditions.items())


def _feature(features: Mapping[str, Any], path: str) -> Any:
    node: Any = features
    for key in path.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


@dataclass(frozen=True)
class CredentialSpec:
    """One credential: the system that checks it and the user name it has there (empty for kind `secret`)."""

    name: str
    kind: str
    username: str
    rotation: str = ""  # the rotation group (ROTATION_GROUPS); empty: never rotated


@dataclass(frozen=True)
class Service:
    name: str
    charts: tuple[Chart, ...]
    depends_on: tuple[str, ...]

    def charts_for(self, features: Mapping[str, Any]) -> tuple[Chart, ...]:
        """The charts a deployment with these (defaulted) features installs for the service, in install order."""
        return tuple(chart for chart in self.charts if chart.installed_with(features))


@dataclass(frozen=True)
class Release:
    """One OpenStack release: its series (e.g. 2025.1) and, per chart, the image of every image key."""

    name: str
    series: str
    images: Mapping[str, Mapping[str, str]]  # chart -> image key -> upstream reference


@dataclass(frozen=True)
class Preset:
    name: str
    services: tuple[str, ...]
    values: Mapping[str, Any]  # chart name -> values layer


@dataclass(frozen=True)
class Size:
    name: str
    helm_timeout_seconds: int
    values: Mapping[str, Any]  # chart name -> values layer


# LibYAML's parser where PyYAML has it: every process and CLI command loads the catalog's files at start.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(path: Path) -> Any:
    try:
        with path.open() as handle:
            return yaml.load(handle, Loader=_Loader)
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Catalog:
    templates_dir: Path
    chart_set: ChartSet
    services: Mapping[str, Service]
    credentials: Mapping[str, CredentialSpec]
    releases: Mapping[str, Release]  # in upgrade order
    presets: Mapping[str, Preset]
    sizes: Mapping[str, Size]
    upgrade_order: tuple[str, ...] = ()  # every service, in the order a release change moves them

    @classmethod
    def load(cls, templates_dir: Path = DEFAULT_TEMPLATES_DIR, check: bool = True) -> Catalog:
        """The catalog; `check=False` only for the tool that writes the release data check() requires."""
        raw = _load_yaml(templates_dir / "catalog.yaml")
        chart_set = ChartSet(version=str(raw["chart_set"]["version"]), repository=raw["chart_set"]["repository"])
        services: dict[str, Service] = {}
        for name, body in raw["services"].items():
            charts = tuple(
                Chart(
                    name=chart,
                    service=name,
                    group=info["group"],
                    version=str(info.get("version", chart_set.version)),
                    digest=info["digest"],
                    daemonsets=dict(info.get("daemonsets") or {}),
                    credentials=tuple(info.get("credentials", ())),
                    kept_secrets=tuple(info.get("kept_secrets", ())),
                    notifier=str(info.get("notifier", "")),
                    only_with={str(k): str(v) for k, v in (info.get("only_with") or {}).items()},
                    daemonsets_only_with={str(d): {str(k): str(v) for k, v in conditions.items()}
                                          for d, conditions in (info.get("daemonsets_only_with") or {}).items()},
                )
                for chart, info in body["charts"].items()
            )
            services[name] = Service(name=name, charts=charts, depends_on=tuple(body.get("depends_on", ())))
        credentials = {name: CredentialSpec(name=name, kind=body["kind"], username=body.get("username", ""),
                                     rotation=body.get("rotation", ""))
                       for name, body in raw["credentials"].items()}
        releases = {}
        for name in raw["releases"]:
            data = _load_yaml(templates_dir / "releases" / f"{name}.yaml")
            releases[name] = Release(name=name, series=str(data["series"]), images=data["images"])
        presets = {}
        for name in raw["presets"]:
            data = _load_yaml(templates_dir / "presets" / f"{name}.yaml")
            presets[name] = Preset(name=name, services=tuple(data["services"]), values=data.get("values") or {})
        sizes = {}
        for name in raw["sizes"]:
            data = _load_yaml(templates_dir / "sizes" / f"{name}.yaml")
            sizes[name] = Size(
                name=name, helm_timeout_seconds=int(data["helm_timeout_seconds"]), values=data.get("values") or {}
            )
        catalog = cls(templates_dir=templates_dir, chart_set=chart_set, services=services, credentials=credentials,
                      releases=releases, presets=presets, sizes=sizes,
                      upgrade_order=tuple(raw.get("upgrade_order") or ()))
        if check:
            catalog.check()
        return catalog

    @cached_property
    def charts(self) -> Mapping[str, Chart]:
        return {chart.name: chart for service in self.services.values() for chart in service.charts}

    def check(self) -> None:
        """Cross-references between the data files must hold; a broken catalog fails at start-up, loudly."""
        problems = []
        for service in self.services.values():
            problems += [f"service {service.name}: unknown dependency {d}" for d in service.depends_on
                         if d not in self.services]
            for chart in service.charts:
                problems += [f"chart {chart.name}: unknown group {chart.group}"] if chart.group not in CHART_GROUPS else []
                problems += [f"chart {chart.name}: unknown credential {c}" for c in chart.credentials
                             if c not in self.credentials]
                problems += [f"chart {chart.name}: daemonset {d}: unknown override shape {s}"
                             for d, s in chart.daemonsets.items() if s not in OVERRIDE_SHAPES]
                problems += [f"chart {chart.name}: daemonsets_only_with: unknown daemonset {d}"
                             for d in chart.daemonsets_only_with if d not in chart.daemonsets]
        problems += [f"credential {c.name}: unknown kind {c.kind}" for c in self.credentials.values()
                     if c.kind not in CREDENTIAL_KINDS]
        problems += [f"credential {c.name}: unknown rotation group {c.rotation}" for c in self.credentials.values()
                     if c.rotation and c.rotation not in ROTATION_GROUPS]
        problems += [f"credential {c.name}: kind {c.kind} needs a username" for c in self.credentials.values()
                     if (c.kind in USERLESS_KINDS) == bool(c.username)]
        owners: dict[tuple[str, str], str] = {}
        for credential in self.credentials.values():
            if credential.username:
                other = owners.setdefault((credential.kind, credential.username), credential.name)
                if other != credential.name:
                    problems.append(f"credentials {other} and {credential.name}: one {credential.kind} user name "
                                    f"{credential.username!r}")
        for release in self.releases.values():
            problems += [f"release {release.name}: no images for chart {c}" for c in self.charts
                         if c not in release.images]
        for preset in self.presets.values():
            problems += [f"preset {preset.name}: unknown service {s}" for s in preset.services if s not in self.services]
        layers: list[Preset | Size] = [*self.presets.values(), *self.sizes.values()]
        for layer in layers:
            problems += [f"{layer.name}: values for unknown chart {c}" for c in layer.values if c not in self.charts]
        listed = list(self.upgrade_order)
        problems += [f"upgrade_order: unknown service {s}" for s in listed if s not in self.services]
        problems += [f"upgrade_order: service {s} listed more than once" for s in sorted(set(listed))
                     if listed.count(s) > 1]
        problems += [f"upgrade_order: service {s} missing" for s in self.services if s not in listed]
        if problems:
            raise CatalogError("; ".join(problems))

    def enabled_services(self, preset: str, services: Iterable[str]) -> list[str]:
        """A spec's services: its preset's plus those of features.services, in dependency order. An unknown preset
        or service adds nothing (the resource's schema refuses both before anything renders)."""
        named = set(self.presets[preset].services) if preset in self.presets else set()
        return self.dependency_order(named | set(services))

    def dependency_order(self, enabled: set[str]) -> list[str]:
        """Enabled services, each after the enabled services it depends on; ties in catalog order."""
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in ordered:
                return
            if name in visiting:
                raise CatalogError(f"dependency cycle through service {name}")
            visiting.add(name)
            for dep in self.services[name].depends_on:
                if dep in enabled:
                    visit(dep)
            visiting.discard(name)
            ordered.append(name)

        for name in self.services:
            if name in enabled:
                visit(name)
        return ordered
