"""docs/gitops.md stays true: its table of reasons is the code's (core.status.reasons), both ways; the code sets no
reason outside it; and its Argo CD Lua health check (run by Lua) and Flux CEL expressions (run by CEL, the way Flux
evaluates them), and kstatus's own rules, give the verdict the table promises on the status the operator computes
for every reason: a refused change is Degraded / failed, Progressing only while the operator is really working."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, Callable

import celpy
import lupa
import pytest
import yaml
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.errors import ApiWriteError
from openstack_operator.core.health.workloads import release_basis
from openstack_operator.core.models.bundle import Bundle
from openstack_operator.core.schema.crds import osdpl_crd
from openstack_operator.core.status import reasons
from openstack_operator.core.status.conditions import CONDITION_TYPES, Observed, children, compute_status
from openstack_operator.core.status.reasons import REASONS, meaning
from openstack_operator.core.upgrades.guard import version_problem
from openstack_operator.core.upgrades.rollout import RUNNING, STUCK

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "gitops.md"
ARGO_KEY = "resource.customizations.health.openstack.osop.dev_OpenStackDeployment"
NOW = "2026-01-01T00:00:00Z"
GENERATION = 4  # the osdpl's generation; its releases were last written for generation 3 where a case says so
CATALOG = Catalog.load()


def _yaml_blocks() -> list[Any]:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)]


def _argo_lua() -> str:
    script: str = next(b for b in _yaml_blocks() if b.get("kind") == "ConfigMap")["data"][ARGO_KEY]
    return script


def _flux_exprs() -> dict[str, str]:
    kustomization = next(b for b in _yaml_blocks() if b.get("kind") == "Kustomization")
    exprs: dict[str, str] = kustomization["spec"]["healthCheckExprs"][0]
    return exprs


# -- the table ------------------------------------------------------------------------------------------------------
def _doc_table() -> dict[str, tuple[str, ...]]:
    text = DOC.read_text()
    table = text[text.index("| reason | Ready |"):]
    table = table[:table.index("\n\n")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    return {row[0].strip("`"): tuple(row[1:]) for row in rows}


def _cells(reason: str) -> tuple[str, ...]:
    row = REASONS[reason]
    degraded = ("True" if row.degraded else "—") if row.verdict else str(row.degraded)
    return (*("—" if v is None else str(v) for v in (row.ready, row.progressing)), degraded,
            "—" if row.stalled is None else str(row.stalled), row.means)


def test_the_docs_table_is_the_code_table_both_ways() -> None:
    documented = _doc_table()
    assert sorted(set(REASONS) - set(documented)) == []  # every reason of the code is documented
    assert sorted(set(documented) - set(REASONS)) == []  # and the docs name no other
    assert {reason: _cells(reason) for reason in REASONS} == documented


def test_every_verdict_is_ready_or_working_or_stalled_or_paused() -> None:
    for reason, row in REASONS.items():
        if not row.verdict:
            assert row.progressing is None and row.stalled is None, reason
            continue
        kinds = [bool(row.ready), bool(row.progressing), bool(row.stalled), reason == reasons.DRAFT]
        assert kinds.count(True) == 1, reason
        assert not row.stalled or row.degraded, reason  # stalled is degraded as well: Argo CD and Flux agree
    assert meaning("SomethingNew").stalled  # a reason missing from the table is reported, never waited on


def test_kubectl_get_wide_shows_the_verdict() -> None:
    columns = osdpl_crd(CATALOG)["spec"]["versions"][0]["additionalPrinterColumns"]
    names = [c["name"] for c in columns]
    reason = columns[names.index("Reason")]
    assert reason["jsonPath"] == '.status.conditions[?(@.type=="Ready")].reason' and reason["priority"] == 1
    assert names.index("Reason") == names.index("Ready") + 1  # -o wide: right after READY
    assert "`REASON`" in DOC.read_text()


# -- the code sets no reason outside the table ------------------------------------------------------------------------
def _api_error(code: int, message: str) -> ApiWriteError:
    return ApiWriteError("creating", "HelmBundle", "ns", "osh-identity", code, message)


API_ERRORS = [_api_error(403, 'helmbundles "x" is forbidden: exceeded quota: q'),
              _api_error(403, 'admission webhook "w" denied the request'),
              _api_error(403, "helmbundles is forbidden: User cannot create"),
              _api_error(422, "HelmBundle.openstack.osop.dev is invalid"),
              _api_error(503, "the server is currently unable to handle the request")]


def test_every_reason_a_refused_write_gets_is_in_the_table() -> None:
    returned = {node.value.value for node in ast.walk(ast.parse((REPO / "openstack_operator/core/errors.py")
                                                                .read_text()))
                if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)}
    assert returned == {error.reason for error in API_ERRORS} == set(reasons.API_REFUSALS)


def test_every_reason_raised_for_missing_credentials_is_in_the_table() -> None:
    raised = set()
    for path in (REPO / "openstack_operator").rglob("*.py"):
        raised |= set(re.findall(r"CredentialsUnavailable\(\s*\"(\w+)\"", path.read_text()))
    assert raised == {reasons.WAITING_FOR_CREDENTIALS, reasons.WAITING_FOR_CEPH_KEYS, reasons.CREDENTIALS_LOST}


def test_the_conditions_name_reasons_only_from_the_table() -> None:
    """A reason written as a literal in the conditions' code would bypass the table."""
    source = (REPO / "openstack_operator/core/status/conditions.py").read_text()
    literals = {node.value for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"[A-Z][a-z]\w*",
                                                                                                  node.value)}
    others = {*CONDITION_TYPES, "True", "False", "Invalid", "Refused", "Untrusted", "Trusted"}  # types, view states,
    assert sorted(literals - others - set(REASONS)) == []  # and the HelmBundle's Refused condition (docs: below it)
    assert all(word in DOC.read_text() for word in ("`Refused`", "`Untrusted`", "`Trusted`"))


