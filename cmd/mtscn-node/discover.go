package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/mtscn/mtscn/pkg/node/discover"
	"github.com/mtscn/mtscn/pkg/node/withdrawal"
)

func init() { subcommands = append(subcommands, newDiscoverCommand) }

func newDiscoverCommand() *cobra.Command {
	var (
		opts   discover.Options
		output string
		runAs  string
	)
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "Discover this node's virtualization features and print them (no cluster needed)",
		Long: `discover reads the host under --host-root once and prints what the agent
would publish: KVM usability and mode, CPU side-channel exposure, IOMMU,
QAT functions, guest-memory capacity and the Kata handlers in containerd.
A source that fails is reported under "errors"; the command still exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := discover.ValidateSources(opts.Sources); err != nil {
				return fmt.Errorf("--sources: %w", err)
			}
			if err := switchUser(cmd.Context(), runAs, opts.HostRoot); err != nil {
				return err
			}
			res := discover.Discover(cmd.Context(), opts)
			var out []byte
			var err error
			switch output {
			case "json":
				out, err = json.MarshalIndent(res, "", "  ")
			case "yaml":
				out, err = yaml.Marshal(res)
			default:
				return fmt.Errorf("-o/--output %q: valid values are json and yaml", output)
			}
			if err != nil {
				return fmt.Errorf("encoding discovery result: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(out))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.HostRoot, "host-root", "/", "directory the host's /proc, /sys, /dev and /etc are read from")
	f.StringVar(&opts.ContainerdConfig, "containerd-config", discover.DefaultContainerdConfig, "containerd's main configuration file, as a host path")
	f.StringSliceVar(&opts.Sources, "sources", nil, fmt.Sprintf("discovery sources to run (default all: %v)", discover.AllSources))
	f.StringVarP(&output, "output", "o", "json", "output format: json or yaml")
	f.StringVar(&opts.CRISocket, "cri-socket", discover.DefaultCRISocket, `containerd's socket as a host path, asked which handlers its CRI serves when it is there ("none": never)`)
	f.StringVar(&opts.WithdrawnNote, "withdrawn-note", withdrawal.DefaultPath, `the sandbox installer's withdrawal note, as a host path: handlers it names are not reported ("none": not read)`)
	f.StringVar(&runAs, "run-as", "", runAsHelp)
	return cmd
}
