"""Helm's post-renderer for every release the operator installs: `python -m openstack_operator.kube.postrender
<release namespace>` reads what Helm is about to apply on stdin and either passes it through unchanged, or refuses
the whole release (exit 1, nothing applied) naming each object that leaves the release namespace or is a
cluster-scoped object the pinned charts do not need (core.isolation.rendered_problems).

Helm (v3.21) hands the post-renderer the release's manifests but not its hooks: those are kept apart before it
runs (pkg/action/action.go renderResources). Hooks are covered by the value checks before Helm runs
(kube.helm) and, for cluster RBAC, by the operator chart's admission policy.
"""

from __future__ import annotations

import sys
from typing import Any, BinaryIO, TextIO

import yaml

from openstack_operator.core.isolation import rendered_problems

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
REFUSED = "refused by the operator's post-renderer"


def check(rendered: bytes, namespace: str) -> list[str]:
    """The problems of a rendered release stream (empty: it may be applied)."""
    try:
        docs = list(yaml.load_all(rendered, Loader=_Loader))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        return [f"the rendered manifests are not YAML{f' (line {mark.line + 1})' if mark else ''}"]
    return rendered_problems(docs, namespace)


def main(argv: list[str], stdin: BinaryIO, stdout: BinaryIO, stderr: TextIO) -> int:
    if len(argv) != 1 or not argv[0]:
        stderr.write(f"{REFUSED}: usage: python -m openstack_operator.kube.postrender <release namespace>\n")
        return 2
    rendered = stdin.read()
    problems = check(rendered, argv[0])
    if problems:
        stderr.write(f"{REFUSED}: {'; '.join(problems)}\n")
        return 1
    stdout.write(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], sys.stdin.buffer, sys.stdout.buffer, sys.stderr))
