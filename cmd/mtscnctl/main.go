// Command mtscnctl is mtscn's operator CLI: `demo` runs the whole product on
// an embedded control plane with no cluster, `simulate` places a user's own
// objects offline, and `audit` checks a live cluster against the isolation
// invariant.
//
// Each subcommand lives in its own file and registers itself in
// subcommands from an init function.
package main

import (
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"

	"github.com/mtscn/mtscn/pkg/cmdutil"
)

// subcommands are added by init functions in this package's other files.
var subcommands []func() *cobra.Command

func newRootCommand() *cobra.Command {
	return asPlugin(cmdutil.NewRoot("mtscnctl", "mtscn's operator CLI: demo, simulate, audit", subcommands), os.Args[0])
}

func main() {
	os.Exit(cli.Run(newRootCommand()))
}
