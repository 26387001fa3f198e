"""The settings table of docs/operations.md lists exactly the settings the processes read (core.settings), with
their defaults: a new setting without docs, or docs of a removed one, fail here."""

from __future__ import annotations

import re
from pathlib import Path

from openstack_operator.core.settings import documented

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _table_rows() -> dict[str, str]:
    text = OPERATIONS.read_text()
    table = text.split("Settings (environment)", 1)[1].split("\n\n", 2)[1]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `(OSOP_[A-Z_]+)` \|[^|]*\| (.*) \|$", table, re.M)}


def test_every_setting_is_documented_and_every_documented_setting_exists() -> None:
    rows = _table_rows()
    assert sorted(rows) == sorted(variable for variable, _, _ in documented())


def test_the_documented_defaults_are_the_defaults() -> None:
    rows = _table_rows()
    for variable, default, _ in documented():
        if default not in ("", "0.0.0.0") and variable not in ("OSOP_LOG_LEVEL", "OSOP_LOG_FORMAT"):
            number = default.removesuffix(".0")
            assert f"default {number}" in rows[variable] or f"default: {number}" in rows[variable], \
                f"{variable}: the docs do not say its default {default}"
