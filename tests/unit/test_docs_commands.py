"""The user docs keep their promises: every command in a shell code block of README.md and docs/*.md (```sh,
```bash, ```shell, ```console) is run here or checked against what it names, every relative link resolves, and
the pictures (Mermaid) name only states and processes the code has.

- `openstack-operator ...`, `bin/openstack-operator ...`, `python -m openstack_operator ...`: parsed by the CLI's
  own parser (`build_parser`): the subcommand and every flag exist. The offline ones on the repo's examples
  (validate, render, images) are run, and must succeed.
- `python -m <module of this repo> ...` (devcluster, devcluster.charts, ...): parsed by that module's own parser.
- `make <target>`: a target of the Makefile.
- `kubectl ...`: every resource type it names is a built-in one or a kind of the CRDs (osdpl, hb, nmr, ...).
- every path into the repository (deploy/..., tools/..., charts/...) exists.
- any other program must be in KNOWN_PROGRAMS: a new kind of command needs a decision here, not silence.
Besides: the sample output of `kubectl get osdpl` has the CRD's printer columns, and the demo's LCM PROGRESS is the
minimal example's services (its HEALTH and object count: tests/conformance/test_docs_counts.py, with the real
charts); the sample mistake in quickstart.md prints what the page shows; every relative link and #anchor resolves;
troubleshooting.md has a row for each reason of core/status/reasons.py and no other; the labels, annotations and
Secret names the user pages give are the code's; each Mermaid stateDiagram names only states of the module it names
(`%% states: <module>`), the process pictures every process, the values-layers picture the renderer's order.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest
import yaml

from openstack_operator import cli
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.schema.crds import helmbundle_crd, maintenance_crd, osdpl_crd
from openstack_operator.core.schema.manifest import load_osdpl

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
# Top-level folders of the repository: a command argument starting with one of them is a path that must exist.
REPO_DIRS = ("deploy/", "examples/", "tools/", "charts/", "crds/", "docs/", "bin/", "devcluster/",
             "openstack_operator/", "tests/", "bench/")
# Programs the docs may name that this test does not check further (shell built-ins, well-known clients).
KNOWN_PROGRAMS = {"export", "cd", "less", "head", "jq", "curl", "openstack", "date", "echo", "for", "source",
                  "flux", "base64", "cat", "git", "pip", "mkdir", "ls", "grep", "tail", "wc", "chmod",
                  "skopeo"}
SHELL_WORDS = {"do", "then", "else", "time", "sudo"}  # words before the program on the same line
HELM_COMMANDS = {"install", "upgrade", "uninstall", "list", "ls", "status", "history", "template", "pull", "repo",
                 "get", "rollback", "lint", "show", "package", "test", "version"}
KUBECTL_VALUE_FLAGS = {"-n", "--namespace", "--kubeconfig", "-o", "--output", "-l", "--selector", "-f",
                       "--filename", "-p", "--patch", "--type", "--for", "--timeout", "-c", "--container",
                       "--context", "-k", "--kustomize", "--field-selector", "--tail", "--since", "--image",
                       "--restart", "--overrides", "--from-literal", "--from-file", "--cascade"}
# kubectl verbs whose first argument is a resource type (or type/name, or type,type)
KUBECTL_TYPED_VERBS = {"get", "describe", "delete", "wait", "patch", "annotate", "label", "edit", "explain",
                       "rollout", "scale", "create"}
KUBECTL_CREATE_TYPED = {"namespace", "ns", "secret", "configmap", "cm", "job", "serviceaccount", "sa"}
BUILTIN_TYPES = {
    "pods", "pod", "po", "deployments", "deployment", "deploy", "statefulsets", "statefulset", "sts",
    "daemonsets", "daemonset", "ds", "jobs", "job", "cronjobs", "cronjob", "cj", "secrets", "secret",
    "configmaps", "configmap", "cm", "services", "service", "svc", "nodes", "node", "no", "namespaces",
    "namespace", "ns", "events", "event", "ev", "leases", "lease", "persistentvolumeclaims", "pvc",
    "persistentvolumes", "pv", "storageclasses", "storageclass", "sc", "serviceaccounts", "sa", "roles", "role",
    "rolebindings", "rolebinding", "clusterroles", "clusterrole", "clusterrolebindings", "clusterrolebinding",
    "customresourcedefinitions", "customresourcedefinition", "crd", "crds", "validatingadmissionpolicies",
    "validatingadmissionpolicy", "validatingadmissionpolicybindings", "validatingadmissionpolicybinding", "all",
    # Gateway API (prepare-cluster.md: its CRDs are a prerequisite)
    "httproutes", "httproute", "gateways", "gateway", "gtw", "gatewayclasses", "gatewayclass", "gc",
    "referencegrants", "referencegrant",
}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence
    language: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Command:
    where: str  # file:line
    argv: tuple[str, ...]


def code_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    current: list[str] | None = None
    start, language = 0, ""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fence = re.match(r"^\s*```\s*([\w-]*)", line)
        if fence and current is None:
            current, start, language = [], number, fence.group(1)
        elif fence:
            blocks.append(Block(path, start, language, tuple(current or ())))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def _logical_lines(block: Block) -> Iterator[tuple[int, str]]:
    """(line number, command text): continuations joined, heredoc bodies and (in console blocks) output skipped."""
    pending, first, heredoc = "", 0, ""
    for offset, raw in enumerate(block.lines, 1):
        if heredoc:
            heredoc = "" if raw.strip() == heredoc else heredoc
            continue
        line = raw
        if not pending:
            if block.language == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            first = block.line + offset
        text = pending + line
        if text.endswith("\\"):
            pending = text[:-1] + " "
            continue
        pending = ""
        if (marker := re.search(r"<<-?\s*'?(\w+)'?", text)) is not None:
            heredoc = marker.group(1)
        # $(tools/build-binaries.sh | tail -1) is a command too; in the line it stands for its output
        yield first, re.sub(r"\$\(([^()]*)\)", "$SUBSTITUTED", text)
        for inner in re.findall(r"\$\(([^()]*)\)", text):
            yield first, inner


def _split(text: str) -> list[list[str]]:
    """Simple commands of a shell line: comments dropped, split at | && || ; and redirections removed."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    skip_next = False
    for token in lexer:
        if skip_next:
            skip_next = False
        elif token in {"|", "||", "&&", ";", "&", ";;"}:
            commands.append([])
        elif set(token) <= set("<>&"):  # a redirection: its target is no argument
            skip_next = True
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def doc_commands() -> list[Command]:
    found = []
    for path in DOCS:
        for block in code_blocks(path):
            if block.language not in SHELL_LANGUAGES:
                continue
            for number, text in _logical_lines(block):
                for argv in _split(text):
                    while argv and (argv[0] in SHELL_WORDS or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0])):
                        argv = argv[1:]  # `do ...`, `KUBECONFIG=... make integration`
                    if argv and argv[0] != "done":
                        found.append(Command(f"{path.relative_to(REPO)}:{number}", tuple(argv)))
    return found


