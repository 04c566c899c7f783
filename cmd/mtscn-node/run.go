package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/node/agent"
	"github.com/mtscn/mtscn/pkg/node/discover"
	"github.com/mtscn/mtscn/pkg/node/withdrawal"
)

func init() { subcommands = append(subcommands, newRunCommand) }

// runOptions are the run command's flags: the config file and the values
// of the flags that override it.
type runOptions struct {
	configFile string
	runAs      string
	flagCfg    agent.Config
}

func newRunCommand() *cobra.Command {
	o := &runOptions{flagCfg: agent.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the node agent: discover every --interval and publish a NodeFeature (or node labels)",
		Long: `run is the DaemonSet's command. It discovers the node's features at start
and every --interval and publishes them when they changed: as an NFD
NodeFeature in --namespace (default), or with --publish=node-labels as
mtscn.io/* labels and the mtscn.io/sandbox-memory and mtscn.io/sandboxes
capacity on its own Node for clusters without NFD. /healthz answers
200 after the first successful publish; /metrics serves Prometheus metrics.

Configuration precedence: built-in defaults < --config file (YAML, keys as
in the flag names' camelCase, e.g. publish, interval, hostRoot) < flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := buildConfig(cmd.Flags(), o.configFile, o.flagCfg)
			if err != nil {
				return err
			}
			if err := switchUser(cmd.Context(), o.runAs, cfg.HostRoot); err != nil {
				return err
			}
			a, err := agent.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			ctx = klog.NewContext(ctx, klog.Background().WithName("mtscn-node"))
			return a.Run(ctx)
		},
	}
	addRunFlags(cmd.Flags(), o)
	return cmd
}

// addRunFlags defines the run command's flags on f.
func addRunFlags(f *pflag.FlagSet, o *runOptions) {
	flagCfg := &o.flagCfg
	f.StringVar(&o.configFile, "config", "", fmt.Sprintf("YAML config file (default %s when it exists)", agent.DefaultConfigFile))
	f.StringVar(&flagCfg.NodeName, "node-name", flagCfg.NodeName, "this node's name (default $NODE_NAME)")
	f.StringVar(&flagCfg.Namespace, "namespace", flagCfg.Namespace, "namespace of the NodeFeature (default $POD_NAMESPACE or mtscn-system)")
	f.StringVar(&flagCfg.Publish, "publish", flagCfg.Publish, "where to publish: nodefeature (needs NFD), node-labels (own Node's labels and capacity) or none")
	f.DurationVar(&flagCfg.Interval.Duration, "interval", flagCfg.Interval.Duration, "time between discoveries (0: once)")
	f.StringVar(&flagCfg.ListenAddress, "listen-address", flagCfg.ListenAddress, "address serving /healthz and /metrics (empty: off)")
	f.StringVar(&flagCfg.Kubeconfig, "kubeconfig", flagCfg.Kubeconfig, "kubeconfig file (default: in-cluster)")
	f.StringVar(&flagCfg.HostRoot, "host-root", flagCfg.HostRoot, "directory the host's /proc, /sys, /dev and /etc are read from (/host in the DaemonSet)")
	f.StringVar(&flagCfg.ContainerdConfig, "containerd-config", flagCfg.ContainerdConfig, "containerd's main configuration file, as a host path")
	f.StringVar(&flagCfg.CRISocket, "cri-socket", flagCfg.CRISocket, `containerd's socket as a host path, asked which handlers its CRI serves when it is there ("none": never)`)
	f.StringVar(&o.runAs, "run-as", "", runAsHelp)
	f.StringSliceVar(&flagCfg.Sources, "sources", flagCfg.Sources, fmt.Sprintf("discovery sources (default all: %v)", discover.AllSources))
	f.Int64Var(&flagCfg.MaxSandboxes, "max-sandboxes", flagCfg.MaxSandboxes, "cap on the advertised mtscn.io/sandboxes")
	f.StringVar(&flagCfg.WithdrawnNote, "withdrawn-note", withdrawal.DefaultPath, `the sandbox installer's withdrawal note, as a host path: handlers it names are not reported ("none": not read)`)
	f.BoolVar(&flagCfg.Oneshot, "oneshot", false, "discover and publish once, then exit")
}

// flagFields maps each flag to the Config field it overrides.
var flagFields = map[string]func(dst, src *agent.Config){
	"node-name":         func(d, s *agent.Config) { d.NodeName = s.NodeName },
	"namespace":         func(d, s *agent.Config) { d.Namespace = s.Namespace },
	"publish":           func(d, s *agent.Config) { d.Publish = s.Publish },
	"interval":          func(d, s *agent.Config) { d.Interval = s.Interval },
	"listen-address":    func(d, s *agent.Config) { d.ListenAddress = s.ListenAddress },
	"kubeconfig":        func(d, s *agent.Config) { d.Kubeconfig = s.Kubeconfig },
	"host-root":         func(d, s *agent.Config) { d.HostRoot = s.HostRoot },
	"containerd-config": func(d, s *agent.Config) { d.ContainerdConfig = s.ContainerdConfig },
	"cri-socket":        func(d, s *agent.Config) { d.CRISocket = s.CRISocket },
	"sources":           func(d, s *agent.Config) { d.Sources = s.Sources },
	"max-sandboxes":     func(d, s *agent.Config) { d.MaxSandboxes = s.MaxSandboxes },
	"oneshot":           func(d, s *agent.Config) { d.Oneshot = s.Oneshot },
	"withdrawn-note":    func(d, s *agent.Config) { d.WithdrawnNote = s.WithdrawnNote },
}

// buildConfig applies defaults < config file < the flags that were set on
// the command line (flags.Visit only visits those), as nfd-worker does.
func buildConfig(flags *pflag.FlagSet, configFile string, flagCfg agent.Config) (agent.Config, error) {
	cfg := agent.DefaultConfig()
	path := configFile
	if path == "" {
		if _, err := os.Stat(agent.DefaultConfigFile); err == nil {
			path = agent.DefaultConfigFile
		} else if !errors.Is(err, fs.ErrNotExist) {
			return cfg, fmt.Errorf("--config: %w", err)
		}
	}
	if path != "" {
		if err := agent.LoadConfigFile(path, &cfg); err != nil {
			return cfg, fmt.Errorf("--config: %w", err)
		}
	}
	flags.Visit(func(f *pflag.Flag) {
		if set, ok := flagFields[f.Name]; ok {
			set(&cfg, &flagCfg)
		}
	})
	return cfg, nil
}
