"""Each chart's last template output, rendered again only when a name the template read has changed.

A render of a changed spec used to render every template again, though most read only part of the spec: a new
region changes the charts with Keystone users, not mariadb's; an unchanged spec (every reconcile) changes none.
Jinja looks every name up in its context (the chart template's own, and the context the macros module is imported
with), so a context of ours notes each name looked up; the output is kept with the state of each of those names,
and reused while every one has the same state: templates are deterministic functions of what they read (the
renderer's determinism tests hold them to it), and the compiled templates and filters do not change.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Final

import jinja2.runtime

READS: Final = "osop:reads"  # the context key of the render's set of names looked up; no template can name it


class ReadsContext(jinja2.runtime.Context):
    """Jinja's context, noting each name a template, or a macro of a module it imports with context, looks up."""

    def resolve_or_missing(self, key: str) -> Any:
        reads = self.parent.get(READS)
        if reads is not None:
            reads.add(key)
        return super().resolve_or_missing(key)


class _Opaque:
    """The state of a value this module cannot see into: equal to no other, so a template reading it is rendered
    every time."""


def state(value: Any) -> Any:
    """A comparable snapshot of a value: equal for two values exactly when a template sees the same. Types and order
    count (1, 1.0 and True are equal in Python, not to |tojson; -0.0 too), and it is a copy: a value changed in
    place after the render no longer has the state the output was kept with."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is bool or kind is int:
        return kind, value
    if kind is float:
        return kind, repr(value)
    if kind is dict:
        return kind, tuple((state(key), state(item)) for key, item in value.items())
    if kind is list or kind is tuple:
        return kind, tuple(state(item) for item in value)
    if dataclasses.is_dataclass(kind) and getattr(kind, "__dataclass_params__").frozen:  # its fields are all of it
        return kind, tuple(state(getattr(value, field.name)) for field in dataclasses.fields(kind))
    return _Opaque()  # another type (a Mapping whose lookups may do more than its items say, ...)


class TemplateOutputs:
    """chart -> (the state of each name its template read, its output)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[tuple[tuple[str, Any], ...], str]] = {}

    def render(self, chart: str, template: jinja2.Template, context: dict[str, Any],
               state_of: Callable[[str], Any]) -> str:
        """The template's output with this context: the last one, if every name it read has the same state now
        (`state_of(name)`), else rendered and kept."""
        last = self._last.get(chart)
        if last is not None and all(state_of(name) == was for name, was in last[0]):
            return last[1]
        reads: set[str] = set()
        text = template.render(**context, **{READS: reads})
        self._last[chart] = (tuple((name, state_of(name)) for name in sorted(reads)), text)
        return text
