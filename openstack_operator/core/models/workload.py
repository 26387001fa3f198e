"""A reference to one long-running workload of a release, as the helmbundle process records it on the bundle's
status (`workloads`) and the osdpl process mirrors it into `status.children`: the health process expects each to
exist, the upgrade rollout gates on their applications."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class WorkloadRef:
    application: str
    component: str
    kind: str
    name: str

    def __str__(self) -> str:
        """The form stored on the statuses: "application/component/Kind/name"."""
        return f"{self.application}/{self.component}/{self.kind}/{self.name}"

    @classmethod
    def parse(cls, text: object) -> WorkloadRef | None:
        """The reference a status entry holds; None for an entry of another shape (label values, kinds and names
        hold no "/", so four parts or it is not one of ours)."""
        parts = str(text).split("/")
        if len(parts) != 4 or not all(parts):
            return None
        return cls(*parts)
