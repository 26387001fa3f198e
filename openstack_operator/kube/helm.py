"""Helm releases through pyhelm3 and the real helm binary, and the charts they are installed from.

Values go to Helm on stdin (pyhelm3 does that), never on the command line. Each release's Helm description
carries the fingerprint it was installed with, so after a restart the operator can tell that a release is already
at the wanted values and skip a duplicate upgrade (a new revision for nothing).

Charts are always installed from a local path: an archive fetched once into the chart cache (`helm pull` from a
chart repository, or copied from a local directory) and checked against the digest the bundle pins, or, without a
digest, a local source's own archive or unpacked chart directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

import pyhelm3.command
import pyhelm3.models
import yaml
from pyhelm3 import Client, Command
from pyhelm3.errors import Error as PyHelmError
from pyhelm3.errors import ReleaseNotFoundError
from pyhelm3.models import Chart, ReleaseRevision, ReleaseRevisionStatus

from openstack_operator.core.isolation import charts_url_problem, values_problems
from openstack_operator.core.releases.helmwork import long_running_workloads
from openstack_operator.core.settings import Settings

FINGERPRINT_PREFIX = "osop fingerprint "


class _FastHelmLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """pyhelm3's loader (a plain `=` is a string, not YAML's value tag) on LibYAML's parser. pyhelm3 reads every
    release's manifest and hooks from Helm's output with PyYAML's Python parser: a third of the helmbundle process's
    CPU, and the C parser reads the same documents four times faster."""


_FastHelmLoader.add_constructor("tag:yaml.org,2002:value", pyhelm3.command.SafeLoader.construct_value)
pyhelm3.command.SafeLoader = pyhelm3.models.SafeLoader = _FastHelmLoader


class HelmError(Exception):
    """A Helm command failed; the message is Helm's own (callers redact it before showing it)."""


@dataclass(frozen=True)
class Installed:
    revision: int
    chart_version: str
    skipped: bool  # the release already ran these values: no Helm upgrade was made
    workloads: tuple[str, ...] = ()  # core.releases.helmwork.long_running_workloads of the release's manifest


class ValuesRefused(HelmError):
    """A release's values would make Helm reach outside the release namespace (core.isolation): Helm did not run.
    The message names each field, never a value."""


class ChartUnavailable(HelmError):
    """A release's chart could not be had: its source is unreachable or lacks that chart version, or the archive is
    not the one the bundle pins (digest mismatch). Helm did not run. The message names the chart, its version and
    the source (without credentials), so that it can go to the osdpl status as it is."""


DIGEST_PATTERN = re.compile(r"^sha256:([0-9a-f]{64})$")
PULL_TIMEOUT_SECONDS = 300.0  # one `helm pull`: the repository's index and one archive
HELM_STOP_SECONDS = 30.0  # a stopped `helm` records the release as failed; past this it is killed


def display_location(location: str) -> str:
    """A chart source as messages show it: a URL loses its user:password and its query (where tokens go)."""
    parts = urlsplit(location)
    if not parts.scheme or not parts.netloc:
        return location
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _scrub(text: str, location: str) -> str:
    """Helm's message about `location` with the location as display_location shows it, and no URL credentials."""
    shown = display_location(location)
    if shown != location:
        text = text.replace(location.rstrip("/"), shown.rstrip("/"))
    return re.sub(r"(\w+://)[^/@\s\"']+@", r"\1", text)


