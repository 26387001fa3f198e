"""Bounds on what a manifest or an osdpl may cost before anything walks it: nesting depth, YAML alias expansion and
spec size. Checked first, iteratively (never by recursion), so a pathological object is one clear error naming the
field where a bound is passed, instead of a RecursionError, or seconds of CPU, in whatever walks it next (defaults,
validation, rendering, YAML dumps). The API server accepts objects nested about 10,000 deep (its JSON decoder's
own bound) and up to its request size; the CRD schema cannot bound depth (see docs/resource.md, "Limits").
"""

from __future__ import annotations

import json
from typing import Any, Iterator

MAX_DEPTH = 100  # mappings and lists nested in one another, the object's root counted as 1 (values need ~15)
MAX_SPEC_BYTES = 1024 * 1024  # the spec as compact JSON
MAX_ALIAS_NODES = 100_000  # YAML nodes that aliases add once expanded (a merge key `<<: *defaults` adds a few)
MAX_PATH_CHARS = 200  # a field path in a message is cut to this (a path 100 deep is long)


class LimitExceeded(ValueError):
    """A bound of this module passed; the message names where and which bound."""


def _children(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield f"{path}.{key}", child
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield f"{path}[{index}]", child


def show_path(path: str) -> str:
    return path if len(path) <= MAX_PATH_CHARS else f"{path[:MAX_PATH_CHARS // 2]}...{path[-MAX_PATH_CHARS // 2:]}"


def depth_problem(value: Any, path: str, depth: int = 1, limit: int = MAX_DEPTH) -> tuple[str, str] | None:
    """Where `value` (found at `path`, at `depth` from the object's root) nests mappings or lists deeper than
    `limit`, and the message; None if it does not. Iterative: any depth costs no stack."""
    stack = [(path, value, depth)]
    while stack:
        where, current, level = stack.pop()
        if not isinstance(current, (dict, list)):
            continue
        if level > limit:
            return show_path(where), f"nested deeper than {limit} levels (the limit of mappings and lists in one " \
                                     "another)"
        stack.extend((child_path, child, level + 1) for child_path, child in _children(current, where))
    return None


def json_size(value: Any, stop_after: int) -> int:
    """The size of `value` as compact JSON, counted iteratively and given up once past `stop_after` (a YAML alias
    bomb loaded elsewhere would be gigabytes): the count so far then, more than `stop_after`."""
    size, stack = 0, [value]
    while stack and size <= stop_after:
        current = stack.pop()
        if isinstance(current, dict):
            size += 2 + max(len(current) - 1, 0)  # braces, commas
            for key, child in current.items():
                size += len(json.dumps(str(key))) + 1
                stack.append(child)
        elif isinstance(current, list):
            size += 2 + max(len(current) - 1, 0)
            stack.extend(current)
        else:
            size += len(json.dumps(current, default=str).encode())
    return size


def size_problem(spec: Any, path: str = "spec", limit: int = MAX_SPEC_BYTES) -> tuple[str, str] | None:
    """`path` and a message when `spec` as compact JSON exceeds `limit` bytes."""
    if json_size(spec, limit) <= limit:
        return None
    return path, f"more than {limit // 1024} KiB as JSON (the limit of a spec)"


def spec_limit_problem(spec: Any) -> tuple[str, str] | None:
    """The first bound an osdpl's spec passes, or None: its size first (a walk that stops past the bound), then its
    depth (a walk of what is then known to be small)."""
    return size_problem(spec) or depth_problem(spec, "spec", depth=2)
