"""Bad inputs and output failures, each through the real CLI (`python -m openstack_operator` in a process of its
own): a non-zero exit, no traceback, and one line on stderr that names the field or object at fault. Most cases run
in one batch (tests/unit/cli_batch.py: the CLI loaded once, each case a forked process running the package's
__main__ as `python -m` does); those that talk to the process while it runs (a reader that goes away, Ctrl-C) and a
full disk are plain `python -m openstack_operator` subprocesses. `python tests/unit/test_cli_bad_inputs.py` prints
the table: each input and its one-line output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MINIMAL = (REPO / "deploy" / "examples" / "minimal.yaml").read_text()
NO_CLUSTER = {"KUBECONFIG": "{dir}/missing-kubeconfig"}
UNREACHABLE = {"KUBECONFIG": "{dir}/kubeconfig"}  # a server where nothing listens


def _values(body: str) -> str:
    return MINIMAL + "  services:\n" + body


def _alias_bomb(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


FILES: dict[str, str | bytes] = {
    "ok.yaml": MINIMAL,
    "no-namespace.yaml": MINIMAL.replace("  namespace: openstack\n", ""),
    "duplicate-key.yaml": MINIMAL + "  features:\n    services: [compute]\n  features:\n    services: [image]\n",
    "duplicate-bool-key.yaml": _values("    identity:\n      keystone:\n        values:\n          conf: {true: 1, yes: 2}\n"),
    "null-key.yaml": _values("    identity:\n      keystone:\n        values:\n          conf: {~: 1, a: 2}\n"),
    "nan.yaml": _values("    identity:\n      keystone:\n        values:\n          ratio: .nan\n"),
    "root-field.yaml": MINIMAL + "extra: 1\n",
    "status.yaml": MINIMAL + "status:\n  openstack_version: epoxy\n",
    "metadata-nme.yaml": MINIMAL.replace("  name: osh-dev\n", "  name: osh-dev\n  nme: osh-dev\n"),
    "label.yaml": MINIMAL.replace("  name: osh-dev\n", "  name: osh-dev\n  labels: {\"team!\": ops}\n"),
    "label-value.yaml": MINIMAL.replace("  name: osh-dev\n", "  name: osh-dev\n  labels: {team: " + "o" * 64 + "}\n"),
    "annotations.yaml": MINIMAL.replace("  name: osh-dev\n",
                                        "  name: osh-dev\n  annotations: {note: " + "a" * 262144 + "}\n"),
    "namespace.yaml": MINIMAL.replace("namespace: openstack", "namespace: Open_Stack"),
    "list-over-int.yaml": _values("    identity:\n      keystone:\n        values:\n          pod: {replicas: {api: [1, 2]}}\n"
                                  "    image:\n      glance:\n        values:\n          pod: {replicas: {api: {n: 1}}}\n"),
    "values-too-big.yaml": _values("    identity:\n      keystone:\n        values:\n          big: " + "x" * 1_040_000 + "\n"),
    "region-10mb.yaml": MINIMAL + "  region_name: " + "R" * 10_000_000 + "\n",
    "zero-osdpl.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: openstack}\n---\n"
                       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    "two-osdpl.yaml": MINIMAL + "---\n" + MINIMAL.replace("osh-dev", "osh-two"),
    "not-utf8.yaml": MINIMAL.encode().replace(b"cloud.example.com", b"cloud.\xff.com"),
    "nul.yaml": MINIMAL.replace("cloud.example.com", "cloud\x00.com"),
    "self-alias.yaml": "spec: &a [1, *a]\n",
    "alias-bomb.yaml": _alias_bomb(),
    "a-file": "",
}


@dataclass(frozen=True)
class Case:
    name: str  # what goes wrong, as the table shows it
    argv: tuple[str, ...]  # CLI arguments; {dir} is the folder of FILES
    names: str  # what the one line must contain (the field, object or cause)
    code: int = 1
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes | None = None
    how: str = "batch"  # batch | head (a reader that goes away) | full (stdout is /dev/full) | interrupt (Ctrl-C)
    lines: int = 1  # lines on stderr


CASES = [
    Case("duplicate key", ("validate", "-f", "{dir}/duplicate-key.yaml"),
         'duplicate-key.yaml:14:3: invalid YAML: key "features" already set in map (first at line 12)'),
    Case("YAML 1.1 bool keys true/yes", ("render", "-f", "{dir}/duplicate-bool-key.yaml"),
         'key "true" already set in map'),
    Case("null key", ("validate", "-f", "{dir}/null-key.yaml"), "unsupported map key: null"),
    Case(".nan value", ("validate", "-f", "{dir}/nan.yaml"), "cannot convert YAML to JSON: json: unsupported value"),
    Case("unknown root field", ("validate", "-f", "{dir}/root-field.yaml"), 'extra: unknown field "extra"'),
    Case("status in a manifest", ("validate", "-f", "{dir}/status.yaml"),
         "status: Forbidden: the operator writes the status"),
    Case("metadata.nme", ("validate", "-f", "{dir}/metadata-nme.yaml"),
         'metadata.nme: unknown field "metadata.nme"'),
    Case("label key", ("validate", "-f", "{dir}/label.yaml"),
         'metadata.labels: Invalid value: "team!": name part must consist of alphanumeric characters'),
    Case("label value > 63", ("validate", "-f", "{dir}/label-value.yaml"),
         "metadata.labels: Invalid value: \"ooo", lines=1),
    Case("annotations > 256 KiB", ("validate", "-f", "{dir}/annotations.yaml"),
         "metadata.annotations: Too long: may not be more than 262144 bytes"),
    Case("namespace not a DNS label", ("validate", "-f", "{dir}/namespace.yaml"),
         'metadata.namespace: Invalid value: "Open_Stack": a lowercase RFC 1123 label'),
    Case("list over int, and a mapping over int (validate)", ("validate", "-f", "{dir}/list-over-int.yaml"),
         "spec.services.identity.keystone.values.pod.replicas.api: cannot merge a list over an integer", lines=2),
    Case("list over int, and a mapping over int (render)", ("render", "-f", "{dir}/list-over-int.yaml"),
         "spec.services.image.glance.values.pod.replicas.api: cannot merge a mapping over an integer", lines=2),
    Case("values bigger than one Secret", ("validate", "-f", "{dir}/values-too-big.yaml"),
         "spec.services.identity: the rendered values take"),
    Case("10 MB region_name", ("validate", "-f", "{dir}/region-10mb.yaml"),
         "spec.region_name: Request entity too large: limit is 3145728"),
    Case("no osdpl among documents", ("validate", "-f", "{dir}/zero-osdpl.yaml"),
         "expected one OpenStackDeployment document, found 0 among 2 documents (kinds: Namespace, ConfigMap)"),
    Case("two osdpl", ("render", "-f", "{dir}/two-osdpl.yaml"),
         "expected one OpenStackDeployment document, found 2 (osh-dev, osh-two)"),
    Case("not UTF-8", ("validate", "-f", "{dir}/not-utf8.yaml"), "not-utf8.yaml:11:29: invalid YAML: not UTF-8"),
    Case("not UTF-8 on stdin", ("validate", "-f", "-"), "<stdin>:1:4: invalid YAML: not UTF-8",
         stdin=b"a: \xfe\n"),
    Case("a NUL character", ("validate", "-f", "{dir}/nul.yaml"),
         "nul.yaml:11:28: invalid YAML: unacceptable character #x0000"),
    Case("self-referencing alias", ("render", "-f", "{dir}/self-alias.yaml"), "refused: a recursive alias"),
    Case("alias bomb", ("images", "-f", "{dir}/alias-bomb.yaml"), "refused: YAML aliases expand to"),
    Case("missing file", ("validate", "-f", "{dir}/nowhere.yaml"), "nowhere.yaml: No such file or directory"),
    Case("--service a chart", ("render", "-f", "{dir}/ok.yaml", "--service", "keystone"),
         "--service: 'keystone' is a chart of service identity; use --service identity"),
    Case("--service misspelled", ("render", "-f", "{dir}/ok.yaml", "--service", "computee"),
         "--service: unknown service 'computee' (did you mean compute?); services:"),
    Case("--service not enabled", ("render", "-f", "{dir}/ok.yaml", "--service", "compute"),
         "--service: 'compute' is not enabled"),
    Case("-n not the manifest's", ("render", "-f", "{dir}/ok.yaml", "-n", "other"),
         'the namespace from the provided object "openstack" does not match the namespace "other"'),
    Case("-n not a DNS label", ("validate", "-f", "{dir}/no-namespace.yaml", "-n", "No_Good"),
         '--namespace: Invalid value: "No_Good"'),
    Case("a usage mistake", ("render",), "the following arguments are required: -f/--file", code=2),
    Case("render | head", ("render", "-f", "{dir}/ok.yaml"), "", code=141, how="head", lines=0),
    Case("render > /dev/full", ("render", "-f", "{dir}/ok.yaml"),
         "cannot write standard output: No space left on device", how="full"),
    Case("--output-dir a file", ("render", "-f", "{dir}/ok.yaml", "--output-dir", "{dir}/a-file"),
         "--output-dir {dir}/a-file: not a directory"),
    Case("--output-dir under a file", ("render", "-f", "{dir}/ok.yaml", "--output-dir", "{dir}/a-file/x"),
         "cannot create {dir}/a-file/x: Not a directory"),
    Case("validate --live, no kubeconfig", ("validate", "-f", "{dir}/ok.yaml", "--live"),
         "--live: no cluster to read: $KUBECONFIG {dir}/missing-kubeconfig does not exist", env=NO_CLUSTER),
    Case("validate --live, no API server", ("validate", "-f", "{dir}/ok.yaml", "--live"),
         "--live: cannot reach the API server https://127.0.0.1:1: Connection refused", env=UNREACHABLE),
    Case("diff, no kubeconfig", ("diff", "-f", "{dir}/ok.yaml"), "no cluster to read", code=2, env=NO_CLUSTER),
    Case("diff, no API server", ("diff", "-f", "{dir}/ok.yaml"),
         "cannot reach the API server https://127.0.0.1:1: Connection refused", code=2, env=UNREACHABLE),
    Case("Ctrl-C", ("validate", "-f", "-"), "error: interrupted", code=130, how="interrupt"),
]


def _blocked_reading(pid: int, timeout: float = 30) -> None:
    """Wait until the process waits on its stdin (loaded, parsed its arguments): Ctrl-C then is a user's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if "pipe_read" in Path(f"/proc/{pid}/wchan").read_text():
                return
        except OSError:
            pass
        time.sleep(0.05)


