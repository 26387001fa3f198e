//go:build tools

// Package tools pins kwok (simulated nodes and pods), built by tools/build-binaries.sh; nothing imports it.
package tools

import _ "sigs.k8s.io/kwok/pkg/kwok/cmd"
