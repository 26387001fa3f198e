//go:build tools

// Package tools pins helm, built by tools/build-binaries.sh; nothing imports it. go.sum also lists what
// helm.sh/helm/v3/cmd/helm needs: refresh it with `go get helm.sh/helm/v3/cmd/helm@<version>`, not `go mod tidy`.
package tools

import _ "helm.sh/helm/v3/pkg/action"
