// Pins the Gateway API release (tools/versions.env) whose standard-channel CRDs tools/build-binaries.sh copies
// next to the binaries and the local control plane installs; nothing is built from it. Bump with
// `go get sigs.k8s.io/gateway-api@<version>`, not `go mod tidy` (no package imports it: tidy would drop it).
module osop.dev/tools/gateway-api

go 1.26.0

require sigs.k8s.io/gateway-api v1.6.3 // indirect
