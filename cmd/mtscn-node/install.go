package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/node/install"
)

func init() {
	subcommands = append(subcommands, newInstallCommand, newUninstallCommand, newKataDeployCommand)
}

// installFlags are the flags install, uninstall and kata-deploy share.
type installFlags struct {
	opts       install.Options
	nodeName   string
	noNode     bool
	kubeconfig string
	restart    string
	verify     string
	criSocket  string
}

func (f *installFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.opts.HostRoot, "host-root", "/", "where the host's / is mounted (/host in the DaemonSet)")
	fs.StringVar(&f.opts.ArtifactsDir, "artifacts", install.DefaultArtifactsDir, "the Kata artifacts to install (a path in this container, not on the host)")
	fs.StringVar(&f.opts.InstallDir, "install-dir", install.DefaultInstallDir, "where the artifacts go on the host")
	fs.StringVar(&f.opts.ContainerdConfig, "containerd-config", install.DefaultContainerdConfig, "containerd's main config file, as a host path")
	fs.StringVar(&f.opts.DropIn, "drop-in", install.DefaultDropIn, "the containerd drop-in the installer owns, as a host path")
	fs.StringVar(&f.opts.StateDir, "state-dir", install.DefaultStateDir, "where the backup of config.toml and the install record are kept, as a host path")
	fs.StringSliceVar(&f.opts.Shims, "shims", nil, "Kata shims to configure, one handler kata-<shim> each (default: every configuration-<shim>.toml in --artifacts)")
	fs.IntVar(&f.opts.ConfigVersion, "containerd-config-version", 0, "config version to write when there is no config.toml: 2 (containerd 1.6/1.7) or 3 (2.x); default 2, which all read")
	fs.StringVar(&f.opts.ContainerdUnit, "containerd-unit", install.DefaultContainerdUnit, "systemd unit of containerd")
	fs.StringVar(&f.restart, "restart", "systemd", "how to restart containerd after a change: systemd (D-Bus) or none")
	fs.StringVar(&f.verify, "verify", "cri", "how to verify the handlers: cri (ask the running containerd through --cri-socket), dump (containerd config dump with the host's binary) or none")
	fs.StringVar(&f.criSocket, "cri-socket", install.DefaultCRIEndpoint, "containerd's socket, as a host path")
	fs.StringVar(&f.nodeName, "node-name", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME)")
	fs.BoolVar(&f.noNode, "no-node", false, "do not label the Node or record Events (no cluster)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster)")
}

func (f *installFlags) installer() (*install.Installer, error) {
	var options []install.Option
	switch f.restart {
	case "systemd":
		options = append(options, install.WithRestarter(install.SystemdRestarter{HostRoot: f.opts.HostRoot}))
	case "none":
		options = append(options, install.WithRestarter(install.NoRestart{}))
	default:
		return nil, fmt.Errorf("--restart=%q: must be systemd or none", f.restart)
	}
	switch f.verify {
	case "cri":
		hostRoot := f.opts.HostRoot
		if hostRoot == "" {
			hostRoot = "/"
		}
		options = append(options, install.WithVerifier(install.CRIVerifier{Socket: filepath.Join(hostRoot, f.criSocket)}))
	case "dump":
		cfg := f.opts.ContainerdConfig
		if cfg == "" {
			cfg = install.DefaultContainerdConfig
		}
		options = append(options, install.WithVerifier(install.DumpVerifier{Command: install.DefaultDumpCommand(f.opts.HostRoot), Config: cfg}))
	case "none":
		options = append(options, install.WithVerifier(install.NoVerify{}))
	default:
		return nil, fmt.Errorf("--verify=%q: must be cri, dump or none", f.verify)
	}
	if !f.noNode {
		if f.nodeName == "" {
			return nil, fmt.Errorf("--node-name is empty and $NODE_NAME is not set: set one (the DaemonSet passes spec.nodeName), or pass --no-node to work on the host only")
		}
		var rc *rest.Config
		var err error
		if f.kubeconfig == "" {
			rc, err = rest.InClusterConfig()
		} else {
			rc, err = clientcmd.BuildConfigFromFlags("", f.kubeconfig)
		}
		if err != nil {
			return nil, fmt.Errorf("building the Kubernetes client (--kubeconfig): %w", err)
		}
		client, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("building the Kubernetes client: %w", err)
		}
		options = append(options, install.WithNode(&install.KubeNode{Client: client, Name: f.nodeName}))
	}
	return install.New(f.opts, options...)
}

func commandContext(cmd *cobra.Command) context.Context {
	return klog.NewContext(cmd.Context(), klog.Background().WithName("mtscn-node"))
}

func newInstallCommand() *cobra.Command {
	f := &installFlags{}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install Kata Containers into this node's containerd, then label and untaint the node",
		Long: `install claims the node (mtscn.io/sandbox-runtime=pending,
katacontainers.io/kata-runtime=false), copies --artifacts to --install-dir
(staged, then swapped in with a rename), writes a containerd drop-in with one
runtime per Kata shim, adds it to config.toml's imports when containerd does
not import it already (config.toml is backed up first), restarts containerd,
verifies that containerd lists every handler, then labels the node
(mtscn.io/sandbox-runtime=true, katacontainers.io/kata-runtime=true,
mtscn.io/runtime.<handler>=true) and removes the mtscn.io/sandbox-not-ready
taint. Running it again changes nothing. See pkg/node/install/README.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := f.installer()
			if err != nil {
				return err
			}
			_, err = in.Install(commandContext(cmd))
			return err
		},
	}
	f.add(cmd.Flags())
	return cmd
}

func newUninstallCommand() *cobra.Command {
	f := &installFlags{}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove what install did: config.toml restored byte for byte, drop-in and artifacts removed, labels removed",
		Long: `uninstall takes the node out of Kata service first (katacontainers.io/kata-runtime=false,
mtscn.io/runtime.<handler> labels removed), restores config.toml from the
backup (byte for byte; if config.toml was edited after the install, it keeps
the edit and removes only the imports entry), removes the drop-in and the
install dir, restarts containerd, and removes the remaining labels. It is
safe to run twice and after an install that stopped half way.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := f.installer()
			if err != nil {
				return err
			}
			_, err = in.Uninstall(commandContext(cmd))
			return err
		},
	}
	f.add(cmd.Flags())
	return cmd
}

func newKataDeployCommand() *cobra.Command {
	f := &installFlags{}
	var (
		listen          string
		retry           time.Duration
		uninstallOnStop bool
	)
	cmd := &cobra.Command{
		Use:   "kata-deploy",
		Short: "DaemonSet mode: install at start, serve /healthz and /readyz, uninstall on SIGTERM",
		Long: `kata-deploy runs install at start (retrying every --retry-interval until it
succeeds), answers /healthz while running and /readyz only once the install
is verified, and on SIGTERM or SIGINT runs uninstall (unless
--uninstall-on-stop=false), as kata-deploy's DaemonSet does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := f.installer()
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen-address=%q: %w", listen, err)
			}
			ctx, stop := signal.NotifyContext(commandContext(cmd), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return in.Serve(ctx, ln, install.DaemonOptions{RetryInterval: retry, UninstallOnStop: uninstallOnStop})
		},
	}
	f.add(cmd.Flags())
	cmd.Flags().StringVar(&listen, "listen-address", ":8090", "address serving /healthz and /readyz")
	cmd.Flags().DurationVar(&retry, "retry-interval", 30*time.Second, "wait between failed install attempts")
	cmd.Flags().BoolVar(&uninstallOnStop, "uninstall-on-stop", true, "uninstall on SIGTERM/SIGINT")
	return cmd
}
