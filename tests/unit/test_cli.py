from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from openstack_operator.cli import main

from .conftest import EXAMPLES, REPO


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_reports_every_problem_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "bad.yaml"
    doc = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())
    doc["spec"]["size"] = 3
    doc["spec"]["features"] = {"services": ["telemetry"], "neutron": {"tunel_interface": "ens3"}}
    doc["spec"]["nodes"] = {"compute": {}}
    manifest.write_text(yaml.safe_dump(doc))
    code, out, err = _run(capsys, "validate", "-f", str(manifest))
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert sorted(line.split(": ")[1] for line in lines) == [
        "spec.features.neutron.tunel_interface", "spec.features.services[0]", "spec.nodes", "spec.size"]
    assert "Traceback" not in err


def test_validate_accepts_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for example in EXAMPLES.glob("*.yaml"):
        code, out, _ = _run(capsys, "validate", "-f", str(example))
        assert code == 0 and out.strip().endswith("valid")


def test_validate_judges_the_release_against_the_deployed_one(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    new = tmp_path / "new.yaml"
    new.write_text((EXAMPLES / "minimal.yaml").read_text().replace("epoxy", "gazpacho"))
    code, out, _ = _run(capsys, "validate", "-f", str(new), "--deployed", "epoxy")  # SLURP to SLURP
    assert code == 0 and out.strip().endswith("valid")
    code, _, err = _run(capsys, "validate", "-f", str(EXAMPLES / "minimal.yaml"), "--deployed", "flamingo")
    assert code == 1 and "spec.openstack_version: epoxy cannot follow the deployed flamingo (downgrade)" in err
    code, _, err = _run(capsys, "validate", "-f", str(new), "--deployed", "zed")
    assert code == 1 and "--deployed: 'zed' is not a release" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("spec: [unclosed\n", "invalid YAML"),
        ("", "expected one OpenStackDeployment document, found 0"),
        ("a: 1\n---\nb: 2\n", "expected one OpenStackDeployment document, found 2"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                                        message: str) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(content)
    for command in ("validate", "render"):
        code, _, err = _run(capsys, command, "-f", str(manifest))
        assert code == 1 and message in err and len(err.splitlines()) == 1


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "render", "-f", "/nonexistent/osdpl.yaml")
    assert code == 1 and err == "error: /nonexistent/osdpl.yaml: No such file or directory\n"


def test_render_one_service_to_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "render", "-f", str(EXAMPLES / "full.yaml"), "--service", "networking",
                        "--output-dir", str(tmp_path))
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["openstack-neutron.yaml", "openstack-openvswitch.yaml"]
    assert [line.split()[1] for line in out.splitlines()] == ["release=openstack-openvswitch",
                                                             "release=openstack-neutron"]


def test_render_service_not_enabled(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "render", "-f", str(EXAMPLES / "minimal.yaml"), "--service", "compute")
    assert code == 1 and "'compute' is not enabled" in err


def test_committed_crds_match_the_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds", "--output-dir", str(tmp_path)]) == 0
    for generated in tmp_path.iterdir():
        assert generated.read_text() == (REPO / "crds" / generated.name).read_text(), "run `make crds`"


def test_images_lists_every_image_to_mirror_and_where_it_is_pulled_from(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "images", "-f", str(EXAMPLES / "full.yaml"))
    pairs = [line.split(" ") for line in out.splitlines()]
    assert code == 0 and pairs == sorted(pairs) and len(pairs) > 20
    assert ["quay.io/airshipit/keystone:2025.1-ubuntu_noble", "registry.example.com/openstack/keystone:2025.1-ubuntu_noble"] \
        in pairs
    assert all(target.startswith("registry.example.com/openstack/") for _, target in pairs)
    assert all(source.rsplit("/", 1)[-1] == target.rsplit("/", 1)[-1] for source, target in pairs)
