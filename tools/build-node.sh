#!/usr/bin/env bash
# Builds the parts of the devcluster's real node (docs/local-cluster.md, "The real node") from Go modules and
# prints the directory holding them (last line of stdout): kubelet and kube-proxy of the control plane's release,
# containerd with its runc shim and ctr, runc, the CNI plugins (cni/), CoreDNS, and the pause image (an OCI
# archive of Kubernetes' own pause.c, built static).
#
# Cached like tools/build-binaries.sh: a per-user directory keyed by a digest of the pins and the wrapper modules.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
# shellcheck source=node-versions.env
source "$here/node-versions.env"
key=$(cd "$here" && cat versions.env node-versions.env build-node.sh oci_archive.py go/{kube,containerd,runc,cni,coredns}/go.{mod,sum} go/coredns/main.go |
      sha256sum | cut -c1-16)
bin="$("$here/cache-dir.sh")/node/$key"

# The host tools the node's network namespace needs (devcluster.netns.unavailable): Debian's iptables, also where the
# parts are cached already (a fresh machine with a warm cache), as root only (without root there is no real node).
if [ "$(id -u)" = 0 ] && ! command -v iptables >/dev/null; then
  echo "installing iptables with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends iptables >&2
fi
if [ -f "$bin/.complete" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$bin/cni"
exec 9>"$bin.lock"
flock 9
if [ -f "$bin/.complete" ]; then
  echo "$bin"
  exit 0
fi

# runc links libseccomp (its seccomp filters need it); gcc builds pause. Debian's packages, on a fresh machine too.
if ! dpkg-query -W -f '${Status}' libseccomp-dev 2>/dev/null | grep -q 'ok installed'; then
  echo "installing libseccomp-dev with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends libseccomp-dev >&2
fi
export GOFLAGS=-mod=readonly GOTOOLCHAIN=local

build() {  # build <wrapper module dir> <output path below $bin> <package> <cgo 0|1> [ldflags] [tags]
  local module=$1 name=$2 package=$3 cgo=$4 ldflags=${5:-} tags=${6:-}
  [ -x "$bin/$name" ] && return 0
  echo "building $name ($package)" >&2
  local start=$SECONDS
  # no debug information, as tools/build-binaries.sh
  (cd "$here/go/$module" && CGO_ENABLED=$cgo go build -trimpath -gcflags=all=-dwarf=false -tags "$tags" \
     -ldflags "-s -w $ldflags" \
     -o "$bin/$name.tmp" "$package")
  mv "$bin/$name.tmp" "$bin/$name"
  echo "built $name in $((SECONDS - start))s" >&2
}

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
kube_version=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_version+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kube_version+=" -X $pkg.gitTreeState=clean"
done
build kube kubelet k8s.io/kubernetes/cmd/kubelet 0 "$kube_version"
build kube kube-proxy k8s.io/kubernetes/cmd/kube-proxy 0 "$kube_version"

# No btrfs, devmapper or ZFS snapshotters: overlayfs and native are all the node uses, and the others need cgo.
containerd_tags="no_btrfs no_devmapper no_zfs"
containerd_version="-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
for cmd in containerd containerd-shim-runc-v2 ctr; do
  build containerd "$cmd" "github.com/containerd/containerd/v2/cmd/$cmd" 0 "$containerd_version" "$containerd_tags"
done
build runc runc github.com/opencontainers/runc 1 "-X main.version=${RUNC_VERSION#v}" seccomp
for plugin in main/bridge main/loopback ipam/host-local meta/portmap; do
  build cni "cni/${plugin#*/}" "github.com/containernetworking/plugins/plugins/$plugin" 0
done
build coredns coredns . 0  # our main: the Corefile's plugins only (tools/go/coredns/main.go)

# The pause image: Kubernetes' pause.c from the pinned module's source, static, alone in an image. The kubelet
# names it in its sandbox and containerd imports the archive under that name.
pause_image() {
  [ -f "$bin/pause.tar" ] && return 0
  echo "building the pause image" >&2
  local dir work
  dir=$(cd "$here/go/kube" && go mod download k8s.io/kubernetes && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  work=$(mktemp -d)
  mkdir -p "$work/rootfs"
  gcc -Os -static -Wall -Werror -DVERSION="${K8S_VERSION}-osop" -o "$work/rootfs/pause" \
    "$dir/build/pause/linux/pause.c"
  strip "$work/rootfs/pause"
  python3 "$here/oci_archive.py" --rootfs "$work/rootfs" --entrypoint /pause --name "$PAUSE_IMAGE" \
    --output "$bin/pause.tar.tmp"
  mv "$bin/pause.tar.tmp" "$bin/pause.tar"
  rm -rf "$work"
}
pause_image
touch "$bin/.complete"
echo "$bin"
