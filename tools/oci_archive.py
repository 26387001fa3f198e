"""Writes a one-layer OCI image archive that `ctr images import` loads under the name it is given.

The real node's images (the pause image, the services' images made by mmdebstrap) are a root filesystem and a few
settings; a container runtime is not needed to package them. The layer is either an existing tar (mmdebstrap's
output) or a directory packed here with numeric owners.

    python3 tools/oci_archive.py --rootfs DIR --entrypoint /pause --name localhost/osop/pause:v1 --output pause.tar
    python3 tools/oci_archive.py --layer rootfs.tar --cmd /bin/sh --env PATH=/usr/bin --name N --output image.tar
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def _digest_of_file(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest(), path.stat().st_size


def _pack_rootfs(rootfs: Path, layer: Path) -> None:
    """A tar of the directory's contents, sorted, owned by root unless the files say otherwise."""
    with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                path = Path(dirpath, name)
                info = tar.gettarinfo(str(path), arcname=str(path.relative_to(rootfs)))
                info.uname = info.gname = ""
                if info.isreg():
                    with path.open("rb") as stream:
                        tar.addfile(info, stream)
                else:
                    tar.addfile(info)


def _blob(out: tarfile.TarFile, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo("blobs/sha256/" + digest.split(":", 1)[1])
    info.size = len(data)
    out.addfile(info, io.BytesIO(data))
    return {"digest": digest, "size": len(data)}


def write_archive(layer: Path, name: str, config: dict[str, Any], output: Path) -> None:
    layer_digest, layer_size = _digest_of_file(layer)  # uncompressed: the digest is the diff id too
    image_config = {"architecture": "amd64", "os": "linux", "config": config,
                    "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
                    "history": [{"created_by": "tools/oci_archive.py"}]}
    with tarfile.open(output, "w") as out:
        def add_json(path: str, value: Any) -> None:
            data = json.dumps(value, sort_keys=True).encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))

        add_json("oci-layout", {"imageLayoutVersion": "1.0.0"})
        info = tarfile.TarInfo("blobs/sha256/" + layer_digest.split(":", 1)[1])
        info.size = layer_size
        with layer.open("rb") as stream:
            out.addfile(info, stream)
        config_ref = {"mediaType": CONFIG_TYPE,
                      **_blob(out, json.dumps(image_config, sort_keys=True).encode())}
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": config_ref,
                    "layers": [{"mediaType": LAYER_TYPE, "digest": layer_digest, "size": layer_size}]}
        manifest_ref = {"mediaType": MANIFEST_TYPE, **_blob(out, json.dumps(manifest, sort_keys=True).encode()),
                        "annotations": {"io.containerd.image.name": name,
                                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}}
        add_json("index.json", {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [manifest_ref]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--rootfs", type=Path, help="a directory to pack as the only layer")
    source.add_argument("--layer", type=Path, help="an uncompressed tar to use as the only layer")
    parser.add_argument("--name", required=True, help="the image reference containerd imports it as")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--entrypoint", action="append", default=[])
    parser.add_argument("--cmd", action="append", default=[])
    parser.add_argument("--env", action="append", default=[], help="NAME=value, repeated")
    parser.add_argument("--workdir")
    parser.add_argument("--user")
    args = parser.parse_args(argv)
    config: dict[str, Any] = {"Env": args.env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
    for key, value in (("Entrypoint", args.entrypoint), ("Cmd", args.cmd), ("WorkingDir", args.workdir),
                       ("User", args.user)):
        if value:
            config[key] = value
    if args.layer:
        write_archive(args.layer, args.name, config, args.output)
        return 0
    work = Path(tempfile.mkdtemp())
    try:
        _pack_rootfs(args.rootfs, work / "layer.tar")
        write_archive(work / "layer.tar", args.name, config, args.output)
    finally:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
