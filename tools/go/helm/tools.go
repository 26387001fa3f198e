//go:build tools

// Package tools pins helm, built by tools/build-binaries.sh; nothing imports it.
package tools

import _ "helm.sh/helm/v3/pkg/action"