# -- a status for every reason, as the API server returns the osdpl ---------------------------------------------------
def _bundle(states: dict[str, dict[str, Any]]) -> Bundle:
    return Bundle.from_api({"spec": {"releases": [{"name": n} for n in states]}, "status": {"releases": states}})


DESIRED = {"database": {"mariadb": "f1"}, "identity": {"keystone": "k1"}}
DEPLOYED = {"database": _bundle({"mariadb": {"state": "deployed", "fingerprint": "f1", "revision": 1}}),
            "identity": _bundle({"keystone": {"state": "deployed", "fingerprint": "k1", "revision": 1}})}
FAILING = {"state": "failed", "target": "k1", "attempts": 2, "last_error": "UPGRADE FAILED: bad replicas"}
ROLLOUT = {"from": "epoxy", "to": "flamingo", "phase": RUNNING, "current": "identity", "message": "",
           "services": {"database": {"phase": "Done"}, "identity": {"phase": "Upgrading"}}}


def _health(state: str = "Ready") -> dict[str, Any]:
    observed = Observed(generation=GENERATION, reconciled_generation=GENERATION, draft=False,
                        openstack_version="epoxy", desired=DESIRED, bundles=DEPLOYED)
    return {"health": {"keystone": {"api": {"state": state, "reason": "r"}}},
            "health_basis": release_basis(children(observed))}


def _osdpl(previous: dict[str, Any] | None = None, reconciled: int | None = GENERATION, draft: bool = False,
           deleting: bool = False, **kwargs: Any) -> dict[str, Any]:
    """The osdpl with the status the osdpl process writes over `previous` (the other processes' sections)."""
    previous = _health() if previous is None else previous
    fields: dict[str, Any] = dict(desired=DESIRED, bundles=DEPLOYED, openstack_version="epoxy")
    fields.update(kwargs)
    observed = Observed(generation=GENERATION, reconciled_generation=reconciled, draft=draft, deleting=deleting,
                        previous={"openstack_version": "epoxy", **previous}, **fields)
    metadata: dict[str, Any] = {"name": "osh", "generation": GENERATION}
    if deleting:
        metadata["deletionTimestamp"] = NOW
    return {"metadata": metadata, "spec": {"draft": draft, "openstack_version": "epoxy"},
            "status": {"openstack_version": "epoxy", **previous, **compute_status(observed, NOW)}}


