package cmdutil

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mtscn/mtscn/pkg/version"
)

// NewRoot returns a root command named use, with --version printing the
// build (pkg/version), usage printed only for flag errors, and one
// subcommand from each constructor.
func NewRoot(use, short string, subcommands []func() *cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:          use,
		Short:        short,
		Version:      version.String(),
		SilenceUsage: true,
	}
	root.SetVersionTemplate(fmt.Sprintf("%s %s\n", use, version.String()))
	for _, sc := range subcommands {
		root.AddCommand(sc())
	}
	return root
}
