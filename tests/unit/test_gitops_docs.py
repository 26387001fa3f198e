"""docs/gitops.md stays true: its Argo CD Lua health check (run by Lua) and its Flux CEL expressions (run by CEL) give
the expected verdicts on statuses the operator itself computes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import celpy
import lupa
import pytest
import yaml
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from openstack_operator.core.health.workloads import release_basis
from openstack_operator.core.models.bundle import Bundle
from openstack_operator.core.status.conditions import Observed, children, compute_status

DOC = Path(__file__).resolve().parents[2] / "docs" / "gitops.md"
ARGO_KEY = "resource.customizations.health.openstack.osop.dev_OpenStackDeployment"
NOW = "2026-01-01T00:00:00Z"


def _yaml_blocks() -> list[Any]:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)]


def _argo_lua() -> str:
    script: str = next(b for b in _yaml_blocks() if b.get("kind") == "ConfigMap")["data"][ARGO_KEY]
    return script


def _flux_exprs() -> dict[str, str]:
    kustomization = next(b for b in _yaml_blocks() if b.get("kind") == "Kustomization")
    exprs: dict[str, str] = kustomization["spec"]["healthCheckExprs"][0]
    return exprs


def _osdpl(health_state: str = "Ready", spec_error: str = "", generation: int = 3,
           draft: bool = False) -> dict[str, Any]:
    """An osdpl as the API server returns it, with the status the osdpl process would write. `generation` above 3
    is a change the osdpl process has not seen yet, unless `draft` (then it saw it and paused)."""
    bundles = {"identity": Bundle.from_api({"spec": {"releases": [{"name": "keystone"}]},
                                            "status": {"releases": {"keystone": {"state": "deployed",
                                                                                 "fingerprint": "k1",
                                                                                 "revision": 1}}}})}
    observed = Observed(generation=generation if draft else 3, reconciled_generation=3, draft=draft,
                        openstack_version="epoxy", desired={"identity": {"keystone": "k1"}}, bundles=bundles,
                        spec_error=spec_error)
    health = {"health": {"keystone": {"api": {"state": health_state, "reason": "r"}}},
              "health_basis": release_basis(children(observed))}
    observed = Observed(**{**observed.__dict__, "previous": health})
    return {"metadata": {"name": "osh", "generation": generation},
            "spec": {"draft": draft, "openstack_version": "epoxy"},
            "status": {**health, **compute_status(observed, NOW)}}


CASES = [  # osdpl, Argo CD health, Flux current, Flux failed
    (_osdpl(), "Healthy", True, False),
    (_osdpl("Progressing"), "Progressing", False, False),
    (_osdpl("Unhealthy"), "Degraded", False, True),
    (_osdpl(spec_error="spec.size: bad"), "Degraded", False, True),
    (_osdpl(generation=4), "Progressing", False, False),  # a new spec the operator has not seen yet
    (_osdpl(draft=True, generation=4), "Suspended", False, False),  # Flux has no "paused": it waits
    ({"metadata": {"name": "osh", "generation": 1}, "spec": {}}, "Progressing", False, False),  # no status yet
]


@pytest.mark.parametrize("osdpl, argo, _current, _failed", CASES)
def test_the_argo_cd_health_check(osdpl: dict[str, Any], argo: str, _current: bool, _failed: bool) -> None:
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    check = lua.eval(f"function(obj)\n{_argo_lua()}\nend")
    result = check(lua.table_from(osdpl, recursive=True))
    assert result["status"] == argo
    assert result["message"]


@pytest.mark.parametrize("osdpl, _argo, current, failed", CASES)
def test_the_flux_health_check_expressions(osdpl: dict[str, Any], _argo: str, current: bool, failed: bool) -> None:
    environment = celpy.Environment()
    activation = {key: json_to_cel(value) for key, value in osdpl.items()}
    verdicts = []
    for key in ("current", "failed"):
        program = environment.program(environment.compile(_flux_exprs()[key]))
        try:
            verdicts.append(bool(program.evaluate(activation)))
        except CELEvalError:
            verdicts.append(False)  # cannot be evaluated: Flux keeps waiting, as for false
    assert verdicts == [current, failed]
