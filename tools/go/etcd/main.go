// Command etcd is the etcd server of the pinned release (tools/versions.env), built as a Go module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