def _new() -> dict[str, Any]:  # a change the operator refuses: nothing of generation 4 was written
    return {"reconciled": GENERATION - 1}


def _refused_write(error: ApiWriteError) -> Callable[[], dict[str, Any]]:
    return lambda: _osdpl(api_error=(error.reason, str(error)), **_new())


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    reasons.DEPLOYED: lambda: _osdpl(),
    reasons.RECONCILING: lambda: _osdpl(**_new()),
    reasons.DEPLOYING: lambda: _osdpl(desired={**DESIRED, "identity": {"keystone": "k2"}}),
    reasons.HEALTH_PENDING: lambda: _osdpl(previous={}),
    reasons.WORKLOADS_PROGRESSING: lambda: _osdpl(_health("Progressing")),
    reasons.UPGRADING: lambda: _osdpl(upgrade=ROLLOUT),
    reasons.WAITING_FOR_CREDENTIALS: lambda: _osdpl(credentials_problem=("WaitingForCredentials", "waiting"),
                                                    **_new()),
    reasons.WAITING_FOR_CEPH_KEYS: lambda: _osdpl(credentials_problem=("WaitingForCephKeys", "waiting"), **_new()),
    reasons.WAITING_FOR_CEPH_WIRING: lambda: _osdpl(credentials_problem=("WaitingForCephWiring", "waiting"),
                                                    **_new()),
    reasons.WAITING_FOR_REFERENCED_SECRETS: lambda: _osdpl(
        credentials_problem=("WaitingForReferencedSecrets", "waiting"), **_new()),
    reasons.DELETING: lambda: _osdpl(deleting=True),
    reasons.API_ERROR: lambda: _osdpl(api_error=(API_ERRORS[4].reason, str(API_ERRORS[4])), **_new()),
    reasons.DRAFT: lambda: _osdpl(draft=True, **_new()),
    reasons.INVALID_SPEC: lambda: _osdpl(spec_error="spec.size: bad", **_new()),
    reasons.UPGRADE_REFUSED: lambda: _osdpl(upgrade_held=version_problem(CATALOG, "epoxy",
                                                                         {"openstack_version": "flamingo"}),
                                            **_new()),
    reasons.UPGRADE_STUCK: lambda: _osdpl(upgrade={**ROLLOUT, "phase": STUCK, "message": "identity: unhealthy"}),
    reasons.CREDENTIALS_LOST: lambda: _osdpl(credentials_problem=("CredentialsLost", "Secret deleted"), **_new()),
    reasons.NAMESPACE_IN_USE: lambda: _osdpl(blocked_by="cloud-a", **_new()),
    **{error.reason: _refused_write(error) for error in API_ERRORS[:4]},
    reasons.CHART_UNAVAILABLE: lambda: _osdpl(bundles={**DEPLOYED, "identity": _bundle(
        {"keystone": {**FAILING, "reason": "ChartUnavailable"}})}),
    reasons.RELEASE_FAILED: lambda: _osdpl(bundles={**DEPLOYED, "identity": _bundle({"keystone": FAILING})}),
    reasons.WORKLOADS_UNHEALTHY: lambda: _osdpl(_health("Unhealthy")),
    reasons.CEPH_KEYS_INVALID: lambda: _osdpl({**_health(), "ceph": {"state": "Invalid", "message": "bad key"}}),
    reasons.CERTIFICATE_INVALID: lambda: _osdpl({**_health(), "certificate": {"state": "Invalid",
                                                                               "message": "expired"}}),
    reasons.AS_EXPECTED: lambda: _osdpl(),
}


def _conditions(osdpl: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in osdpl["status"]["conditions"]}


def test_every_reason_of_the_table_is_one_the_operator_sets() -> None:
    assert sorted(SCENARIOS) == sorted(REASONS)


