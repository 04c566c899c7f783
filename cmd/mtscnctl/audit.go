package main

import (
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/audit/auditcmd"
)

func init() { subcommands = append(subcommands, newAuditCommand) }

// newAuditCommand is pkg/audit/auditcmd's command with mtscnctl's logging
// and error printing: logs are discarded (or go to --log-file), except
// that --watch logs to stderr when there is no --log-file.
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
		if watch, _ := cmd.Flags().GetBool("watch"); watch && logFile == "" {
			// A long-running audit logs what it serves and what fails.
			klog.SetOutput(cmd.ErrOrStderr())
		}
		return run(cmd, args)
	})
	addLogFlag(cmd, &logFile)
	return cmd
}
