"""Command line: offline tools (render, images, validate, crds), diff against a live cluster, and the operator
processes.

Every user error, and every input or output failure, ends as one line per problem on stderr and a non-zero exit
code, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.metadata
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from openstack_operator.cli_io import Output, namespace_of, output_dir, read_osdpl, source_name, write_file
from openstack_operator.core.catalog import Catalog
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.preflight import object_problems, preflight, render_problems
from openstack_operator.core.schema.crds import helmbundle_crd, maintenance_crd, osdpl_crd
from openstack_operator.core.schema.manifest import DEFAULT_NAMESPACE, InvalidManifest, Osdpl, load_osdpl
from openstack_operator.core.schema.upgrade_policy import upgrade_policy
from openstack_operator.core.rendering.renderer import image_tags
from openstack_operator.core.upgrades.guard import version_problem

OUT = Output()
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command ended by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as `cat` ends when the reader of its pipe is gone


def package_version() -> str:
    """The installed distribution's version; a source checkout run without installing has none."""
    try:
        return importlib.metadata.version("openstack-operator")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed: source checkout)"


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False, width=120)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _err(text: str) -> None:
    print(_one_line(text), file=sys.stderr)


def _manifest(args: argparse.Namespace) -> tuple[Any, str]:
    """The osdpl document of -f, with the namespace it is for; says on stderr when that namespace is assumed."""
    source = source_name(args.file)
    doc, namespace, assumed = namespace_of(read_osdpl(args.file), args.namespace, source)
    if assumed:
        _err(f"note: {source}: no metadata.namespace and no -n/--namespace: assuming namespace {DEFAULT_NAMESPACE}")
    return doc, namespace


def _loaded(catalog: Catalog, doc: Any, namespace: str) -> Osdpl:
    """The osdpl as the API server would store it (every problem of the object, or InvalidManifest)."""
    problems = object_problems(catalog, doc)
    if problems:
        raise InvalidManifest(problems)
    return load_osdpl(catalog, doc, namespace)


def _service_problem(catalog: Catalog, service: str, enabled: list[str]) -> str | None:
    """What is wrong with --service: a chart's name, a misspelling, or a service this manifest does not enable."""
    if service in enabled:
        return None
    if service in catalog.services:
        return f"--service: {service!r} is not enabled (enabled: {', '.join(enabled)})"
    if service in catalog.charts:
        owner = catalog.charts[service].service
        return f"--service: {service!r} is a chart of service {owner}; use --service {owner}"
    close = difflib.get_close_matches(service, list(catalog.services) + list(catalog.charts), n=1)
    hint = f" (did you mean {catalog.charts[close[0]].service if close[0] in catalog.charts else close[0]}?)" \
        if close else ""
    return f"--service: unknown service {service!r}{hint}; services: {', '.join(sorted(catalog.services))}"


def cmd_render(args: argparse.Namespace, catalog: Catalog) -> int:
    doc, namespace = _manifest(args)
    if args.service:
        problem = _service_problem(catalog, args.service,
                                   _loaded(catalog, doc, namespace).spec.enabled_services(catalog))
        if problem:
            raise OperatorError(problem)
    out_dir = output_dir(args.output_dir) if args.output_dir else None  # before the work: a wrong one fails fast
    checked = preflight(catalog, doc, namespace, only=args.service)
    if checked.problems:
        for problem in checked.problems:
            _err(f"error: {problem}")
        return 1
    for service in checked.services:
        for release in service.releases:
            header = {"service": service.name, "release": release.name, "chart": release.chart,
                      "version": release.version, "namespace": release.namespace,
                      "fingerprint": release.fingerprint}
            if out_dir:
                write_file(out_dir / f"{release.name}.yaml", _dump(dict(release.values)))
                OUT.write(" ".join(f"{k}={v}" for k, v in header.items()) + "\n")
            else:
                OUT.write("---\n" + _dump({**header, "values": dict(release.values)}))
    return 0


def cmd_images(args: argparse.Namespace, catalog: Catalog) -> int:
    """Every image the manifest's releases use, as `<upstream> <where the deployment pulls it>`: the list to
    mirror for an air-gapped registry (e.g. with skopeo copy)."""
    osdpl = _loaded(catalog, *_manifest(args))
    release = catalog.releases[osdpl.spec.openstack_version]
    pairs: set[tuple[str, str]] = set()
    for service in osdpl.spec.enabled_services(catalog):
        for chart in catalog.services[service].charts_for(osdpl.spec.features):
            upstream = image_tags(release, chart.name, "")
            mirrored = image_tags(release, chart.name, osdpl.spec.images_base_url)
            pairs |= {(upstream[key], mirrored[key]) for key in upstream}
    for source, pulled in sorted(pairs):
        OUT.write(f"{source} {pulled}\n")
    return 0


