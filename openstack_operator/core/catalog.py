"""What the operator knows about services, charts, releases, presets and sizes.

All of it is data read from the templates directory (catalog.yaml, releases/, presets/, sizes/), so that adding
an OpenStack release or a size is a data change, not a code change.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import yaml

from openstack_operator.core.errors import CatalogError

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"

CHART_GROUPS = ("openstack", "infra")


@dataclass(frozen=True)
class Chart:
    name: str
    service: str
    group: str
    version: str
    daemonsets: tuple[str, ...]
    credentials: tuple[str, ...]


@dataclass(frozen=True)
class Service:
    name: str
    charts: tuple[Chart, ...]
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class Release:
    """One OpenStack release: its series (e.g. 2025.1) and image references relative to the registry."""

    name: str
    series: str
    images: Mapping[str, str]


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


def _load_yaml(path: Path) -> Any:
    try:
        with path.open() as handle:
            return yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Catalog:
    templates_dir: Path
    services: Mapping[str, Service]
    releases: Mapping[str, Release]  # in upgrade order
    presets: Mapping[str, Preset]
    sizes: Mapping[str, Size]

    @classmethod
    def load(cls, templates_dir: Path = DEFAULT_TEMPLATES_DIR) -> Catalog:
        raw = _load_yaml(templates_dir / "catalog.yaml")
        services: dict[str, Service] = {}
        for name, body in raw["services"].items():
            charts = tuple(
                Chart(
                    name=chart,
                    service=name,
                    group=info["group"],
                    version=str(info["version"]),
                    daemonsets=tuple(info.get("daemonsets", ())),
                    credentials=tuple(info.get("credentials", ())),
                )
                for chart, info in body["charts"].items()
            )
            services[name] = Service(name=name, charts=charts, depends_on=tuple(body.get("depends_on", ())))
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
        catalog = cls(templates_dir=templates_dir, services=services, releases=releases, presets=presets, sizes=sizes)
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
            problems += [f"chart {c.name}: unknown group {c.group}" for c in service.charts if c.group not in CHART_GROUPS]
        for preset in self.presets.values():
            problems += [f"preset {preset.name}: unknown service {s}" for s in preset.services if s not in self.services]
        layers: list[Preset | Size] = [*self.presets.values(), *self.sizes.values()]
        for layer in layers:
            problems += [f"{layer.name}: values for unknown chart {c}" for c in layer.values if c not in self.charts]
        if problems:
            raise CatalogError("; ".join(problems))

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
