"""The images the real node runs, as OCI archives its containerd imports under the names the charts ask for: no
registry is reachable, so every image is built here (tools/build-*.sh) and cached per user by its inputs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from devcluster.binaries import REPO


class ImageError(Exception):
    pass


def _last_line(argv: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if result.returncode != 0:
        raise ImageError(f"{' '.join(argv)} failed: {result.stderr.strip()[-2000:]}")
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def _cache() -> Path:
    return Path(_last_line([str(REPO / "tools" / "cache-dir.sh")]))


def entrypoint() -> Path:
    """Our kubernetes-entrypoint (tools/go/entrypoint): every chart's dependency-check init container."""
    return Path(_last_line([str(REPO / "tools" / "build-entrypoint-image.sh")]))


def operator() -> tuple[str, Path]:
    """The operator's image (tools/build-image.sh, buildah) and an OCI archive of it, cached by the image's ID."""
    name = _last_line([str(REPO / "tools" / "build-image.sh")])
    cache = _cache()
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(cache / "buildah" / "storage.conf")}
    buildah = ["buildah", "--storage-driver", "vfs"]
    image_id = _last_line([*buildah, "inspect", "--type", "image", "--format", "{{.FromImageID}}", name], env)
    archive = cache / "node-images" / f"operator-{image_id[:16]}.tar"
    if not archive.exists():
        archive.parent.mkdir(parents=True, exist_ok=True)
        for old in archive.parent.glob("operator-*.tar"):  # one operator archive at a time: each is ~80 MB
            old.unlink()
        partial = archive.with_suffix(f".{os.getpid()}.tmp")
        _last_line([*buildah, "push", "--quiet", name, f"oci-archive:{partial}:{name}"], env)
        partial.rename(archive)
    return name, archive


def _set(script: str) -> list[Path]:
    """The archives of an image set script (tools/build-service-images.sh, tools/build-openstack-images.sh): its
    last line is a folder of *.tar."""
    return sorted(Path(_last_line([str(REPO / "tools" / script)])).glob("*.tar"))


def identity_stack() -> list[Path]:
    """What the identity service and its dependencies run on the real node: MariaDB, RabbitMQ, memcached (Debian's
    packages), Keystone and the OpenStack client (PyPI, release 2026.1), each under the name the catalog pins."""
    return [*_set("build-service-images.sh"), *_set("build-openstack-images.sh")]