def cmd_validate(args: argparse.Namespace, catalog: Catalog) -> int:
    """Everything the API server and the osdpl process would refuse, every problem (core.preflight)."""
    source = source_name(args.file)
    old = read_osdpl(args.old) if args.old else None
    doc, namespace = _manifest(args)
    problems = preflight(catalog, doc, namespace, old).problems
    if args.deployed and args.deployed not in catalog.releases:
        problems.append(f"--deployed: {args.deployed!r} is not a release ({', '.join(catalog.releases)})")
    if not problems and (args.deployed or args.live):
        status = {"openstack_version": args.deployed} if args.deployed else _live_status(doc, namespace)
        held = version_problem(catalog, doc["spec"]["openstack_version"], status)
        problems += [held[1]] if held else []
    for problem in problems:
        _err(f"{source}: {problem}")
    if problems:
        return 1
    OUT.write(f"{source}: valid\n")
    return 0


def _live_status(doc: Mapping[str, Any], namespace: str) -> Mapping[str, Any]:
    """The status of the live osdpl the manifest describes ($KUBECONFIG); empty if there is none yet."""
    from openstack_operator.kube.client import OpenStackDeployment
    from openstack_operator.kube.objects import get_or_none
    from openstack_operator.kube.reach import cluster_problem, config_problem

    problem = config_problem()
    if problem:
        raise OperatorError(f"--live: {problem}")
    try:
        found = get_or_none(OpenStackDeployment, namespace, doc["metadata"]["name"])
    except Exception as exc:  # noqa: BLE001 - an unreachable cluster, a missing permission: one line
        raise OperatorError(f"--live: {cluster_problem(exc)}") from None
    return (found.obj.get("status") or {}) if found is not None else {}


def cmd_crds(args: argparse.Namespace, catalog: Catalog) -> int:
    policy, binding = upgrade_policy(catalog)
    crds = {"openstackdeployments.yaml": osdpl_crd(catalog), "helmbundles.yaml": helmbundle_crd(),
            "nodemaintenancerequests.yaml": maintenance_crd(),
            # not CRDs, but installed and kept with them: the upgrade rule that needs the status
            "openstackdeployments-upgrade-policy.yaml": policy,
            "openstackdeployments-upgrade-policy-binding.yaml": binding}
    out_dir = output_dir(args.output_dir) if args.output_dir else None
    for name, crd in crds.items():
        text = "# Generated by `openstack-operator crds` from openstack_operator/templates/catalog.yaml; do not edit.\n" + _dump(crd)
        if out_dir:
            write_file(out_dir / name, text)
        else:
            OUT.write("---\n" + text)
    return 0


def cmd_diff(args: argparse.Namespace, catalog: Catalog) -> int:
    """What applying the manifest would change in the live cluster: per release install, upgrade (with the values
    that change, secrets masked), unchanged or uninstall. Exit 0: nothing would change; 1: something would; 2: an
    error (as `kubectl diff`)."""
    from openstack_operator.core.rendering.values_diff import describe
    from openstack_operator.kube.diff import UNCHANGED, live_diff
    from openstack_operator.kube.reach import cluster_problem, config_problem

    try:
        osdpl = _loaded(catalog, *_manifest(args))
        unreachable = config_problem()
        if unreachable:
            raise OperatorError(unreachable)
        diffs, secrets = live_diff(catalog, osdpl)
    except InvalidManifest as exc:
        for problem in exc.problems:
            _err(f"error: {problem}")
        return 2
    except OperatorError as exc:  # a render that fails (every problem: core.preflight), no cluster to read
        for line in render_problems(exc):
            _err(f"error: {line}")
        return 2
    except Exception as exc:  # noqa: BLE001 - an unreachable cluster, a missing permission: one line, exit 2
        _err(f"error: {cluster_problem(exc)}")
        return 2
    for diff in diffs:
        OUT.write(f"{diff.release} ({diff.service}): {diff.action}\n")
        for change in diff.changes:
            OUT.write(f"  {describe(change, secrets)}\n")
    return 0 if all(diff.action == UNCHANGED for diff in diffs) else 1


