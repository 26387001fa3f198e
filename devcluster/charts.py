"""The OpenStack-Helm chart set the catalog pins, as a Helm chart repository on loopback, for tests and the demo.

Where the archives come from:
- `../shared/openstack-helm/charts` next to this checkout, when present (a repository layout with its own
  index.yaml): served as it is, once every pinned chart's archive is checked against the catalog's digest;
- otherwise the pinned version of each catalog chart, fetched once with `helm pull` from the catalog's
  chart_set.repository into the per-user cache (`<cache>/chart-repository/<version>/`), checked the same way, and
  indexed with `helm repo index`.

    python -m devcluster.charts prepare                 check or fetch; print the directory
    python -m devcluster.charts serve [--port N] [--directory D]
                                                        serve until stopped (the demo runs this with the cluster)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any, Iterator

from devcluster.binaries import REPO, helm_binary
from devcluster.processes import free_port
from openstack_operator.core.catalog import Catalog

SHARED_CHARTS = REPO.parent / "shared" / "openstack-helm" / "charts"


class ChartSetError(Exception):
    pass


def cache_root() -> Path:
    """The per-user cache every clone shares (tools/cache-dir.sh)."""
    result = subprocess.run([str(REPO / "tools" / "cache-dir.sh")], check=True, stdout=subprocess.PIPE, text=True)
    return Path(result.stdout.strip())


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def problems(directory: Path, catalog: Catalog) -> list[str]:
    """What keeps `directory` from serving the pinned chart set: archives missing or not at the catalog's digest."""
    found = []
    for chart in catalog.charts.values():
        archive = directory / f"{chart.name}-{chart.version}.tgz"
        if not archive.is_file():
            found.append(f"{archive.name}: missing")
        elif (actual := _sha256(archive)) != chart.digest:
            found.append(f"{archive.name}: {actual}, the catalog pins {chart.digest}")
    if not (directory / "index.yaml").is_file():
        found.append("index.yaml: missing")
    return found


def chart_directory(catalog: Catalog | None = None, helm: Path | None = None) -> Path:
    """A directory laid out as a chart repository holding every pinned chart at its digest."""
    catalog = catalog or Catalog.load()
    if SHARED_CHARTS.is_dir():
        found = problems(SHARED_CHARTS, catalog)
        if found:
            raise ChartSetError(f"{SHARED_CHARTS} does not hold the chart set the catalog pins: {'; '.join(found)}")
        return SHARED_CHARTS
    directory = cache_root() / "chart-repository" / catalog.chart_set.version
    return mirror(catalog, directory, helm or helm_binary())


def mirror(catalog: Catalog, directory: Path, helm: Path) -> Path:
    """Fetch each pinned chart that `directory` lacks (or holds at another digest) from chart_set.repository,
    verify it, move it in whole, and index the directory. A later call with everything in place fetches nothing."""
    directory.mkdir(parents=True, exist_ok=True)
    fetched = False
    for chart in catalog.charts.values():
        target = directory / f"{chart.name}-{chart.version}.tgz"
        if target.is_file() and _sha256(target) == chart.digest:
            continue
        with tempfile.TemporaryDirectory(dir=directory, prefix=".pull-") as scratch:
            result = subprocess.run([str(helm), "pull", chart.name, "--repo", catalog.chart_set.repository,
                                     "--version", chart.version, "--destination", scratch],
                                    capture_output=True, text=True, timeout=300)
            if result.returncode != 0:
                raise ChartSetError(f"helm pull {chart.name} {chart.version} from {catalog.chart_set.repository}: "
                                    f"{result.stderr.strip()}")
            pulled = Path(scratch) / target.name
            actual = _sha256(pulled) if pulled.is_file() else f"no {target.name}"
            if actual != chart.digest:
                raise ChartSetError(f"{chart.name} {chart.version} from {catalog.chart_set.repository}: {actual}, "
                                    f"the catalog pins {chart.digest}")
            os.replace(pulled, target)
        fetched = True
    if fetched or not (directory / "index.yaml").is_file():
        _index(directory, helm)
    return directory


def _index(directory: Path, helm: Path) -> None:
    """`helm repo index` in a scratch copy, then index.yaml moved in whole: a server reading it never sees half."""
    with tempfile.TemporaryDirectory(dir=directory, prefix=".index-") as scratch:
        for archive in directory.glob("*.tgz"):
            os.link(archive, Path(scratch) / archive.name)
        subprocess.run([str(helm), "repo", "index", scratch], check=True, capture_output=True, timeout=120)
        os.replace(Path(scratch) / "index.yaml", directory / "index.yaml")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Files of one directory; one log line per request only for failures."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"chart repository: {format % args}\n")


def _server(directory: Path, port: int, address: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    handler = partial(_QuietHandler, directory=str(directory))
    return http.server.ThreadingHTTPServer((address, port), handler)


@contextlib.contextmanager
def serving(directory: Path, port: int = 0) -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1 from a background thread; yields the repository URL."""
    server = _server(directory, port)
    thread = threading.Thread(target=server.serve_forever, name="chart-repository", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def chart_repository(catalog: Catalog | None = None) -> Iterator[str]:
    """The pinned chart set (chart_directory) served on a free loopback port for as long as the block runs."""
    with serving(chart_directory(catalog)) as url:
        yield url


def wait_until_serving(url: str, timeout: float = 30.0) -> None:
    """Until `url`/index.yaml answers (a repository started as a separate process)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/index.yaml", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise ChartSetError(f"the chart repository at {url} does not answer")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(prog="devcluster.charts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare", help="check or fetch the chart set; print its directory")
    serve = commands.add_parser("serve", help="serve the chart set on 127.0.0.1 until stopped")
    serve.add_argument("--port", type=int, default=0, help="default: a free port")
    serve.add_argument("--address", default="127.0.0.1",
                       help="where to listen (the real node's IP, for operators running as its pods)")
    serve.add_argument("--directory", type=Path, help="a prepared directory (default: prepare one)")
    args = parser.parse_args()
    try:
        directory = args.directory if args.command == "serve" and args.directory else chart_directory()
    except (ChartSetError, subprocess.SubprocessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.command == "prepare":
        print(directory)
        return 0
    server = _server(directory, args.port or free_port(), args.address)
    print(f"serving {directory} at http://{args.address}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
