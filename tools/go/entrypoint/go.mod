// Our own kubernetes-entrypoint: the dependency check the OpenStack-Helm charts run as every pod's `init`
// container (tools/build-entrypoint-image.sh packs it as quay.io/airshipit/kubernetes-entrypoint). Standard
// library only, so nothing beyond the Go toolchain is needed to build it.
module osop.dev/tools/entrypoint

go 1.26.0