COMMANDS = doc_commands()


# ---------------------------------------------------------------------------------------------------------------
# What a command names


def _repo_path_problems(argv: Sequence[str]) -> list[str]:
    problems = []
    for token in argv:
        for value in token.split("=", 1)[-1].split(":"):  # --flag=path, VAR=path, PATH=a:b
            if value.startswith(REPO_DIRS) and not any(c in value for c in "<>$"):
                if not list(REPO.glob(value.rstrip("/"))):
                    problems.append(f"{value}: no such file or folder in the repository")
    return problems


class _Parsed(Exception):
    """Raised instead of running a module's main once its parser accepted the arguments."""


def _parse_with_module(module: str, argv: Sequence[str]) -> str:
    """'' if `python -m module argv` parses with the module's own argparse parser, else argparse's message."""
    loaded = importlib.import_module(f"{module}.__main__" if _is_package(module) else module)
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None) -> Any:
        original(self, args, namespace)
        raise _Parsed

    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(stderr), \
            contextlib.redirect_stdout(io.StringIO()):
        patch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
        patch.setattr(sys, "argv", [module, *argv])
        try:
            loaded.main()
        except _Parsed:
            return ""
        except SystemExit as exit_:
            return "" if exit_.code == 0 else stderr.getvalue().strip().splitlines()[-1]
    return f"{module}: main() returned without parsing its arguments"


def _is_package(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


def _cli_problem(argv: Sequence[str]) -> str:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            cli.build_parser().parse_args(list(argv))
        except SystemExit as exit_:
            if exit_.code != 0:
                return stderr.getvalue().strip().splitlines()[-1]
    return ""


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_.-]+):(?!=)", (REPO / "Makefile").read_text(), re.M))


