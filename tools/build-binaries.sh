#!/usr/bin/env bash
# Builds the pinned control-plane binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
# etcd, kwok, helm) from Go modules, copies the Gateway API's standard-channel CRDs next to them (gateway-api-crds/)
# and prints the directory holding them (last line of stdout).
#
# The directory is in the per-user cache, keyed by a digest of the pins and the wrapper modules, so a fresh
# clone reuses it and a changed pin builds a new one. Go's own module and build caches make rebuilds cheap.
#
# `tools/build-binaries.sh helm` builds helm alone (first in a full build too) and prints the same directory: the
# offline checks and the conformance and unit tiers need nothing else, so on a cold cache they start minutes
# before the control plane is built.
set -euo pipefail
only=${1:-}
case $only in
  ""|helm) ;;
  *) echo "usage: $0 [helm]" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
key=$(cd "$here" && cat versions.env build-binaries.sh go/*/go.mod go/*/go.sum | sha256sum | cut -c1-16)
bin="$("$here/cache-dir.sh")/bin/$key"
if [ -f "$bin/.complete" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local

build() {  # build <wrapper module dir> <output name> <package> [ldflags]
  local module=$1 name=$2 package=$3 ldflags=${4:-} lock start
  [ -x "$bin/$name" ] && return 0
  # One build of a binary at a time (a test run, its helm-only checks and `make demo` may start together): the
  # second waits and then finds it built.
  exec {lock}>"$bin/$name.lock"
  flock "$lock"
  if [ ! -x "$bin/$name" ]; then
    echo "building $name ($package)" >&2
    start=$SECONDS
    # No debug information: -w drops it from the binary, -dwarf=false keeps the compiler from making it (5% less
    # CPU on a cold build cache)
    (cd "$here/go/$module" && go build -trimpath -gcflags=all=-dwarf=false -ldflags "-s -w $ldflags" \
       -o "$bin/$name.tmp" "$package")
    mv "$bin/$name.tmp" "$bin/$name"
    echo "built $name in $((SECONDS - start))s" >&2
  fi
  exec {lock}>&-
}

# helm renders offline (`helm template`, `helm lint`) for the Kubernetes of its client-go, as its release build sets
# it; a plain `go build` says v1.20 and so refuses every chart with a newer kubeVersion (the operator's: >=1.30).
build_helm() {
  local client_go helm_kube_minor helm_flags pkg
  client_go=$(cd "$here/go/helm" && go list -m -f '{{.Version}}' k8s.io/client-go)  # v0.36.2: Kubernetes 1.36
  helm_kube_minor=${client_go#v0.}; helm_kube_minor=${helm_kube_minor%%.*}
  helm_flags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    helm_flags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_kube_minor"
  done
  build helm helm helm.sh/helm/v3/cmd/helm "$helm_flags"
}

if [ "$only" = helm ]; then
  build_helm
  echo "$bin"
  exit 0
fi
# One full build at a time per cache directory: the second waits and then finds the binaries built.
exec 9>"$bin.lock"
flock 9
if [ -f "$bin/.complete" ]; then
  echo "$bin"
  exit 0
fi
build_helm

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
kube_version=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_version+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kube_version+=" -X $pkg.gitTreeState=clean"
done

build kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kube_version"
build kube kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$kube_version"
build kube kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$kube_version"
build kube kubectl k8s.io/kubernetes/cmd/kubectl "$kube_version"
build etcd etcd osop.dev/tools/etcd
build kwok kwok sigs.k8s.io/kwok/cmd/kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"

# The Gateway API CRDs (HTTPRoute, Gateway, ...) are YAML files in the pinned module's source: no build, a copy.
# Only the CRDs: the safe-upgrades ValidatingAdmissionPolicy next to them guards a long-lived cluster's CRDs against
# downgrades, which a throwaway local cluster does not need.
gateway_api_crds() {
  local out="$bin/gateway-api-crds" module=sigs.k8s.io/gateway-api dir version file
  [ -d "$out" ] && return 0
  echo "copying the Gateway API $GATEWAY_API_VERSION CRDs" >&2
  read -r dir version < <(cd "$here/go/gateway-api" && go mod download "$module" &&
                          go list -m -f '{{.Dir}} {{.Version}}' "$module")
  if [ "$version" != "$GATEWAY_API_VERSION" ]; then
    echo "tools/go/gateway-api requires $module $version, versions.env pins $GATEWAY_API_VERSION" >&2
    return 1
  fi
  rm -rf "$out.tmp" && mkdir "$out.tmp"
  for file in "$dir"/config/crd/standard/*.yaml; do
    if grep -q '^kind: CustomResourceDefinition$' "$file"; then
      cp "$file" "$out.tmp/"
    fi
  done
  chmod 644 "$out.tmp"/*.yaml  # copies of the read-only module cache
  mv "$out.tmp" "$out"
}
gateway_api_crds
touch "$bin/.complete"
echo "$bin"
