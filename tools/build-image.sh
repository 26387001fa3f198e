#!/usr/bin/env bash
# Builds the operator's container image (Dockerfile) with buildah, without any container registry: the base is a
# Debian bookworm root filesystem made by mmdebstrap from Debian's packages, imported into buildah. Prints the
# image name (last line of stdout); everything else goes to stderr.
#
# The base tarball and buildah's storage live in the per-user cache (tools/cache-dir.sh), the base keyed by a
# digest of its inputs like the binaries of tools/build-binaries.sh, so a fresh clone (as CI's) reuses it; an
# image is tagged with a digest of the tree it was built from too, so an unchanged tree is not built again.
#
# buildah's storage for this image: CONTAINERS_STORAGE_CONF=$(tools/cache-dir.sh)/buildah/storage.conf, e.g.
#   CONTAINERS_STORAGE_CONF=~/.cache/openstack-operator/buildah/storage.conf buildah images
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=$("$here/cache-dir.sh")
start=$SECONDS

# -- tools: Debian's buildah and mmdebstrap (CI may start on a fresh Debian 12 machine) -------------------------
missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Two builds starting together on a fresh machine: the second waits for dpkg's lock rather than failing.
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  # No recommends: chroot isolation needs no OCI runtime, vfs no fuse-overlayfs.
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# -- buildah's storage: below the per-user cache, not /var/lib/containers ---------------------------------------
storage="$cache/buildah"
mkdir -p "$storage/root" "$storage/run"
conf="$storage/storage.conf"
if [ ! -f "$conf" ]; then
  printf '[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n' "$storage/root" "$storage/run" \
    >"$conf.$$" && mv "$conf.$$" "$conf"
fi
export CONTAINERS_STORAGE_CONF="$conf"
bah=(buildah --storage-driver vfs)

# -- the base: Debian bookworm with Python 3.11, made by mmdebstrap, cached by its inputs -----------------------
mirror=${OSOP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${OSOP_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# essential: dpkg and the shell utilities without apt (nothing installs packages at run time). python3-venv for
# the builder stage's venv, ca-certificates for helm's and pip's TLS, libstdc++6 for wheels with C++ inside
# (google-re2). No documentation beyond the copyrights, no device nodes (the runtime makes /dev). The merged-usr
# hook makes the /usr symlinks itself, so the essential set does not pull usrmerge (and perl).
options=(--variant=essential --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr --skip=output/dev
         --include=python3,python3-venv,ca-certificates,libstdc++6
         --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
         --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
         --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
         --format=tar)
suite=bookworm
sources=("deb $mirror $suite main" "deb $mirror $suite-updates main" "deb $security $suite-security main")
key=$( (printf '%s\n' "${options[@]}" "$suite" "${sources[@]}"; mmdebstrap --version) | sha256sum | cut -c1-16)
base_dir="$cache/image-base"
base_tar="$base_dir/$key.tar"
base_image="localhost/openstack-operator-base:$key"
mkdir -p "$base_dir"
# One base build at a time (a test run and `make image` may start together): the second waits and reuses it.
exec 9>"$base_dir/$key.lock"
flock 9
if [ ! -f "$base_tar" ]; then
  echo "making the Debian bookworm base ($key) with mmdebstrap" >&2
  t=$SECONDS
  mmdebstrap --quiet "${options[@]}" "$suite" "$base_tar.tmp" "${sources[@]}" </dev/null >&2
  mv "$base_tar.tmp" "$base_tar"
  echo "made the base in $((SECONDS - t))s" >&2
fi
if ! "${bah[@]}" inspect --type image "$base_image" >/dev/null 2>&1; then
  echo "importing the base into buildah as $base_image" >&2
  ctr=$("${bah[@]}" from --quiet scratch)
  "${bah[@]}" add --quiet "$ctr" "$base_tar" / >/dev/null
  "${bah[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/sh \
    --created-by "tools/build-image.sh: mmdebstrap $key" "$ctr"
  "${bah[@]}" commit --quiet --rm "$ctr" "$base_image" >/dev/null
fi
flock -u 9

# -- the build context: the pinned helm, staged where the Dockerfile copies it from -----------------------------
bins=$("$here/build-binaries.sh" helm | tail -n 1)
mkdir -p "$repo/build"
if ! cmp -s "$bins/helm" "$repo/build/helm"; then
  cp "$bins/helm" "$repo/build/helm.$$" && mv -f "$repo/build/helm.$$" "$repo/build/helm"
fi

version=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
          "$repo/pyproject.toml")
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
# The repository's address without any user or token in it.
source_url=$(git -C "$repo" remote get-url origin 2>/dev/null | sed -E 's#^([a-z+]+://)[^@/]*@#\1#' || true)
image="localhost/openstack-operator:$version"
build_args=(--build-arg "BASE_IMAGE=$base_image" --build-arg "VERSION=$version" --build-arg "REVISION=$revision"
            --build-arg "SOURCE=$source_url")

# One image build at a time per cache (the clean-up below removes untagged images, a build's own included).
exec 8>"$storage/build.lock"
flock 8

# Nothing changed since an earlier build (same tree, helm, base and arguments): that image is tagged again.
# The digest covers every file git would commit, not only the context, so it never misses a COPY's input.
inputs=""
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
  inputs=$( (cd "$repo" && printf '%s\n' "${build_args[@]}" &&
             { git ls-files -z --cached --others --exclude-standard; printf 'build/helm\0'; } |
             sort -zu | xargs -0 sha256sum 2>/dev/null || true) | sha256sum | cut -c1-16)
fi
tags=(-t "$image")
if [ -n "$inputs" ]; then
  if "${bah[@]}" inspect --type image "$image-inputs-$inputs" >/dev/null 2>&1; then
    "${bah[@]}" tag "$image-inputs-$inputs" "$image"
    echo "$image: unchanged since the build tagged $image-inputs-$inputs" >&2
    echo "$image"
    exit 0
  fi
  tags+=(-t "$image-inputs-$inputs")
fi

# pip in the builder trusts what pip here trusts (a site's TLS-inspecting proxy or its mirror's CA): the bundle
# goes in as a build secret, never into a layer.
ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
secret=()
[ -f "$ca" ] && secret=(--secret "id=pip-ca,src=$ca")
# No --layers: with vfs every cached step is a full copy of the root filesystem (slower than building and
# unbounded on disk), and buildah 1.28's cache ignores build-arg values (a LABEL would keep an old revision).
t=$SECONDS
"${bah[@]}" build --isolation chroot "${secret[@]}" "${build_args[@]}" "${tags[@]}" "$repo" >&2
echo "built $image in $((SECONDS - t))s" >&2

# Bounded disk: the three newest builds stay (the one before may still be in a working container), older ones
# and untagged leftovers go. An image a working container still uses is kept (rmi refuses it).
"${bah[@]}" images --format '{{.CreatedAtRaw}} {{.Name}}:{{.Tag}}' --filter reference=localhost/openstack-operator |
  awk '$NF ~ /-inputs-[0-9a-f]+$/' | sort -r | tail -n +4 | awk '{print $NF}' |
  while read -r old; do "${bah[@]}" rmi "$old" >/dev/null 2>&1 || true; done
"${bah[@]}" rmi --prune >/dev/null 2>&1 || true
echo "$image ready in $((SECONDS - start))s" >&2
echo "$image"
