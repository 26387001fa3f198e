"""Where the helmbundle process gets charts: a local directory or a chart repository over HTTP, archives kept in
the chart cache by digest and verified against it. Uses one real OpenStack-Helm archive (skipped without the chart
set) and, for repositories, the real helm binary ($OSOP_HELM, else the pinned build) against a loopback server."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from devcluster.binaries import helm_binary
from devcluster.charts import SHARED_CHARTS, mirror, problems, serving
from openstack_operator.core.catalog import Catalog, ChartSet
from openstack_operator.kube.helm import ChartCache, ChartSource, ChartUnavailable, display_location

CHART, VERSION = "keystone", "2026.1.0"
ARCHIVE = SHARED_CHARTS / f"{CHART}-{VERSION}.tgz"
pytestmark = pytest.mark.skipif(not ARCHIVE.is_file(), reason=f"no OpenStack-Helm chart set at {SHARED_CHARTS}")


@pytest.fixture(scope="module")
def helm() -> str:
    return os.environ.get("OSOP_HELM") or str(helm_binary())


@pytest.fixture(autouse=True)
def helm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """helm pull keeps repository indexes in its own cache: one per test, not the user's."""
    for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "helm" / name.lower()))


@pytest.fixture
def digest(catalog: Catalog) -> str:
    pinned = catalog.charts[CHART].digest
    assert pinned == "sha256:" + hashlib.sha256(ARCHIVE.read_bytes()).hexdigest(), "chart set and catalog disagree"
    return pinned


@pytest.fixture
def repository() -> Iterator[str]:
    with serving(SHARED_CHARTS) as url:
        yield url


def _fetch(cache: ChartCache, location: str, digest: str = "", chart: str = CHART, version: str = VERSION) -> Path:
    return asyncio.run(cache.archive(ChartSource(location), chart, version, digest))


def _cache(tmp_path: Path, helm: str = "helm-is-not-needed-here") -> ChartCache:
    return ChartCache(tmp_path / "cache", helm)


def _tampered(tmp_path: Path) -> Path:
    directory = tmp_path / "tampered"
    directory.mkdir()
    data = bytearray(ARCHIVE.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (directory / ARCHIVE.name).write_bytes(bytes(data))
    return directory


def test_an_archive_from_a_directory_is_verified_then_installed_from_the_cache(tmp_path: Path, digest: str) -> None:
    source = tmp_path / "charts"
    source.mkdir()
    shutil.copyfile(ARCHIVE, source / ARCHIVE.name)
    path = _fetch(_cache(tmp_path), str(source), digest)
    assert path == tmp_path / "cache" / "sha256" / f"{digest.removeprefix('sha256:')}.tgz"
    assert path.read_bytes() == ARCHIVE.read_bytes()
    (source / ARCHIVE.name).unlink()  # from now on the cache serves it, to this process and to others
    assert _fetch(_cache(tmp_path), str(source), digest) == path


def test_a_tampered_archive_is_refused_naming_chart_source_and_both_digests(tmp_path: Path, digest: str) -> None:
    directory = _tampered(tmp_path)
    with pytest.raises(ChartUnavailable) as raised:
        _fetch(_cache(tmp_path), str(directory), digest)
    actual = "sha256:" + hashlib.sha256((directory / ARCHIVE.name).read_bytes()).hexdigest()
    message = str(raised.value)
    assert f"chart {CHART} {VERSION} from {directory}" in message
    assert digest in message and actual in message and "not installed" in message
    assert not list((tmp_path / "cache").rglob("*.tgz"))


def test_a_damaged_cache_entry_is_fetched_again(tmp_path: Path, digest: str) -> None:
    cache = _cache(tmp_path)
    path = _fetch(cache, str(SHARED_CHARTS), digest)
    path.write_bytes(b"not a chart")
    assert _fetch(_cache(tmp_path), str(SHARED_CHARTS), digest).read_bytes() == ARCHIVE.read_bytes()


def test_a_missing_chart_names_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ChartUnavailable, match=f"chart {CHART} 9.9.9 from {tmp_path}: no {CHART}-9.9.9.tgz"):
        _fetch(_cache(tmp_path), str(tmp_path), version="9.9.9")
    with pytest.raises(ChartUnavailable, match="neither a directory nor a repository URL"):
        ChartSource(str(tmp_path / "nowhere"))
    with pytest.raises(ChartUnavailable, match="only http and https"):
        ChartSource("oci://registry.example/charts")


