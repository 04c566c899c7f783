package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/simulate"
)

func init() { subcommands = append(subcommands, newSimulateCommand) }

func newSimulateCommand() *cobra.Command {
	var file, cfgPath, dataDir, logFile string
	cmd := &cobra.Command{
		Use:   "simulate -f cluster.yaml",
		Short: "Place your own pods on your own nodes with mtscn-scheduler, offline",
		Long: `simulate reads Nodes, Namespaces, RuntimeClasses and Pods from a multi-document
YAML file (see manifests/examples/simulate/cluster.yaml), builds that cluster on
an embedded control plane, binds the pods that have spec.nodeName, submits the
others to mtscn-scheduler one at a time in file order, and prints where each
new pod went, why the others cannot be placed, the memory each node commits
and the audit of the result.`,
		Args: cobra.NoArgs,
		RunE: printErrors(func(cmd *cobra.Command, _ []string) error {
			logOutput, closeLog, err := setupLogging(logFile)
			if err != nil {
				return err
			}
			defer closeLog()
			if file == "" {
				return errors.New("--filename (-f) is required: the YAML file with your Nodes, Namespaces, RuntimeClasses and Pods (- for stdin)")
			}
			var in io.Reader = cmd.InOrStdin()
			source := "stdin"
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return fmt.Errorf("reading --filename: %w", err)
				}
				defer f.Close()
				in, source = f, file
			}
			sc, err := simulate.Load(in, source)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			eng, err := simulate.Start(ctx, simulate.Options{
				SchedulerConfig: cfgPath,
				Progress:        cmd.ErrOrStderr(),
				Cluster:         clusterOptions(dataDir, logOutput),
			})
			if err != nil {
				return err
			}
			res, runErr := eng.Run(ctx, sc)
			stopErr := eng.Stop()
			if runErr != nil {
				return runErr
			}
			if stopErr != nil {
				return stopErr
			}
			return writeSimulation(cmd.OutOrStdout(), eng, res)
		}),
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "multi-document YAML of Nodes, Namespaces, RuntimeClasses, existing Pods (spec.nodeName set) and new Pods; - reads stdin")
	addEngineFlags(cmd, &cfgPath, &dataDir, &logFile)
	return cmd
}

func writeSimulation(w io.Writer, eng *simulate.Engine, res *simulate.Result) error {
	fmt.Fprintln(w, "== New pods")
	if err := simulate.WriteOutcomes(w, res.Outcomes); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n== Pods that cannot be placed")
	if err := simulate.WritePending(w, res.Outcomes); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n== Memory per node")
	memory, err := simulate.MemoryByNode(res.Snapshot, eng.Policy)
	if err != nil {
		return err
	}
	if err := simulate.WriteMemory(w, memory); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n== Audit (I1-I4, F1-F3)")
	violations, err := audit.Audit(res.Snapshot, eng.Policy)
	if err != nil {
		return err
	}
	return audit.WriteViolations(w, violations)
}