@pytest.mark.parametrize("reason", sorted(SCENARIOS))
def test_the_conditions_of_each_reason_are_the_tables(reason: str) -> None:
    conditions = _conditions(SCENARIOS[reason]())
    row = REASONS[reason]
    ready_reason = conditions["Ready"][1]
    assert reason == ready_reason if row.verdict else conditions["Degraded"][1] == reason
    verdict = REASONS[ready_reason]
    assert conditions["Ready"] == (str(verdict.ready), ready_reason)
    assert conditions["Progressing"] == (str(verdict.progressing), ready_reason)
    assert conditions["Stalled"] == ("True", ready_reason) if verdict.stalled else ("False", "AsExpected")
    if verdict.degraded:
        assert conditions["Degraded"] == ("True", ready_reason)
    assert conditions["Degraded"][0] == str(REASONS[conditions["Degraded"][1]].degraded)


def test_a_refusal_is_judged_for_its_generation_and_stays_so_on_the_next_look() -> None:
    for reason, scenario in SCENARIOS.items():
        osdpl = scenario()
        judged = osdpl["status"].get("observedGeneration") == GENERATION
        assert judged or not REASONS[_conditions(osdpl)["Ready"][1]].stalled, reason
    # The osdpl process reads status.observedGeneration back: a refusal looked at again says the same, and does not
    # take the refused spec for what runs.
    first = SCENARIOS[reasons.UPGRADE_REFUSED]()
    held = version_problem(CATALOG, "epoxy", {"openstack_version": "flamingo"})
    again = compute_status(Observed(generation=GENERATION, reconciled_generation=first["status"]["observedGeneration"],
                                    draft=False, openstack_version="epoxy", desired=DESIRED, bundles=DEPLOYED,
                                    upgrade_held=held, previous={**first["status"], "openstack_version": "flamingo"}),
                           NOW)
    assert again["conditions"] == first["status"]["conditions"] and again["openstack_version"] == "flamingo"
    problems: list[dict[str, Any]] = [{"api_error": ("Forbidden", "no")},
                                      {"credentials_problem": ("WaitingForCredentials", "w")}]
    for problem in problems:
        look = compute_status(Observed(generation=GENERATION, reconciled_generation=GENERATION, draft=False,
                                       openstack_version="gazpacho", desired=DESIRED, bundles=DEPLOYED,
                                       previous={**_health(), "openstack_version": "flamingo"}, **problem), NOW)
        assert look["openstack_version"] == "flamingo", problem


# -- what the tools make of it ---------------------------------------------------------------------------------------
def argo(osdpl: dict[str, Any]) -> tuple[str, str]:
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    check = lua.eval(f"function(obj)\n{_argo_lua()}\nend")
    result = check(lua.table_from(osdpl, recursive=True))
    return result["status"], result["message"]


def _cel(expression: str, osdpl: dict[str, Any]) -> bool:
    environment = celpy.Environment()
    program = environment.program(environment.compile(expression))
    try:
        return bool(program.evaluate({key: json_to_cel(value) for key, value in osdpl.items()}))
    except CELEvalError:
        return False  # cannot be evaluated: Flux keeps waiting, as for false


def _generation_unseen(osdpl: dict[str, Any]) -> bool:
    """kstatus, and Flux before any expression: a status.observedGeneration other than the generation is in
    progress."""
    status = osdpl.get("status") or {}
    return "observedGeneration" in status and status["observedGeneration"] != osdpl["metadata"]["generation"]


def flux(osdpl: dict[str, Any]) -> str:
    """Flux with the doc's healthCheckExprs: the generation first, then failed before current (no inProgress)."""
    if _generation_unseen(osdpl):
        return "InProgress"
    if _cel(_flux_exprs()["failed"], osdpl):
        return "Failed"
    return "Current" if _cel(_flux_exprs()["current"], osdpl) else "InProgress"


