"""The operator's CRDs on a cluster: applied from crds/, then waited for until the API server serves them.

`kubectl wait --for=condition=Established` is not enough: on a CRD the API server has just created and not yet
given conditions (a busy machine widens that moment), it fails at once ("<nil> is of the type <nil>") instead of
waiting, so the conditions are polled here.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any, Mapping

from devcluster.binaries import REPO

CRDS = REPO / "crds"
NAMES = ("openstackdeployments.openstack.osop.dev", "helmbundles.openstack.osop.dev",
         "nodemaintenancerequests.openstack.osop.dev")


class CRDError(RuntimeError):
    pass


def established(crd: Mapping[str, Any]) -> bool:
    """Whether a CustomResourceDefinition object says the API server serves it (condition Established True)."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def install(kubectl: Path, kubeconfig: Path, timeout: float = 60.0) -> None:
    """Apply crds/ (server-side) and return once every CRD of NAMES is Established; CRDError otherwise."""
    base = [str(kubectl), f"--kubeconfig={kubeconfig}"]
    applied = subprocess.run([*base, "apply", "--server-side", "-f", str(CRDS)], capture_output=True, text=True)
    if applied.returncode != 0:
        raise CRDError(f"kubectl apply -f {CRDS} failed: {applied.stderr.strip()}")
    deadline = time.monotonic() + timeout
    pending: list[str] = list(NAMES)
    while True:
        found = subprocess.run([*base, "get", "crd", *NAMES, "-o", "json"], capture_output=True, text=True)
        if found.returncode == 0:
            pending = [i["metadata"]["name"] for i in json.loads(found.stdout)["items"] if not established(i)]
            if not pending:
                return
        if time.monotonic() > deadline:
            raise CRDError(f"not Established within {timeout:.0f} s: {', '.join(pending)}"
                           + (f" ({found.stderr.strip()})" if found.returncode else ""))
        time.sleep(0.2)
