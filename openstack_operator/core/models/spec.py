"""A typed view of a defaulted OpenStackDeployment spec: what the renderer reads, named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from openstack_operator.core.catalog import Catalog


@dataclass(frozen=True)
class DeploymentSpec:
    openstack_version: str
    preset: str
    size: str
    draft: bool
    images_base_url: str  # empty: every image as upstream publishes it
    charts_url: str  # empty: the chart source the helmbundle process is configured with
    region_name: str
    public_domain_name: str
    internal_domain_name: str
    local_volume_storage_class: str
    persistent_volume_storage_class: str
    features: Mapping[str, Any]
    common: Mapping[str, Any]
    services: Mapping[str, Any]
    nodes: Mapping[str, Any]

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> DeploymentSpec:
        """`spec` must be validated and defaulted (core.schema.validation) first: this only names fields."""
        return cls(
            openstack_version=spec["openstack_version"],
            preset=spec["preset"],
            size=spec["size"],
            draft=spec["draft"],
            images_base_url=spec["artifacts"].get("images_base_url", "").rstrip("/"),
            charts_url=spec["artifacts"].get("charts_url", ""),
            region_name=spec["region_name"],
            public_domain_name=spec["public_domain_name"],
            internal_domain_name=spec["internal_domain_name"],
            local_volume_storage_class=spec["local_volume_storage_class"],
            persistent_volume_storage_class=spec["persistent_volume_storage_class"],
            features=spec["features"],
            common=spec.get("common", {}),
            services=spec.get("services", {}),
            nodes=spec.get("nodes", {}),
        )

    def enabled_services(self, catalog: Catalog) -> list[str]:
        """Preset services plus features.services, in dependency order."""
        return catalog.enabled_services(self.preset, self.features.get("services", []))
