package main

import (
	"github.com/spf13/cobra"

	"github.com/mtscn/mtscn/pkg/audit/auditcmd"
)

func init() { subcommands = append(subcommands, newAuditCommand) }

// newAuditCommand is pkg/audit/auditcmd's command with mtscnctl's logging
// and error printing.
func newAuditCommand() *cobra.Command {
	var logFile string
	cmd := auditcmd.NewCommand()
	run := cmd.RunE
	cmd.RunE = printErrors(func(cmd *cobra.Command, args []string) error {
		_, closeLog, err := setupLogging(logFile)
		if err != nil {
			return err
		}
		defer closeLog()
		return run(cmd, args)
	})
	addLogFlag(cmd, &logFile)
	return cmd
}
