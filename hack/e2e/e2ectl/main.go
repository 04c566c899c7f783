// Command e2ectl is `make e2e`'s helper (hack/e2e/run.sh calls it). It
// does the steps a shell script cannot do well:
//
//	e2ectl controlplane -dir D -nodes n1,n2   run pkg/devcluster until SIGTERM
//	e2ectl apply -kubeconfig K (-k DIR | -f FILE)...
//	e2ectl image -name REF -binary PATH -out TAR
//	e2ectl wait-node -kubeconfig K -node N -timeout 2m
//	e2ectl kubeconfig -kubeconfig K -serviceaccount NS/NAME [-node N] -out FILE
//
// test/e2e/README.md explains where each step fits.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: e2ectl controlplane|apply|image|wait-node|kubeconfig [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	var err error
	switch os.Args[1] {
	case "controlplane":
		err = runControlPlane(ctx, fs, os.Args[2:])
	case "apply":
		err = runApply(ctx, fs, os.Args[2:])
	case "image":
		err = runImage(fs, os.Args[2:])
	case "wait-node":
		err = runWaitNode(ctx, fs, os.Args[2:])
	case "kubeconfig":
		err = runKubeconfig(ctx, fs, os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q: use controlplane, apply, image, wait-node or kubeconfig", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2ectl %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
