"""Command line: offline tools (render, images, validate, crds), diff against a live cluster, and the operator
processes.

Every user error ends as one line per problem on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.secrets.ceph import placeholder_exchange
from openstack_operator.core.secrets.credentials import placeholder_credentials, required_credentials
from openstack_operator.core.schema.crds import helmbundle_crd, maintenance_crd, osdpl_crd
from openstack_operator.core.schema.upgrade_policy import upgrade_policy
from openstack_operator.core.errors import OperatorError
from openstack_operator.core.schema.manifest import InvalidManifest, load_osdpl, osdpl_problems, parse_documents
from openstack_operator.core.rendering.renderer import Renderer, image_tags
from openstack_operator.core.upgrades.guard import version_problem


def package_version() -> str:
    """The installed distribution's version; a source checkout run without installing has none."""
    try:
        return importlib.metadata.version("openstack-operator")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed: source checkout)"


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False, width=120)


def _read_single(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise OperatorError(f"{path}: {exc.strerror}") from None
    documents = parse_documents(text, path)
    if len(documents) != 1:
        raise OperatorError(f"{path}: expected one OpenStackDeployment document, found {len(documents)}")
    return documents[0]


def cmd_render(args: argparse.Namespace, catalog: Catalog) -> int:
    osdpl = load_osdpl(catalog, _read_single(args.file))
    enabled = osdpl.spec.enabled_services(catalog)
    if args.service and args.service not in enabled:
        raise OperatorError(f"--service: {args.service!r} is not enabled (enabled: {', '.join(enabled)})")
    # Offline there are no Secrets: placeholders show where each credential goes without inventing any.
    credentials = placeholder_credentials(catalog, required_credentials(catalog, enabled))
    # Nor the storage side's Ceph keys: a placeholder exchange, for features.ceph.
    services = Renderer(catalog).render(osdpl.spec, credentials, osdpl.namespace,
                                        only={args.service} if args.service else None,
                                        ceph=placeholder_exchange())
    out_dir = Path(args.output_dir) if args.output_dir else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    for service in services:
        for release in service.releases:
            header = {"service": service.name, "release": release.name, "chart": release.chart,
                      "version": release.version, "namespace": release.namespace,
                      "fingerprint": release.fingerprint}
            if out_dir:
                (out_dir / f"{release.name}.yaml").write_text(_dump(dict(release.values)))
                print(" ".join(f"{k}={v}" for k, v in header.items()))
            else:
                sys.stdout.write("---\n" + _dump({**header, "values": dict(release.values)}))
    return 0


def cmd_images(args: argparse.Namespace, catalog: Catalog) -> int:
    """Every image the manifest's releases use, as `<upstream> <where the deployment pulls it>`: the list to
    mirror for an air-gapped registry (e.g. with skopeo copy)."""
    osdpl = load_osdpl(catalog, _read_single(args.file))
    release = catalog.releases[osdpl.spec.openstack_version]
    pairs: set[tuple[str, str]] = set()
    for service in osdpl.spec.enabled_services(catalog):
        for chart in catalog.services[service].charts:
            upstream = image_tags(release, chart.name, "")
            mirrored = image_tags(release, chart.name, osdpl.spec.images_base_url)
            pairs |= {(upstream[key], mirrored[key]) for key in upstream}
    for source, pulled in sorted(pairs):
        print(f"{source} {pulled}")
    return 0


def cmd_validate(args: argparse.Namespace, catalog: Catalog) -> int:
    old = _read_single(args.old) if args.old else None
    doc = _read_single(args.file)
    problems: list[Any] = list(osdpl_problems(catalog, doc, old))
    if args.deployed and args.deployed not in catalog.releases:
        problems.append(f"--deployed: {args.deployed!r} is not a release ({', '.join(catalog.releases)})")
    if not problems and (args.deployed or args.live):
        status = {"openstack_version": args.deployed} if args.deployed else _live_status(doc)
        held = version_problem(catalog, doc["spec"]["openstack_version"], status)
        problems += [held[1]] if held else []
    for problem in problems:
        print(f"{args.file}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{args.file}: valid")
    return 0


def _live_status(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The status of the live osdpl the manifest describes ($KUBECONFIG); empty if there is none yet."""
    from openstack_operator.kube.client import OpenStackDeployment
    from openstack_operator.kube.objects import get_or_none

    found = get_or_none(OpenStackDeployment, doc["metadata"].get("namespace") or "openstack", doc["metadata"]["name"])
    return (found.obj.get("status") or {}) if found is not None else {}


def cmd_crds(args: argparse.Namespace, catalog: Catalog) -> int:
    policy, binding = upgrade_policy(catalog)
    crds = {"openstackdeployments.yaml": osdpl_crd(catalog), "helmbundles.yaml": helmbundle_crd(),
            "nodemaintenancerequests.yaml": maintenance_crd(),
            # not CRDs, but installed and kept with them: the upgrade rule that needs the status
            "openstackdeployments-upgrade-policy.yaml": policy,
            "openstackdeployments-upgrade-policy-binding.yaml": binding}
    for name, crd in crds.items():
        text = "# Generated by `openstack-operator crds` from openstack_operator/templates/catalog.yaml; do not edit.\n" + _dump(crd)
        if args.output_dir:
            Path(args.output_dir, name).write_text(text)
        else:
            sys.stdout.write("---\n" + text)
    return 0


def cmd_diff(args: argparse.Namespace, catalog: Catalog) -> int:
    """What applying the manifest would change in the live cluster: per release install, upgrade (with the values
    that change, secrets masked), unchanged or uninstall. Exit 0: nothing would change; 1: something would; 2: an
    error (as `kubectl diff`)."""
    from openstack_operator.core.rendering.values_diff import describe
    from openstack_operator.kube.diff import UNCHANGED, live_diff

    try:
        osdpl = load_osdpl(catalog, _read_single(args.file))
        diffs, secrets = live_diff(catalog, osdpl)
    except InvalidManifest as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - an unreachable cluster, a missing permission: one line, exit 2
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    for diff in diffs:
        print(f"{diff.release} ({diff.service}): {diff.action}")
        for change in diff.changes:
            print(f"  {describe(change, secrets)}")
    return 0 if all(diff.action == UNCHANGED for diff in diffs) else 1


PROCESSES = ("osdpl", "helmbundle", "health", "secrets", "node")


def cmd_process(args: argparse.Namespace, catalog: Catalog) -> int:
    """Run one operator process until it is stopped (SIGTERM/SIGINT)."""
    from openstack_operator.kube.process import run

    run(args.command, catalog)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openstack-operator", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument("--templates-dir", type=Path, help="values templates (default: the bundled ones)")
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="print the final values of every release, without a cluster")
    render.add_argument("-f", "--file", required=True, help="OpenStackDeployment manifest ('-' for stdin)")
    render.add_argument("--service", help="only this service")
    render.add_argument("--output-dir", help="write one <release>.yaml of values per release here")
    render.set_defaults(func=cmd_render)
    images = commands.add_parser("images", help="list every image of the manifest's releases: upstream, then "
                                                "where the deployment pulls it (artifacts.images_base_url)")
    images.add_argument("-f", "--file", required=True, help="OpenStackDeployment manifest ('-' for stdin)")
    images.set_defaults(func=cmd_images)
    check = commands.add_parser("validate", help="check a manifest against the CRD schema and rules, offline")
    check.add_argument("-f", "--file", required=True, help="OpenStackDeployment manifest ('-' for stdin)")
    check.add_argument("--old", help="the manifest before this change, to check its transition rules")
    deployed = check.add_mutually_exclusive_group()
    deployed.add_argument("--deployed", metavar="RELEASE",
                          help="the OpenStack release deployed now: may the manifest's release follow it?")
    deployed.add_argument("--live", action="store_true",
                          help="as --deployed, with the release the live osdpl runs ($KUBECONFIG)")
    check.set_defaults(func=cmd_validate)
    diff = commands.add_parser("diff", help="what applying the manifest would change in the live cluster "
                                            "($KUBECONFIG): exit 0 none, 1 some, 2 error")
    diff.add_argument("-f", "--file", required=True, help="OpenStackDeployment manifest ('-' for stdin)")
    diff.set_defaults(func=cmd_diff)
    crds = commands.add_parser("crds", help="print (or write) the CustomResourceDefinitions")
    crds.add_argument("--output-dir", help="write the CRD files here")
    crds.set_defaults(func=cmd_crds)
    for process in PROCESSES:
        operator = commands.add_parser(process, help=f"run the {process} operator process (needs a cluster)")
        operator.set_defaults(func=cmd_process)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        catalog = Catalog.load(args.templates_dir) if args.templates_dir else Catalog.load()
        result: int = args.func(args, catalog)
        return result
    except InvalidManifest as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except OperatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