def crd_type_names() -> set[str]:
    names = set()
    for crd in (osdpl_crd(Catalog.load()), helmbundle_crd(), maintenance_crd()):
        spec = crd["spec"]["names"]
        names |= {spec["plural"], spec["singular"], spec["kind"].lower(), *spec["shortNames"]}
    return names


def _kubectl_positionals(argv: Sequence[str]) -> list[str]:
    positionals, skip = [], False
    for token in argv[1:]:
        if skip:
            skip = False
        elif token.startswith("-"):
            skip = token in KUBECTL_VALUE_FLAGS
        else:
            positionals.append(token)
    return positionals


def _kubectl_problems(argv: Sequence[str], types: set[str]) -> list[str]:
    positionals = _kubectl_positionals(argv)
    if len(positionals) < 2 or positionals[0] not in KUBECTL_TYPED_VERBS:
        return []
    verb, resource = positionals[0], positionals[1]
    if verb == "create" and resource not in KUBECTL_CREATE_TYPED:
        return []
    if verb == "rollout":
        resource = positionals[2] if len(positionals) > 2 else ""
    problems = []
    for item in resource.split(","):
        kind = item.split("/", 1)[0]
        kind = kind.split(".", 1)[0]  # explain osdpl.spec..., crd/x.group, openstackdeployments.openstack.osop.dev
        if "/" not in item and verb in ("delete", "wait", "annotate", "label", "patch", "edit") and \
                len(positionals) < 3 and kind not in types:
            continue  # `kubectl delete nmr cmp-0` has type then name; a lone word is a type
        if kind and kind not in types:
            problems.append(f"kubectl {verb}: no resource type {kind!r} (not built in, not a kind of crds/)")
    return problems


def check(command: Command, types: set[str], targets: set[str]) -> list[str]:
    """What is wrong with what `command` names ([] if nothing)."""
    argv = list(command.argv)
    program = argv[0]
    # kubectl's `deploy/<name>` is a resource, not a path: only its -f and -k name files
    problems = _repo_path_problems(argv if program != "kubectl" else
                                   [b for a, b in zip(argv, argv[1:]) if a in ("-f", "--filename", "-k", "--kustomize")])
    if program in ("openstack-operator", "bin/openstack-operator"):
        problems.append(_cli_problem(argv[1:]))
    elif re.match(r"^(.*/)?python3?$", program) and argv[1:2] == ["-m"]:
        module = argv[2]
        if module == "openstack_operator":
            problems.append(_cli_problem(argv[3:]))
        elif module.split(".")[0] in ("devcluster", "tools", "bench"):
            problems.append(_parse_with_module(module, argv[3:]))
        elif importlib.util.find_spec(module.split(".")[0]) is None:
            problems.append(f"python -m {module}: no such module")
    elif program == "make":
        problems += [f"make {t}: no such target in the Makefile" for t in argv[1:]
                     if not t.startswith("-") and "=" not in t and t not in targets]
    elif program == "kubectl":
        problems += _kubectl_problems(argv, types)
    elif program == "helm":
        verb = next((a for a, before in zip(argv[1:], argv) if not a.startswith("-")
                     and before not in ("-n", "--namespace", "--kubeconfig")), "")
        if verb not in HELM_COMMANDS:
            problems.append(f"helm {verb}: not a helm command")
    elif program.startswith(REPO_DIRS):
        pass  # the repo's scripts: their paths are checked above
    elif program not in KNOWN_PROGRAMS:
        problems.append(f"{program}: a program this test does not know; check it here or add it to KNOWN_PROGRAMS")
    return [p for p in problems if p]


@pytest.fixture(scope="module")
def types() -> set[str]:
    return BUILTIN_TYPES | crd_type_names()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.where)
def test_every_doc_command_names_what_exists(command: Command, types: set[str]) -> None:
    assert check(command, types, make_targets()) == [], " ".join(command.argv)


def test_the_docs_have_commands_to_check() -> None:
    programs = {c.argv[0] for c in COMMANDS}
    assert {"make", "kubectl", "bin/openstack-operator"} <= programs, programs
    assert len(COMMANDS) > 80


# ---------------------------------------------------------------------------------------------------------------
# The checker bites