PROCESSES = ("osdpl", "helmbundle", "health", "secrets", "node")


def cmd_process(args: argparse.Namespace, catalog: Catalog) -> int:
    """Run one operator process until it is stopped (SIGTERM/SIGINT)."""
    from openstack_operator.kube.process import run

    run(args.command, catalog)
    return 0


def _manifest_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("-f", "--file", required=True,
                         help="manifest ('-' for stdin): one OpenStackDeployment, alone or among other documents "
                              "(kustomize output: they are skipped)")
    command.add_argument("-n", "--namespace",
                         help=f"the namespace, when the manifest has no metadata.namespace (default: "
                              f"{DEFAULT_NAMESPACE}, said on stderr); must agree with it when it has one")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        """A usage mistake in one line, as every other error (argparse prints the usage, then the message)."""
        _err(f"error: {self.prog}: {message} (see {self.prog} --help)")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="openstack-operator", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument("--templates-dir", type=Path, help="values templates (default: the bundled ones)")
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="print the final values of every release, without a cluster")
    _manifest_arguments(render)
    render.add_argument("--service", help="only this service (e.g. identity, compute)")
    render.add_argument("--output-dir", help="write one <release>.yaml of values per release here (created with "
                                             "its parents)")
    render.set_defaults(func=cmd_render)
    images = commands.add_parser("images", help="list every image of the manifest's releases: upstream, then "
                                                "where the deployment pulls it (artifacts.images_base_url)")
    _manifest_arguments(images)
    images.set_defaults(func=cmd_images)
    check = commands.add_parser("validate", help="check a manifest as the API server and the operator would: "
                                                 "schema and rules, merge, render, sizes; offline")
    _manifest_arguments(check)
    check.add_argument("--old", help="the manifest before this change, to check its transition rules")
    deployed = check.add_mutually_exclusive_group()
    deployed.add_argument("--deployed", metavar="RELEASE",
                          help="the OpenStack release deployed now: may the manifest's release follow it?")
    deployed.add_argument("--live", action="store_true",
                          help="as --deployed, with the release the live osdpl runs ($KUBECONFIG)")
    check.set_defaults(func=cmd_validate)
    diff = commands.add_parser("diff", help="what applying the manifest would change in the live cluster "
                                            "($KUBECONFIG): exit 0 none, 1 some, 2 error")
    _manifest_arguments(diff)
    diff.set_defaults(func=cmd_diff)
    crds = commands.add_parser("crds", help="print (or write) the CustomResourceDefinitions")
    crds.add_argument("--output-dir", help="write the CRD files here (created with its parents)")
    crds.set_defaults(func=cmd_crds)
    for process in PROCESSES:
        operator = commands.add_parser(process, help=f"run the {process} operator process (needs a cluster)")
        operator.set_defaults(func=cmd_process)
    return parser


def _silence_stdout() -> None:
    """Point stdout at /dev/null: the interpreter flushes it again at exit, which would print 'Exception ignored'
    for a pipe already closed or a disk still full."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file (a test's capture): nothing is flushed at exit
        pass


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        code: int
        if args.func is cmd_process:  # a process logs its own failures, and stops on SIGTERM/SIGINT itself
            catalog = Catalog.load(args.templates_dir) if args.templates_dir else Catalog.load()
            code = cmd_process(args, catalog)
        else:
            code = _run(args)
        return code
    except KeyboardInterrupt:
        _err("error: interrupted")
        _silence_stdout()
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader is gone (`| head`): nothing to tell anyone
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _run(args: argparse.Namespace) -> int:
    try:
        catalog = Catalog.load(args.templates_dir) if args.templates_dir else Catalog.load()
        result: int = args.func(args, catalog)
        OUT.flush()
        return result
    except InvalidManifest as exc:
        for problem in exc.problems:
            _err(f"error: {problem}")
    except OperatorError as exc:
        _err(f"error: {exc}")
    except RecursionError:
        _err("error: the input nests too deeply to be handled (a bug: the limits of core/schema/limits.py should "
             "have refused it; please report it)")
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - a bug; still one line, naming it, never a traceback
        _err(f"error: internal error: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]} (a bug: "
             "please report it with the command)")
    try:
        sys.stdout.flush()
    except OSError:  # the failure was standard output's own
        _silence_stdout()
    return 1
