#!/usr/bin/env bash
# Builds the image of the charts' dependency-check init container (helm-toolkit's kubernetes_entrypoint_init_container
# snippet runs `kubernetes-entrypoint`, resolved by PATH) from our own implementation in tools/go/entrypoint, and
# prints the path of its OCI archive (last line of stdout), for `ctr images import` on the real node. The archive is
# named as the catalog pins the image (openstack_operator/templates/catalog.yaml, image_pins).
#
# The image holds the static binary alone, at /usr/local/bin/kubernetes-entrypoint as upstream's: nothing in the
# snippet runs anything else from it (the one chart that does, prometheus-openstack-exporter, runs a shell from it in
# another container; the operator does not deploy that chart).
#
# Cached like tools/build-node.sh: a per-user directory keyed by a digest of the sources, this script, the packer
# and the Go toolchain; a `.complete` marker says it is whole.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
start=$SECONDS
image=quay.io/airshipit/kubernetes-entrypoint:v1.0.0
src="$here/go/entrypoint"
key=$( (cd "$here" && echo "$image" && go version &&
        cat build-entrypoint-image.sh oci_archive.py go/entrypoint/go.mod &&
        find go/entrypoint -name '*.go' ! -name '*_test.go' -print0 | sort -z | xargs -0 sha256sum) |
      sha256sum | cut -c1-16)
out="$("$here/cache-dir.sh")/entrypoint-image/$key"
archive="$out/kubernetes-entrypoint.tar"
if [ -f "$out/.complete" ]; then
  echo "kubernetes-entrypoint image ($key) cached, ready in $((SECONDS - start))s" >&2
  echo "$archive"
  exit 0
fi
mkdir -p "$out"
# Two builds starting together (a test run and the demo): the second waits and reuses the first's.
exec 9>"$out.lock"
flock 9
if [ -f "$out/.complete" ]; then
  echo "$archive"
  exit 0
fi

echo "building kubernetes-entrypoint ($key)" >&2
t=$SECONDS
# Static (no libc in the image), no paths of this machine in it, standard library only so nothing to download.
(cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local \
   go build -trimpath -ldflags "-s -w" -o "$out/kubernetes-entrypoint.tmp" .)
mv "$out/kubernetes-entrypoint.tmp" "$out/kubernetes-entrypoint"
echo "built the binary in $((SECONDS - t))s" >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
install -D -m 0755 "$out/kubernetes-entrypoint" "$rootfs/usr/local/bin/kubernetes-entrypoint"
# Fixed times: the same sources give the same layer digest.
find "$rootfs" -exec touch -h -d @0 {} +
# User 65534 and that PATH as upstream's image; the snippet sets both again for the pod.
python3 "$here/oci_archive.py" --rootfs "$rootfs" --name "$image" --output "$archive.tmp" \
  --entrypoint /usr/local/bin/kubernetes-entrypoint --user 65534 \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mv "$archive.tmp" "$archive"
touch "$out/.complete"
echo "kubernetes-entrypoint image $image ($key) built in $((SECONDS - start))s" >&2
echo "$archive"