def test_an_unpacked_chart_directory_serves_only_releases_without_a_digest(tmp_path: Path, digest: str) -> None:
    chart = tmp_path / "charts" / "failing"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: failing\nversion: 0.1.0\n")
    assert _fetch(_cache(tmp_path), str(chart.parent), chart="failing", version="0.1.0") == chart
    with pytest.raises(ChartUnavailable, match="holds version 0.1.0"):
        _fetch(_cache(tmp_path), str(chart.parent), chart="failing", version="0.2.0")
    with pytest.raises(ChartUnavailable, match="only an unpacked failing/ directory"):
        _fetch(_cache(tmp_path), str(chart.parent), digest, chart="failing", version="0.1.0")


def test_a_repository_chart_is_pulled_once_and_then_comes_from_the_cache(tmp_path: Path, helm: str,
                                                                          digest: str) -> None:
    with serving(SHARED_CHARTS) as url:
        path = _fetch(_cache(tmp_path, helm), url, digest)
    assert path.read_bytes() == ARCHIVE.read_bytes()
    assert not list((tmp_path / "cache").glob(".pull-*"))  # no scratch left behind
    # The repository is gone: a new process on this host (a new cache object) still has the chart.
    assert _fetch(_cache(tmp_path, helm), url, digest) == path


def test_a_repository_archive_at_another_digest_is_refused(tmp_path: Path, helm: str, repository: str,
                                                           catalog: Catalog) -> None:
    other = catalog.charts["glance"].digest
    with pytest.raises(ChartUnavailable, match=f"digest mismatch: the bundle pins {other}"):
        _fetch(_cache(tmp_path, helm), repository, other)
    assert not list((tmp_path / "cache").rglob("*.tgz"))


def test_repository_failures_are_chart_unavailable_without_credentials(tmp_path: Path, helm: str,
                                                                       repository: str, digest: str) -> None:
    token_url = repository + "/?token=t0ken"
    with pytest.raises(ChartUnavailable) as missing:
        _fetch(_cache(tmp_path, helm), token_url, digest, version="9.9.9")
    message = str(missing.value)
    assert message.startswith(f"chart {CHART} 9.9.9 from {repository}/: ") and "9.9.9" in message[40:]
    assert "t0ken" not in message
    # user:password@ never reaches Helm's command line (issue 23): refused before helm runs, named without them
    secret_url = repository.replace("http://", "http://operator:s3cret@")
    with pytest.raises(ChartUnavailable, match=f"chart {CHART} {VERSION} from {repository}: credentials in the URL"):
        _fetch(_cache(tmp_path, "helm-must-not-run"), secret_url, digest)

    with serving(tmp_path) as closed:  # a port that answers nothing once the block ends
        pass
    with pytest.raises(ChartUnavailable, match=f"chart {CHART} {VERSION} from {closed}: "):
        _fetch(_cache(tmp_path, helm), closed, digest)


def test_display_location_drops_credentials_and_query() -> None:
    assert display_location("https://u:p@charts.example:8443/osh/?token=x") == "https://charts.example:8443/osh/"
    assert display_location("/srv/charts") == "/srv/charts"


def test_the_chart_set_is_mirrored_once_and_indexed(tmp_path: Path, helm: str, repository: str,
                                                    catalog: Catalog) -> None:
    def from_(url: str) -> Catalog:
        return dataclasses.replace(catalog, chart_set=ChartSet(catalog.chart_set.version, url))

    directory = mirror(from_(repository), tmp_path / "mirror", Path(helm))
    assert problems(directory, catalog) == []
    index = (directory / "index.yaml").stat().st_mtime_ns
    # Everything is there: nothing is fetched, so an unreachable repository is never asked.
    assert mirror(from_("http://127.0.0.1:9"), directory, Path(helm)) == directory
    assert (directory / "index.yaml").stat().st_mtime_ns == index