class ChartSource:
    """Where charts come from: a Helm chart repository (an http or https URL holding index.yaml), or a local
    directory laid out as a repository (`<chart>-<version>.tgz`) or holding unpacked charts (`<chart>/Chart.yaml`)."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.local = "://" not in location
        if self.local and not Path(location).is_dir():
            raise ChartUnavailable(f"chart source {location!r} is neither a directory nor a repository URL")
        if not self.local and urlsplit(location).scheme not in ("http", "https"):
            raise ChartUnavailable(f"chart source {display_location(location)}: only http and https chart "
                                   "repositories and local directories are supported")

    def __str__(self) -> str:
        return display_location(self.location)

    def local_chart(self, name: str, version: str) -> tuple[Path, bool]:
        """A local source's chart: (path, is_archive). The repository layout's archive wins over an unpacked
        directory of the same chart."""
        directory = Path(self.location)
        archive = directory / f"{name}-{version}.tgz"
        if version and archive.is_file():
            return archive, True
        unpacked = directory / name
        if (unpacked / "Chart.yaml").is_file():
            metadata = _read_chart_yaml(unpacked)
            if version and str(metadata.get("version")) != version:
                raise ChartUnavailable(f"chart {name} {version} from {self}: the directory {name}/ holds version "
                                       f"{metadata.get('version')}")
            return unpacked, False
        raise ChartUnavailable(f"chart {name} {version or '(no version)'} from {self}: "
                               f"no {name}-{version}.tgz and no {name}/ chart directory there")


def _read_chart_yaml(path: Path) -> Mapping[str, Any]:
    try:
        metadata: Mapping[str, Any] = yaml.safe_load((path / "Chart.yaml").read_text())
    except (OSError, yaml.YAMLError):
        raise ChartUnavailable(f"chart {path.name}: no readable Chart.yaml in {path}") from None
    return metadata


def default_cache_dir(configured: str = "") -> Path:
    """`configured` (the setting OSOP_CHART_CACHE, core.settings), else openstack-operator/charts in the user's cache
    directory (XDG)."""
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "openstack-operator" / "charts"


class ChartCache:
    """Chart archives by content, `<directory>/sha256/<hex>.tgz`: a chart version is fetched once per host, not
    once per release, reconcile or upgrade, and survives restarts. Files appear whole (written to a temporary name
    in the same directory, then renamed), so concurrent processes sharing the directory never read a partial one.
    Each use hashes the archive again (charts are small), so a damaged cache entry is fetched anew."""

    def __init__(self, directory: Path, helm: str, pull_timeout: float = PULL_TIMEOUT_SECONDS) -> None:
        self.directory = directory
        self.helm = helm
        self.pull_timeout = pull_timeout
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}  # one fetch at a time per chart
        self._unpinned: dict[tuple[str, str, str], Path] = {}  # (source, chart, version) -> archive, this process

    async def archive(self, source: ChartSource, name: str, version: str, digest: str = "") -> Path:
        """A local path to install `name` at `version` from: an archive whose sha256 is `digest` when one is given,
        or (from a local source, without a digest) the source's own archive or unpacked chart directory."""
        wanted = ""
        if digest:
            match = DIGEST_PATTERN.match(digest)
            if match is None:
                raise ChartUnavailable(f"chart {name} {version}: unsupported digest {digest!r} (want sha256:<hex>)")
            wanted = match.group(1)
        unpinned = (source.location, name, version)
        async with self._locks.setdefault((wanted,) if wanted else unpinned, asyncio.Lock()):
            try:
                return await self._archive(source, name, version, wanted, unpinned)
            except OSError as error:  # an unreadable local source, a full or read-only cache directory
                raise ChartUnavailable(f"chart {name} {version} from {source}: {error.strerror or error} "
                                       f"({error.filename or self.directory})") from None

    async def _archive(self, source: ChartSource, name: str, version: str, wanted: str,
                       unpinned: tuple[str, str, str]) -> Path:
        if wanted:
            cached = await asyncio.to_thread(self._cached, wanted)
            if cached is not None:
                return cached
        elif not source.local and unpinned in self._unpinned:
            return self._unpinned[unpinned]
        if source.local:
            return await asyncio.to_thread(self._from_directory, source, name, version, wanted)
        path = await self._pull(source, name, version, wanted)
        if not wanted:  # remembered by this process only: nothing says the next pull gives the same archive
            self._unpinned[unpinned] = path
        return path

    def _entry(self, hexdigest: str) -> Path:
        return self.directory / "sha256" / f"{hexdigest}.tgz"

    def _cached(self, hexdigest: str) -> Path | None:
        path = self._entry(hexdigest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).hexdigest() == hexdigest:
            return path
        path.unlink(missing_ok=True)  # damaged: fetch again
        return None

    def _from_directory(self, source: ChartSource, name: str, version: str, wanted: str) -> Path:
        path, is_archive = source.local_chart(name, version)
        if not wanted:
            return path  # nothing to verify against: install the source's own file or directory
        if not is_archive:
            raise ChartUnavailable(f"chart {name} {version} from {source}: only an unpacked {name}/ directory is "
                                   f"there, and the bundle pins the archive digest sha256:{wanted}")
        data = path.read_bytes()
        _verify(data, wanted, name, version, source)
        return self._store(data, wanted)

    def _store(self, data: bytes, hexdigest: str) -> Path:
        final = self._entry(hexdigest)
        final.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=final.parent, prefix=".", suffix=".part", delete=False) as handle:
            try:
                handle.write(data)
            except OSError:
                Path(handle.name).unlink(missing_ok=True)
                raise
        os.replace(handle.name, final)
        return final

    async def _pull(self, source: ChartSource, name: str, version: str, wanted: str) -> Path:
        """`helm pull` from a chart repository into a temporary folder of the cache, verified, then moved in."""
        self.directory.mkdir(parents=True, exist_ok=True)
        refused = charts_url_problem(source.location)
        if refused:  # never on Helm's command line (readable in /proc by anyone on the node)
            raise ChartUnavailable(f"chart {name} {version} from {source}: {refused}")
        scratch = Path(tempfile.mkdtemp(dir=self.directory, prefix=".pull-"))
        try:
            argv = [self.helm, "pull", name, "--repo", source.location, "--destination", str(scratch)]
            if version:
                argv += ["--version", version]
            await self._run(argv, f"chart {name} {version or '(latest)'} from {source}", source.location)
            pulled = sorted(scratch.glob("*.tgz"))
            if len(pulled) != 1:
                raise ChartUnavailable(f"chart {name} {version} from {source}: helm pull left "
                                       f"{len(pulled)} archives")
            data = await asyncio.to_thread(pulled[0].read_bytes)
            if wanted:
                _verify(data, wanted, name, version, source)
            return await asyncio.to_thread(self._store, data, wanted or hashlib.sha256(data).hexdigest())
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    async def _run(self, argv: list[str], what: str, location: str) -> None:
        process = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), self.pull_timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError) as error:
            process.kill()
            await process.wait()
            if isinstance(error, asyncio.CancelledError):
                raise
            raise ChartUnavailable(f"{what}: no answer within {self.pull_timeout:.0f} s") from None
        if process.returncode != 0:
            raise ChartUnavailable(f"{what}: {_scrub(_last_error(stderr.decode(errors='replace')), location)}")