def kstatus(osdpl: dict[str, Any]) -> str:
    """kstatus's generic rules for a custom resource (Flux without healthCheckExprs)."""
    if osdpl["metadata"].get("deletionTimestamp"):
        return "Terminating"
    if _generation_unseen(osdpl):
        return "InProgress"
    conditions = {c["type"]: c["status"] for c in (osdpl.get("status") or {}).get("conditions") or []}
    if conditions.get("Reconciling") == "True":
        return "InProgress"
    if conditions.get("Stalled") == "True":
        return "Failed"
    return {"True": "Current", "False": "InProgress"}.get(conditions.get("Ready", "True"), "InProgress")


def _expected(osdpl: dict[str, Any]) -> tuple[str, str, str]:
    """What docs/gitops.md's table of the tools says for this status (Argo CD, Flux with the exprs, kstatus)."""
    conditions = _conditions(osdpl)
    verdict = REASONS[conditions["Ready"][1]]
    degraded = conditions["Degraded"][0] == "True"
    if osdpl["metadata"].get("deletionTimestamp"):
        return "Degraded" if degraded else "Progressing", "Failed" if degraded else "InProgress", "Terminating"
    if conditions["Ready"][1] == reasons.DRAFT:
        return "Suspended", "InProgress", "InProgress"
    if verdict.stalled:
        return "Degraded", "Failed", "Failed"
    if degraded:
        return "Degraded", "Failed", "Current" if verdict.ready else "InProgress"
    return ("Healthy", "Current", "Current") if verdict.ready else ("Progressing", "InProgress", "InProgress")


@pytest.mark.parametrize("reason", sorted(SCENARIOS))
def test_argo_cd_flux_and_kstatus_read_each_reason_as_the_docs_say(reason: str) -> None:
    osdpl = SCENARIOS[reason]()
    health, message = argo(osdpl)
    assert message
    assert (health, flux(osdpl), kstatus(osdpl)) == _expected(osdpl)
    row = REASONS[_conditions(osdpl)["Ready"][1]]
    if health == "Progressing":  # only where the operator, or the cluster, is really working
        assert row.progressing
    if row.stalled:  # a refused change: reported at once, never waited on
        assert (health, flux(osdpl), kstatus(osdpl)) == ("Degraded", "Failed", "Failed")


def test_a_refused_upgrade_fails_at_once_in_every_tool() -> None:
    osdpl = SCENARIOS[reasons.UPGRADE_REFUSED]()
    assert _conditions(osdpl) == {"Ready": ("False", "UpgradeRefused"), "Progressing": ("False", "UpgradeRefused"),
                                  "Degraded": ("True", "UpgradeRefused"), "Stalled": ("True", "UpgradeRefused")}
    assert argo(osdpl)[0] == "Degraded" and flux(osdpl) == "Failed" and kstatus(osdpl) == "Failed"
    assert argo(osdpl)[1].startswith("UpgradeRefused: spec.openstack_version: epoxy cannot follow the deployed")


def test_the_other_rows_of_the_tools_table() -> None:
    unseen = _osdpl()
    unseen["metadata"]["generation"] = GENERATION + 1  # a new spec the operator has not looked at yet
    assert (argo(unseen)[0], flux(unseen), kstatus(unseen)) == ("Progressing", "InProgress", "InProgress")
    fixed = SCENARIOS[reasons.INVALID_SPEC]()
    fixed["metadata"]["generation"] = GENERATION + 1  # a fix pushed after a failure is not judged by the old verdict
    assert (argo(fixed)[0], flux(fixed), kstatus(fixed)) == ("Progressing", "InProgress", "InProgress")
    # Before the first status write: Argo CD and the exprs wait; kstatus alone would call it current (doc says so).
    new = {"metadata": {"name": "osh", "generation": 1}, "spec": {}}
    assert (argo(new)[0], flux(new), kstatus(new)) == ("Progressing", "InProgress", "Current")
    text = DOC.read_text()
    assert "| a generation the operator has not seen yet | `Progressing` | in progress | in progress |" in text
    assert "| no status yet (just created) | `Progressing` | in progress | current |" in text
