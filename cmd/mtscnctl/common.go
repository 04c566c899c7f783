package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/devcluster"
	"github.com/mtscn/mtscn/pkg/simulate"
)

// addEngineFlags adds the flags of the commands that run the embedded
// control plane (demo, simulate).
func addEngineFlags(cmd *cobra.Command, cfgPath, dataDir, logFile *string) {
	cmd.Flags().StringVar(cfgPath, "scheduler-config", simulate.DefaultSchedulerConfig,
		"KubeSchedulerConfiguration to run mtscn-scheduler with (the shipped one; the path is relative to the repository root)")
	cmd.Flags().StringVar(dataDir, "data-dir", "",
		"directory for etcd data, certificates and the kubeconfig (default: a new temporary directory, removed on exit)")
	addLogFlag(cmd, logFile)
}

func addLogFlag(cmd *cobra.Command, logFile *string) {
	cmd.Flags().StringVar(logFile, "log-file", "",
		"write the logs of kube-apiserver, etcd, the scheduler and client-go to this file (default: discard; raise detail with -v)")
}

// setupLogging sends klog (kube-apiserver, the scheduler, client-go) to
// the log file, or discards it: the command's own output is its report.
// It returns the writer for etcd's logs (nil: discard) and a closer.
func setupLogging(logFile string) (io.Writer, func(), error) {
	// Keep klog's errors off the terminal too.
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	// The API server's clients warn about deprecated APIs on every call.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	klog.SetOutput(io.Discard)
	if logFile == "" {
		return nil, func() {}, nil
	}
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("opening --log-file: %w", err)
	}
	klog.SetOutput(f)
	return f, func() { klog.Flush(); f.Close() }, nil
}

func clusterOptions(dataDir string, logOutput io.Writer) devcluster.Options {
	return devcluster.Options{
		DataDir: dataDir,
		// A directory the user named is theirs: keep it.
		KeepDataDir: dataDir != "",
		LogOutput:   logOutput,
	}
}

// printErrors prints a failed command's error on stderr: klog, where
// component-base's runner reports it, may be going to a file.
func printErrors(run func(cmd *cobra.Command, args []string) error) func(cmd *cobra.Command, args []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := run(cmd, args)
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "Error: %v\n", err)
		}
		return err
	}
}
