// CoreDNS with only the plugins the real node's Corefile uses (devcluster/node.py): the release's own main links
// every plugin, with the cloud SDKs of a few of them, for minutes of compiling on a cold cache.
package main

import (
	"log"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
)

func main() {
	// In CoreDNS's own execution order (core/dnsserver/zdirectives.go).
	if err := dnsserver.SetDirectives([]string{"bind", "errors", "cache", "kubernetes"}); err != nil {
		log.Fatal(err)
	}
	coremain.Run()
}