@pytest.mark.parametrize("line, wrong", [
    ("bin/openstack-operator validate -f deploy/examples/minimal.yaml --strict", "unrecognized arguments"),
    ("bin/openstack-operator vaildate -f x.yaml", "invalid choice"),
    ("python -m openstack_operator render", "required"),
    ("python -m devcluster start", "invalid choice"),
    ("python -m devcluster.charts serve --host 0.0.0.0", "unrecognized arguments"),
    ("make deploy", "no such target"),
    ("kubectl -n openstack get osdpls2", "no resource type 'osdpls2'"),
    ("kubectl wait nmrs/cmp-0 --for=delete", "no resource type 'nmrs'"),
    ("kubectl apply -f deploy/examples/tiny.yaml", "no such file"),
    ("export PATH=tools/nothing/bin:$PATH", "no such file"),
    ("kustomize build deploy/kustomize", "a program this test does not know"),
    ("helm -n openstack lst", "not a helm command"),
])
def test_a_wrong_command_is_caught(line: str, wrong: str, types: set[str]) -> None:
    problems = [p for argv in _split(line) for p in check(Command("t", tuple(argv)), types, make_targets())]
    assert any(wrong in p for p in problems), problems


def test_commands_are_split_like_a_shell() -> None:
    block = Block(Path("x.md"), 1, "sh", (
        "kubectl -n openstack create -f - <<EOF", "kind: X", "EOF",
        "helm install x charts/openstack-operator \\", "  --set a=b   # a comment",
        "KUBECONFIG=k make unit && kubectl get osdpl | head",
    ))
    lines = list(_logical_lines(block))
    assert [t for _, t in lines][1] == "helm install x charts/openstack-operator    --set a=b   # a comment"
    assert _split(lines[2][1]) == [["KUBECONFIG=k", "make", "unit"], ["kubectl", "get", "osdpl"], ["head"]]
    assert _split(lines[0][1]) == [["kubectl", "-n", "openstack", "create", "-f", "-"]]
    substituted = Block(Path("x.md"), 1, "sh", ('export PATH="$(tools/build-binaries.sh | tail -1):$PATH"',))
    assert [_split(t) for _, t in _logical_lines(substituted)] == [
        [["export", "PATH=$SUBSTITUTED:$PATH"]], [["tools/build-binaries.sh"], ["tail", "-1"]]]
    console = Block(Path("x.md"), 1, "console", ("$ kubectl get osdpl", "NAME  READY", "osh   True"))
    assert [t for _, t in _logical_lines(console)] == ["kubectl get osdpl"]


# ---------------------------------------------------------------------------------------------------------------
# Commands run here: the offline CLI on the repo's examples

RUNNABLE = [c for c in COMMANDS if c.argv[0] in ("bin/openstack-operator", "openstack-operator")
            and len(c.argv) > 1 and c.argv[1] in ("validate", "render", "images")
            and all(not a.startswith(REPO_DIRS) or (REPO / a).is_file() or a.startswith("/") for a in c.argv[2:])
            and any(a.startswith("deploy/examples/") for a in c.argv)]


@pytest.mark.parametrize("command", RUNNABLE, ids=lambda c: c.where)
def test_offline_doc_commands_run(command: Command, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO)
    argv = [str(tmp_path / "out") if a.startswith("/tmp/") else a for a in command.argv[1:]]
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert capsys.readouterr().out or (tmp_path / "out").is_dir()


def test_some_doc_commands_run() -> None:
    assert {c.argv[1] for c in RUNNABLE} >= {"validate", "render"}


