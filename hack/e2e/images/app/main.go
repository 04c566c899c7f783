// Command app is the container of `make e2e`'s test pods. It prints the
// kernel it runs on, as seen from inside its sandbox (/proc/version: the
// host's kernel under runc, gVisor's Sentry under runsc), then waits for
// SIGTERM or SIGINT.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	v, err := os.ReadFile("/proc/version")
	if err != nil {
		fmt.Printf("kernel: error: %v\n", err)
	} else {
		fmt.Printf("kernel: %s\n", strings.TrimSpace(string(v)))
	}
	<-sig
}
