// Command mtscnctl is mtscn's operator CLI: `demo` runs the whole product on
// an embedded control plane with no cluster, `simulate` places a user's own
// objects offline, and `audit` checks a live cluster against the isolation
// invariant.
//
// Each subcommand lives in its own file and registers itself in
// subcommands from an init function.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"

	"github.com/mtscn/mtscn/pkg/version"
)

// subcommands are added by init functions in this package's other files.
var subcommands []func() *cobra.Command

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "mtscnctl",
		Short:         "mtscn's operator CLI: demo, simulate, audit",
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.SetVersionTemplate(fmt.Sprintf("mtscnctl %s\n", version.String()))
	for _, sc := range subcommands {
		root.AddCommand(sc())
	}
	return root
}

func main() {
	os.Exit(cli.Run(newRootCommand()))
}
