// Command pause is the pod sandbox image of `make e2e`, built locally (no
// registry): it holds the pod's namespaces by waiting for SIGTERM or
// SIGINT, as registry.k8s.io/pause does.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
