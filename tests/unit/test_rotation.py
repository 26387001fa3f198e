"""The rotation state machine (core/secrets/rotation.py): when a rotation starts, blocks others and finishes."""

from __future__ import annotations

from typing import Any

import pytest

from openstack_operator.core.secrets.rotation import DONE, ROLLING_OUT, Step, next_step, rolled_out, rotate_annotation

GENERATION = 7


def _status(applied: int = 4, ready: str = "True", observed: int = GENERATION) -> dict[str, Any]:
    return {"applied_credentials": applied,
            "conditions": [{"type": "Progressing", "status": "False", "observedGeneration": observed},
                           {"type": "Ready", "status": ready, "observedGeneration": observed}]}


def _rotation(phase: str, request: str, revision: int = 4) -> dict[str, Any]:
    return {"phase": phase, "request": request, "revision": revision}


def test_new_annotation_value_starts_a_rotation() -> None:
    annotations = {rotate_annotation("database"): "2026-06-01"}
    assert next_step(annotations, {}, _status(), GENERATION, False) == Step("start", "database", "2026-06-01")
    done = {"database": _rotation(DONE, "2026-05-01")}
    assert next_step(annotations, done, _status(), GENERATION, False) == Step("start", "database", "2026-06-01")


def test_recorded_request_never_rotates_twice() -> None:
    annotations = {rotate_annotation("database"): "2026-06-01"}
    done = {"database": _rotation(DONE, "2026-06-01")}
    assert next_step(annotations, done, _status(), GENERATION, False) == Step("none")


def test_no_or_empty_annotation_does_nothing() -> None:
    assert next_step({}, {}, _status(), GENERATION, False) == Step("none")
    assert next_step({rotate_annotation("admin"): ""}, {}, _status(), GENERATION, False) == Step("none")
    assert next_step({"openstack.osop.dev/rotate-unknown": "x"}, {}, _status(), GENERATION, False) == Step("none")


def test_rolling_out_group_blocks_other_groups() -> None:
    annotations = {rotate_annotation("database"): "r1", rotate_annotation("messaging"): "r2"}
    running = {"database": _rotation(ROLLING_OUT, "r1", revision=4)}
    assert next_step(annotations, running, _status(applied=3), GENERATION, False) == Step("none")


def test_rolling_out_finishes_only_when_rolled_out() -> None:
    annotations = {rotate_annotation("database"): "r1"}
    running = {"database": _rotation(ROLLING_OUT, "r1", revision=4)}
    assert next_step(annotations, running, _status(applied=3), GENERATION, False) == Step("none")
    assert next_step(annotations, running, _status(applied=4, ready="False"), GENERATION, False) == Step("none")
    assert next_step(annotations, running, _status(applied=4), GENERATION, False) == Step("finish", "database", "r1")


def test_finished_rotation_lets_the_next_group_start() -> None:
    annotations = {rotate_annotation("database"): "r1", rotate_annotation("messaging"): "r2"}
    rotations = {"database": _rotation(DONE, "r1")}
    assert next_step(annotations, rotations, _status(), GENERATION, False) == Step("start", "messaging", "r2")


@pytest.mark.parametrize("applied, revision", [(4, 4), (5, 4)])
def test_rolled_out_when_applied_reaches_revision_and_ready(applied: int, revision: int) -> None:
    assert rolled_out(_status(applied=applied), GENERATION, revision)


@pytest.mark.parametrize("status", [
    _status(applied=3),                           # releases still rendered from older credentials
    _status(ready="False"),                       # not Ready
    _status(ready="Unknown"),
    _status(observed=GENERATION - 1),             # Ready for an older generation
    {"applied_credentials": 4},                   # no conditions
    {"conditions": _status()["conditions"]},      # nothing applied yet
])
def test_not_rolled_out(status: dict[str, Any]) -> None:
    assert not rolled_out(status, GENERATION, 4)


def test_rolled_out_baseline_for_the_cases_above() -> None:
    assert rolled_out(_status(), GENERATION, 4)


def test_a_requested_rotation_waits_while_the_openstack_release_changes() -> None:
    annotations = {rotate_annotation("database"): "2026-06-01"}
    assert next_step(annotations, {}, _status(), GENERATION, True) == Step("wait", "database", "2026-06-01")
    assert next_step(annotations, {}, _status(), GENERATION, False) == Step("start", "database", "2026-06-01")