def _verify(data: bytes, hexdigest: str, name: str, version: str, source: ChartSource) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != hexdigest:
        raise ChartUnavailable(f"chart {name} {version} from {source}: digest mismatch: the bundle pins "
                               f"sha256:{hexdigest}, the archive is sha256:{actual}; not installed")


def helm_binary(configured: str = "") -> str:
    """`configured` (the setting OSOP_HELM, core.settings), else helm on PATH."""
    binary = configured or shutil.which("helm")
    if not binary:
        raise HelmError("no helm binary: set OSOP_HELM or put helm on PATH")
    return binary


class _DirectCommand(Command):  # type: ignore[misc]
    """pyhelm3's Helm commands with `helm` started directly rather than through a shell: when a step is cancelled
    (superseded by a newer spec, or shutdown), the SIGTERM reaches `helm` itself, which then ends its operation and
    exits, instead of a shell that dies and leaves `helm` running on."""

    async def run(self, command: list[Any], input: bytes | None = None) -> bytes:
        command = with_post_renderer([part if isinstance(part, (str, bytes)) else str(part) for part in command])
        process = await asyncio.create_subprocess_exec(
            self._executable, *command,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            stdout, stderr = await process.communicate(input)
        except asyncio.CancelledError:
            if process.returncode is None:
                process.terminate()  # Helm marks the release failed and exits
                try:
                    await asyncio.wait_for(process.communicate(), HELM_STOP_SECONDS)
                finally:
                    if process.returncode is None:  # too slow, or cancelled once more: it must not outlive us
                        process.kill()
            raise
        if process.returncode == 0:
            result: bytes = stdout
            return result
        # The one error callers tell apart (pyhelm3's client relies on it too). An etcd error may come with a
        # "not found": the release's state is unknown then, not absent.
        text = stderr.lower()
        error = ReleaseNotFoundError if b"release: not found" in text and b"etcdserver" not in text else PyHelmError
        raise error(process.returncode, stdout, stderr)


# Helm commands that render and apply (or show) a chart: each gets the operator's post-renderer.
RENDERING_COMMANDS = ("install", "upgrade", "template")
POST_RENDERER_MODULE = "openstack_operator.kube.postrender"


def with_post_renderer(command: list[Any]) -> list[Any]:
    """`command` (helm's arguments) with `--post-renderer` kube.postrender for the command's namespace when it
    renders a chart: Helm then applies nothing outside that namespace and no cluster-scoped object the charts do
    not need."""
    if not command or command[0] not in RENDERING_COMMANDS:
        return command
    namespace = command[command.index("--namespace") + 1] if "--namespace" in command[:-1] else "default"
    return [*command, "--post-renderer", sys.executable, "--post-renderer-args", "-m",
            "--post-renderer-args", POST_RENDERER_MODULE, "--post-renderer-args", namespace]


class Helm:
    """`source`: where a release's chart comes from unless the release names its own repository; `cache`: where
    fetched archives are kept (default: default_cache_dir())."""

    def __init__(self, source: ChartSource, binary: str | None = None, cache: ChartCache | None = None,
                 before_upgrade: Callable[[str, str], Awaitable[Any]] | None = None) -> None:
        executable = binary or helm_binary()
        self.source = source
        self.before_upgrade = before_upgrade  # (release, namespace): runs before Helm upgrades an existing release
        self.cache = cache or ChartCache(default_cache_dir(), executable)
        self.client = Client(_DirectCommand(executable=executable, history_max_revisions=5), executable=executable)
        # Each pinned archive's Chart.yaml, read once (`helm show chart`): the cache names an archive of a pinned
        # digest by that digest, so what its path holds never changes (an unpinned local chart may).
        self._charts: dict[Path, Chart] = {}

    @classmethod
    def configured(cls, settings: Settings, default_source: str,
                   before_upgrade: Callable[[str, str], Awaitable[Any]] | None = None) -> Helm:
        """The Helm of the settings: its binary (OSOP_HELM), its chart cache (OSOP_CHART_CACHE), charts from
        OSOP_CHART_SOURCE, else from `default_source`. HelmError if there is no helm binary or the source is
        neither a directory nor an http(s) URL."""
        binary = helm_binary(settings.helm)
        return cls(ChartSource(settings.chart_source or default_source), binary,
                   ChartCache(default_cache_dir(settings.chart_cache), binary), before_upgrade)

    async def install(self, name: str, namespace: str, chart: str, version: str, values: Mapping[str, Any],
                      fingerprint: str, timeout_seconds: int, *, digest: str = "", repository: str = "",
                      force: bool = False) -> Installed:
        """`helm upgrade --install`, unless the release already runs exactly this fingerprint (and not `force`: an
        upgrade with the same values recreates objects deleted since). The chart comes from
        `repository` if given, else the configured source, and must have `digest` when one is given; if it cannot
        be had, ChartUnavailable (and Helm does not run)."""
        description = FINGERPRINT_PREFIX + fingerprint
        problems = values_problems(values, "values", namespace)
        if problems:  # the bundle's values did not come through the osdpl's checks (a forged bundle or Secret)
            raise ValuesRefused(f"release {name}: values refused: {'; '.join(map(str, problems))}")
        try:
            current = await self._proceedable(name, namespace, f"{timeout_seconds}s")
            if (not force and current is not None and current.status == ReleaseRevisionStatus.DEPLOYED
                    and current.description == description):
                return Installed(current.revision, await _chart_version(current), skipped=True,
                                 workloads=await _workloads(current))
            source = ChartSource(repository) if repository else self.source
            path = await self.cache.archive(source, chart, version, digest)
            chart_ref = self._charts.get(path) or await self.client.get_chart(path)
            if digest:
                self._charts[path] = chart_ref
            if current is not None and self.before_upgrade is not None:
                await self.before_upgrade(name, namespace)
            revision = await self.client.install_or_upgrade_release(
                name, chart_ref, dict(values), namespace=namespace, description=description,
                timeout=f"{timeout_seconds}s", create_namespace=False, reset_values=True)
        except PyHelmError as error:
            raise HelmError(_message(error)) from None
        return Installed(revision.revision, await _chart_version(revision), skipped=False,
                         workloads=await _workloads(revision))

    async def _proceedable(self, name: str, namespace: str, timeout: str) -> ReleaseRevision | None:
        """The release's current revision (None: there is none), unstuck if a crash or a cancel left it mid-operation.
        A first install that never finished (pending-install), or an uninstall that did not (uninstalling), is
        uninstalled without the chart's delete hooks: they clean up after a service that never ran, and fail
        forever when it did not (keystone's credential cleanup needs a working keystone). A pending upgrade or
        rollback is rolled back."""
        try:
            current = await self.client.get_current_revision(name, namespace=namespace)
        except ReleaseNotFoundError:
            return None
        if current.status in (ReleaseRevisionStatus.PENDING_INSTALL, ReleaseRevisionStatus.UNINSTALLING):
            await current.release.uninstall(timeout=timeout, wait=True, no_hooks=True)
            return None
        if current.status in (ReleaseRevisionStatus.PENDING_UPGRADE, ReleaseRevisionStatus.PENDING_ROLLBACK):
            rolled_back: ReleaseRevision = await current.release.rollback(cleanup_on_fail=True, timeout=timeout,
                                                                          wait=True)
            return rolled_back
        return current

    async def uninstall(self, name: str, namespace: str, timeout_seconds: int, *, hooks: bool = True) -> bool:
        """`helm uninstall`; returns False if the release was not there (counts as uninstalled). `hooks=False`
        skips the chart's pre/post-delete hooks: in a namespace being deleted they could never be created."""
        try:
            revision = await self.client.get_current_revision(name, namespace=namespace)
            await revision.release.uninstall(timeout=f"{timeout_seconds}s", wait=False, no_hooks=not hooks)
        except ReleaseNotFoundError:
            return False
        except PyHelmError as error:
            raise HelmError(_message(error)) from None
        return True


async def _workloads(revision: ReleaseRevision) -> tuple[str, ...]:
    return tuple(long_running_workloads(await revision.resources()))


async def _chart_version(revision: ReleaseRevision) -> str:
    metadata = await revision.chart_metadata()
    return str(metadata.version)


def _message(error: PyHelmError) -> str:
    return _last_error(error.stderr.decode(errors="replace") if error.stderr else str(error))


def _last_error(text: str) -> str:
    """Helm's error, without the warnings it prints before it (they are not the failure)."""
    lines = text.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Error: ")), 0)
    return "\n".join(lines[start:]).removeprefix("Error: ")