def _env(case: Case, folder: Path) -> dict[str, str]:
    return {k: v.replace("{dir}", str(folder)) for k, v in case.env.items()}


def _argv(case: Case, folder: Path) -> list[str]:
    return [arg.replace("{dir}", str(folder)) for arg in case.argv]


def _run(case: Case, folder: Path) -> tuple[int, str]:
    """One case as a plain subprocess."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **_env(case, folder)}
    command = [sys.executable, "-m", "openstack_operator", *_argv(case, folder)]
    if case.how == "full":
        with open("/dev/full", "wb") as full:
            done = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, input=case.stdin, env=env,
                                  timeout=120)
        return done.returncode, done.stderr.decode()
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env)
    assert process.stdout is not None and process.stderr is not None
    if case.how == "head":
        process.stdout.readline()
        process.stdout.close()  # as `head` does once it has its lines
    else:
        _blocked_reading(process.pid)
        process.send_signal(signal.SIGINT)
    process.wait(timeout=120)
    return process.returncode, process.stderr.read().decode()


def _batch(cases: list[Case], folder: Path) -> list[tuple[int, str]]:
    """The cases in one batch run of tests/unit/cli_batch.py."""
    specs: list[dict[str, Any]] = []
    for index, case in enumerate(cases):
        stdin = None
        if case.stdin is not None:
            stdin = str(folder / f"stdin-{index}")
            Path(stdin).write_bytes(case.stdin)
        specs.append({"argv": _argv(case, folder), "env": _env(case, folder), "stdin": stdin,
                      "stdout": str(folder / f"stdout-{index}"), "stderr": str(folder / f"stderr-{index}")})
    (folder / "cases.json").write_text(json.dumps(specs))
    subprocess.run([sys.executable, str(REPO / "tests" / "unit" / "cli_batch.py"), str(folder / "cases.json"),
                    str(folder / "codes.json")], env={**os.environ, "PYTHONPATH": str(REPO)}, check=True,
                   timeout=600)
    codes = json.loads((folder / "codes.json").read_text())
    return [(code, Path(spec["stderr"]).read_text(errors="replace")) for code, spec in zip(codes, specs)]


def _setup(folder: Path) -> None:
    for name, content in FILES.items():
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (folder / "kubeconfig").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "not-a-secret"}}]}))


def run_all(folder: Path, cases: list[Case] = CASES) -> dict[str, tuple[int, str]]:
    _setup(folder)
    alone = [case for case in cases if case.how != "batch"]
    batched = [case for case in cases if case.how == "batch"]
    with ThreadPoolExecutor(max_workers=len(alone) + 1) as pool:
        single = pool.map(lambda case: _run(case, folder), alone)
        results = dict(zip((case.name for case in batched), _batch(batched, folder)))
        results.update(zip((case.name for case in alone), single))
    return {case.name: results[case.name] for case in cases}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[int, str]]]:
    folder = tmp_path_factory.mktemp("bad-inputs")
    return folder, run_all(folder)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_one_line_no_traceback_non_zero_exit(case: Case, results: tuple[Path, dict[str, tuple[int, str]]]) -> None:
    folder, outcomes = results
    code, stderr = outcomes[case.name]
    print(f"\n{case.name}: exit {code}: {stderr.strip()[:300]}")
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert code == case.code, stderr
    assert len(stderr.splitlines()) == case.lines, stderr
    assert case.names.replace("{dir}", str(folder)) in stderr


def test_every_table_case_has_its_file() -> None:
    named = {arg.split("/")[-1] for case in CASES for arg in case.argv if arg.startswith("{dir}/")}
    assert named - {"nowhere.yaml", "x"} <= set(FILES)


if __name__ == "__main__":  # the table, as the docs and the closing note quote it
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for case, (code, stderr) in zip(CASES, run_all(Path(tmp)).values()):  # noqa: B905
            command = " ".join(["openstack-operator", *case.argv]).replace("{dir}/", "")
            extra = {"head": " | head -1", "full": " > /dev/full", "interrupt": "   (then Ctrl-C)"}.get(case.how, "")
            env = " ".join(f"{k}={Path(v).name}" for k, v in case.env.items())
            line = stderr.strip().replace(tmp + "/", "") or "(nothing)"
            print(json.dumps({"case": case.name, "command": f"{env + ' ' if env else ''}{command}{extra}",
                              "exit": code, "stderr": line[:400]}, ensure_ascii=False))
