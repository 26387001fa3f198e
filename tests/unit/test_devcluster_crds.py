"""devcluster.crds: the operator's CRDs applied and waited for, against a stand-in kubectl (a script that plays the
API server's answers), including the moment `kubectl wait` cannot wait through: a CRD without conditions yet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devcluster import crds


def _crd(name: str, conditions: list[dict[str, str]] | None) -> dict[str, object]:
    return {"metadata": {"name": name}, "status": {"conditions": conditions}}


def _kubectl(tmp_path: Path, answers: list[list[dict[str, object]]]) -> Path:
    """A kubectl that accepts `apply` and answers the n-th `get` with answers[n] (the last one ever after)."""
    for index, items in enumerate(answers):
        (tmp_path / f"get-{index}.json").write_text(json.dumps({"items": items}))
    script = tmp_path / "kubectl"
    script.write_text(f"""#!/bin/sh
case "$2" in
  apply) echo "$@" >> {tmp_path}/applied; exit 0 ;;
  get) n=$(cat {tmp_path}/count 2>/dev/null || echo 0); echo $((n + 1)) > {tmp_path}/count
       [ -f {tmp_path}/get-$n.json ] || n={len(answers) - 1}; cat {tmp_path}/get-$n.json ;;
esac
""")
    script.chmod(0o755)
    return script


ESTABLISHED = [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]


def test_a_crd_without_conditions_yet_is_waited_for(tmp_path: Path) -> None:
    kubectl = _kubectl(tmp_path, [
        [_crd(name, None) for name in crds.NAMES],  # just created: `kubectl wait` fails here
        [_crd(name, ESTABLISHED if i else [{"type": "Established", "status": "False"}])
         for i, name in enumerate(crds.NAMES)],
        [_crd(name, ESTABLISHED) for name in crds.NAMES],
    ])
    crds.install(kubectl, tmp_path / "kubeconfig", timeout=10)
    assert (tmp_path / "count").read_text().strip() == "3"
    assert f"apply --server-side -f {crds.CRDS}" in (tmp_path / "applied").read_text()


def test_a_crd_never_established_is_named_after_the_timeout(tmp_path: Path) -> None:
    kubectl = _kubectl(tmp_path, [[_crd(name, ESTABLISHED if name != crds.NAMES[1] else None)
                                   for name in crds.NAMES]])
    with pytest.raises(crds.CRDError, match=rf"^not Established within 1 s: {crds.NAMES[1]}$"):
        crds.install(kubectl, tmp_path / "kubeconfig", timeout=1)