def test_the_quickstart_mistakes_print_what_it_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """quickstart.md shows `validate -f bad.yaml` with two mistakes; the same mistakes print the same lines."""
    block = next(b for b in code_blocks(REPO / "docs" / "quickstart.md")
                 if b.lines and b.lines[0].startswith("$ bin/openstack-operator validate -f bad.yaml"))
    shown = sorted(line for line in block.lines[1:] if line.strip())
    doc = yaml.safe_load((REPO / "deploy" / "examples" / "minimal.yaml").read_text())
    doc["spec"]["features"] = {"neutron": {"tunel_interface": "ens4"}}
    doc["spec"]["nodes"] = {"compute": {}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", "-f", "bad.yaml"]) == 1
    printed = capsys.readouterr()
    assert sorted(line for line in (printed.out + printed.err).splitlines() if line.strip()) == shown


# ---------------------------------------------------------------------------------------------------------------
# Links

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    anchors = set()
    for line in path.read_text().splitlines():
        if (heading := re.match(r"^#{1,6}\s+(.*)", line)) is not None:
            text = re.sub(r"[`*_]", "", heading.group(1)).strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def _outside_code(text: str) -> str:
    return re.sub(r"^\s*```.*?^\s*```", "", text, flags=re.S | re.M)


def link_problems(path: Path, text: str | None = None) -> list[str]:
    problems = []
    for target in LINK.findall(_outside_code(path.read_text() if text is None else text)):
        if re.match(r"^[a-z]+:", target):
            continue  # http:, https:, mailto:
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"{path.relative_to(REPO)}: link {target}: {file_part} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            problems.append(f"{path.relative_to(REPO)}: link {target}: no heading #{anchor} in {resolved.name}")
    return problems


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert link_problems(path) == []


def test_a_broken_link_is_caught() -> None:
    page = REPO / "docs" / "quickstart.md"
    text = ("[a](nothing.md) [b](quickstart.md#no-such-heading) [c](quickstart.md#1-check-and-render-a-manifest-no"
            "-cluster-needed) [d](https://example.com/x.md) [e](../README.md#documentation)\n")
    problems = link_problems(page, text)
    assert len(problems) == 2 and "nothing.md" in problems[0] and "no-such-heading" in problems[1], problems


# ---------------------------------------------------------------------------------------------------------------
# What `kubectl get osdpl` shows in the docs


def printer_header(wide: bool = False, all_namespaces: bool = False) -> list[str]:
    columns = osdpl_crd(Catalog.load())["spec"]["versions"][0]["additionalPrinterColumns"]
    names = ["NAME", *(c["name"].upper() for c in columns if wide or not c.get("priority"))]
    return (["NAMESPACE"] if all_namespaces else []) + names


def shown_osdpl_tables() -> list[tuple[str, str, list[str]]]:
    """(file:line, header line, row lines) of every `kubectl get osdpl` output shown in the docs."""
    tables = []
    for path in DOCS:
        for block in code_blocks(path):
            for index, line in enumerate(block.lines):
                if re.match(r"^(NAMESPACE\s+)?NAME\s+OPENSTACK\b", line):
                    rows = []
                    for row in block.lines[index + 1:]:
                        if not row.strip() or row.startswith(("$", "...")) or row.split()[0].isupper():
                            break
                        rows.append(row)
                    tables.append((f"{path.relative_to(REPO)}:{block.line + index + 1}", line, rows))
    return tables


def test_shown_osdpl_tables_have_the_crds_columns() -> None:
    tables = shown_osdpl_tables()
    assert len(tables) >= 2
    for where, header, _ in tables:
        words = header.split()
        expected = " ".join(printer_header(all_namespaces=words[0] == "NAMESPACE"))
        assert " ".join(words) == expected, where


def demo_claims() -> list[tuple[str, str, str]]:
    """(where, LCM PROGRESS, HEALTH) the docs claim `make demo` ends with (the minimal example, Ready)."""
    claims = []
    readme = (REPO / "README.md").read_text()
    for match in re.finditer(r"`LCM PROGRESS (\d+/\d+)`.*?`HEALTH (\d+/\d+)`", readme, re.S):
        claims.append(("README.md", match.group(1), match.group(2)))
    for where, header, rows in shown_osdpl_tables():
        if where.startswith("docs/quickstart.md"):
            columns = header.replace("LCM PROGRESS", "LCM_PROGRESS").split()
            for row in rows:
                values = dict(zip(columns, row.split()))
                claims.append((where, values["LCM_PROGRESS"], values["HEALTH"]))
    return claims


def test_the_demo_claims_match_the_minimal_example() -> None:
    """LCM PROGRESS counts services (core.status.conditions: deployed services / services with releases)."""
    catalog = Catalog.load()
    osdpl = load_osdpl(catalog, yaml.safe_load((REPO / "deploy" / "examples" / "minimal.yaml").read_text()))
    services = len(osdpl.spec.enabled_services(catalog))
    claims = demo_claims()
    assert {where.split(":")[0] for where, _, _ in claims} == {"README.md", "docs/quickstart.md"}
    assert {lcm for _, lcm, _ in claims} == {f"{services}/{services}"}, claims
    healths = {health for _, _, health in claims}
    assert len(healths) == 1, claims  # the number itself: tests/conformance/test_docs_counts.py
    ready, _, total = healths.pop().partition("/")
    assert ready == total


# ---------------------------------------------------------------------------------------------------------------
# Pictures: the names in each Mermaid diagram exist in the code it draws


def mermaid_blocks() -> list[Block]:
    return [b for path in DOCS for b in code_blocks(path) if b.language == "mermaid"]


def diagram_states(block: Block) -> set[str]:
    """The states of a stateDiagram: the words on either side of `-->`, without [*]."""
    states = set()
    for line in block.lines:
        if "-->" in line and not line.strip().startswith("%%"):
            left, right = line.split("-->", 1)
            for side in (left, right.split(":", 1)[0]):
                name = side.strip()
                if name and name != "[*]":
                    states.add(name)
    return states


def _module_strings(module: str) -> set[str]:
    loaded = importlib.import_module(module)
    return {value for value in vars(loaded).values() if isinstance(value, str)}


def test_every_state_diagram_names_states_of_its_module() -> None:
    """A stateDiagram says which module defines its states (`%% states: <module>`); each state is a string
    constant there (maintenance phases: core.nodes.maintenance; rollout phases: core.upgrades.rollout)."""
    checked = set()
    for block in mermaid_blocks():
        source = next((re.match(r"\s*%% states: ([\w.]+)", line) for line in block.lines
                       if re.match(r"\s*%% states: ", line)), None)
        if not any(line.strip().startswith("stateDiagram") for line in block.lines):
            continue
        assert source is not None, f"{block.path.name}:{block.line}: a stateDiagram without `%% states: <module>`"
        constants = _module_strings(source.group(1))
        states = diagram_states(block)
        assert states and states <= constants, (f"{block.path.name}:{block.line}", sorted(states - constants))
        checked.add(source.group(1))
    assert {"openstack_operator.core.nodes.maintenance", "openstack_operator.core.upgrades.rollout"} <= checked


def test_a_state_the_code_lacks_is_caught() -> None:
    block = Block(Path("x.md"), 1, "mermaid", ("stateDiagram-v2", "  %% states: x", "  [*] --> Waiting: created",
                                                "  Waiting --> Draining: a slot is free", "  Draining --> [*]"))
    assert diagram_states(block) == {"Waiting", "Draining"}
    assert diagram_states(block) - _module_strings("openstack_operator.core.nodes.maintenance") == {"Draining"}


def test_the_process_diagrams_name_the_processes_and_their_status_sections() -> None:
    from openstack_operator.core.models.osdpl_status import SECTIONS
    pictures = [b for b in mermaid_blocks() if b.path.name in ("development.md", "operations.md") and
                any("flowchart" in line for line in b.lines)]
    assert {b.path.name for b in pictures} == {"development.md", "operations.md"}
    for picture in pictures:
        nodes = set(re.findall(r"(?:^|--> |& )(\w+)(?= |$|\[|\(| &)", "\n".join(line.strip() for line in
                                                                             picture.lines), re.M))
        assert set(cli.PROCESSES) <= nodes, (picture.path.name, sorted(set(cli.PROCESSES) - nodes))
    block = next(b for b in pictures if b.path.name == "development.md")
    text = "\n".join(block.lines)
    drawn = set(re.findall(r"status\.(\w+)|\.(\w+)", text))
    names = {a or b for a, b in drawn}
    for keys in SECTIONS.values():
        assert set(keys) <= names, sorted(set(keys) - names)


LAYER_TOKENS = ("releases/", "base", "presets/", "sizes/", "features", "spec.common", "spec.services", "spec.nodes")


def _token_order(text: str) -> list[str]:
    return sorted(LAYER_TOKENS, key=lambda token: text.find(token) if token in text else len(text))


def test_the_values_layers_diagram_names_existing_templates_in_the_renderers_order() -> None:
    block = next(b for b in mermaid_blocks() if b.path.name == "resource.md")
    text = re.sub(r"#lt;[^#]*#gt;", "*", "\n".join(line for line in block.lines if not line.strip().startswith("%%")))
    paths = re.findall(r"templates/[\w/*.-]+", text)
    assert len(paths) >= 4
    for path in paths:
        assert list((REPO / "openstack_operator").glob(path)), path
    source = (REPO / "openstack_operator" / "core" / "rendering" / "renderer.py").read_text()
    layers = source[source.index("merge_layers(["):]
    layers = layers[:layers.index("return ")]
    assert all(token in text and token in layers for token in LAYER_TOKENS)
    assert _token_order(text) == _token_order(layers)


# ---------------------------------------------------------------------------------------------------------------
# troubleshooting.md: a row for every condition reason the code sets, and no reason the code does not have

PACKAGE = REPO / "openstack_operator"


def condition_reasons_in_code() -> set[str]:
    """The reasons the osdpl process puts on its conditions: the code's one table of them."""
    from openstack_operator.core.status.reasons import REASONS
    return set(REASONS)


def troubleshooting_reasons() -> set[str]:
    text = (REPO / "docs" / "troubleshooting.md").read_text()
    table = text[text.index("## By condition reason"):text.index("## A stuck upgrade")]
    return set(re.findall(r"^\| `(\w+)` \|", table, re.M))


def test_troubleshooting_has_a_row_for_every_condition_reason() -> None:
    in_code = condition_reasons_in_code()
    assert {"Deployed", "InvalidSpec", "NamespaceInUse", "Forbidden", "WaitingForCredentials", "UpgradeRefused",
            "UpgradeStuck", "ChartUnavailable", "CredentialsLost", "AsExpected"} <= in_code  # the scraping works
    assert sorted(in_code - troubleshooting_reasons()) == []


def test_troubleshooting_names_no_reason_the_code_lacks() -> None:
    assert sorted(troubleshooting_reasons() - condition_reasons_in_code()) == []


def test_new_pages_name_only_labels_and_annotations_the_code_has() -> None:
    """`openstack.osop.dev/<key>` and `<prefix>.openstack.osop.dev/<key>` in the user pages: <key> is in the code."""
    source = "\n".join(path.read_text() for path in PACKAGE.rglob("*.py"))
    for name in ("troubleshooting.md", "use-your-cloud.md", "prepare-cluster.md"):
        keys = set(re.findall(r"openstack\.osop\.dev/([a-z][\w-]*)", (REPO / "docs" / name).read_text()))
        assert sorted(k for k in keys if k not in source) == [], name


# Names the user pages give, and where the code (or the operator chart) says them.
NAMED = {
    "use-your-cloud.md": ["keystone-keystone-admin", "openstack-client", "OS_IDENTITY_API_VERSION"],
    "prepare-cluster.md": ["openstack-ceph-shared", "openstack-ceph-keys", "openstack-rgw-creds",
                           "pvc-ceph-client-key", "ceph-etc", "openstack-deployment", "local-storage"],
    "troubleshooting.md": ["openstack-deployment", "9090", "/healthz"],
}


def test_names_the_user_pages_give_are_the_codes() -> None:
    code = "\n".join(path.read_text() for path in [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.yaml*"),
                                                     *(REPO / "charts").rglob("*.yaml")])
    for page, names in NAMED.items():
        text = (REPO / "docs" / page).read_text()
        assert [n for n in names if n not in text] == [], page
        assert [n for n in names if n not in code] == [], page
    from openstack_operator.reconcilers.node import REQUEST_FINALIZER
    assert REQUEST_FINALIZER in (REPO / "docs" / "troubleshooting.md").read_text()


def test_prepare_cluster_node_labels_are_those_the_code_reads() -> None:
    from openstack_operator.core.nodes.inventory import LABEL_ROLES
    from openstack_operator.core.nodes.jobs import ADMIN_SECRET, job_manifest
    text = (REPO / "docs" / "prepare-cluster.md").read_text()
    rows = re.findall(r"^\| `([\w.-]+)=(\w+)` \|[^|]*\| (yes|no|through)", text, re.M)
    assert {(label, value) for label, value, read in rows if read == "yes"} == set(LABEL_ROLES)
    job = job_manifest(namespace="n", action="disable", node="x", uid="u", roles=[], instance_ha=False, image="i", script_text="",
                       owner={})
    assert set(job["spec"]["template"]["spec"]["nodeSelector"].items()) <= {(lb, v) for lb, v, _ in rows}
    assert ADMIN_SECRET in (REPO / "docs" / "use-your-cloud.md").read_text()
