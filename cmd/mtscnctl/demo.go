package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mtscn/mtscn/pkg/demo"
	"github.com/mtscn/mtscn/pkg/simulate"
)

func init() { subcommands = append(subcommands, newDemoCommand) }

func newDemoCommand() *cobra.Command {
	var (
		keep    bool
		compare bool
		cfgPath string
		dataDir string
		logFile string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run mtscn on an embedded control plane with simulated nodes and tenants",
		Long: `demo starts etcd and kube-apiserver in this process, registers six simulated
nodes (bare metal with QAT, SEV-SNP, nested-virt VM, PVM VM, no KVM, one
side-channel-unsafe), the kata-deploy RuntimeClasses and four tenants, runs
mtscn-scheduler with the shipped configuration, submits a mixed workload and
prints where every pod went, why the others wait, the memory each node
commits and the audit of the result. No Docker, no cluster.`,
		Args: cobra.NoArgs,
		RunE: printErrors(func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			logOutput, closeLog, err := setupLogging(logFile)
			if err != nil {
				return err
			}
			defer closeLog()
			out := cmd.OutOrStdout()
			s, err := demo.Run(ctx, demo.Options{
				Engine: simulate.Options{
					SchedulerConfig: cfgPath,
					Progress:        cmd.ErrOrStderr(),
					Cluster:         clusterOptions(dataDir, logOutput),
				},
				Out:     out,
				Keep:    keep,
				Compare: compare,
			})
			if err != nil {
				return err
			}
			if keep {
				return waitForInterrupt(ctx, s.Engine, out)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&compare, "compare", true, "first run the same workload through kube-scheduler's default profile and report what it would have done")
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the cluster running and print its kubeconfig path; Ctrl-C stops it")
	addEngineFlags(cmd, &cfgPath, &dataDir, &logFile)
	return cmd
}

// waitForInterrupt keeps a cluster up until Ctrl-C.
func waitForInterrupt(ctx context.Context, eng *simulate.Engine, out io.Writer) error {
	fmt.Fprintf(out, "\nThe cluster is still running. Look around with:\n  export KUBECONFIG=%s\n  kubectl get nodes,pods -A -o wide\nPress Ctrl-C to stop it.\n", eng.Cluster.KubeconfigPath)
	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return eng.Stop()
}
