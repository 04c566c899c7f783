package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/node/install"
	"github.com/mtscn/mtscn/pkg/node/kubeclient"
	"github.com/mtscn/mtscn/pkg/node/withdrawal"
)

func init() {
	subcommands = append(subcommands, newInstallCommand, newUninstallCommand, newServeCommand)
}

// installFlags are the flags install, uninstall and serve share.
type installFlags struct {
	opts           install.Options
	nodeName       string
	noNode         bool
	kubeconfig     string
	restart        string
	pidFile        string
	restartCommand string
	restartTimeout time.Duration
	verify         string
	criSocket      string
}

func (f *installFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.opts.HostRoot, "host-root", "/", "where the host's / is mounted (/host in the DaemonSet)")
	fs.StringSliceVar(&f.opts.Sandboxes, "sandboxes", []string{install.SandboxKata}, "sandboxes to install: kata, gvisor, or both (kata,gvisor)")
	fs.StringVar(&f.opts.ArtifactsDir, "artifacts", install.DefaultKataArtifacts, "the Kata artifacts (an extracted Kata release), a path in this container")
	fs.StringVar(&f.opts.InstallDir, "install-dir", install.DefaultKataInstallDir, "where the Kata artifacts go, as a host path")
	fs.StringSliceVar(&f.opts.Shims, "shims", nil, "Kata shims to configure, one handler kata-<shim> each (default: every configuration-<shim>.toml in --artifacts)")
	fs.StringVar(&f.opts.GVisorArtifacts, "gvisor-artifacts", install.DefaultGVisorArtifacts, "directory with runsc and containerd-shim-runsc-v1 (optionally runsc.toml), a path in this container")
	fs.StringVar(&f.opts.GVisorInstallDir, "gvisor-install-dir", install.DefaultGVisorInstallDir, "where gVisor's binaries go, as a host path")
	fs.StringVar(&f.opts.GVisorShim, "gvisor-shim", install.GVisorShimRunsc, "gVisor handler layout: runsc (runtime_type io.containerd.runsc.v1, gVisor's shim) or runc (io.containerd.runc.v2 with BinaryName = runsc)")
	fs.StringVar(&f.opts.ContainerdConfig, "containerd-config", install.DefaultContainerdConfig, "containerd's main config file, as a host path (a symlink is followed and kept)")
	fs.StringVar(&f.opts.DropIn, "drop-in", install.DefaultDropIn, "the containerd drop-in the installer owns (containerd 2.x), as a host path")
	fs.StringVar(&f.opts.StateDir, "state-dir", install.DefaultStateDir, "where the backup of containerd's config and the install record are kept, as a host path")
	fs.IntVar(&f.opts.ConfigVersion, "containerd-config-version", 0, "config version to write when there is no config.toml: 2 (containerd 1.x) or 3 (2.x); default from --containerd-major")
	fs.IntVar(&f.opts.ContainerdMajor, "containerd-major", 0, "containerd's major version, 1 or 2 (default: ask the CRI, else 2 for a version 3 config and 1 otherwise)")
	fs.StringVar(&f.opts.ContainerdUnit, "containerd-unit", install.DefaultContainerdUnit, "systemd unit of containerd (--restart-mode=systemd)")
	fs.StringVar(&f.restart, "restart-mode", "systemd", "how to restart containerd after a change: systemd (D-Bus), signal (SIGTERM to containerd, its supervisor starts it again), command (--restart-command) or none")
	fs.StringVar(&f.restart, "restart", "systemd", "deprecated name of --restart-mode")
	_ = fs.MarkDeprecated("restart", "use --restart-mode")
	fs.StringVar(&f.pidFile, "containerd-pidfile", "", "host path of a file with containerd's PID (--restart-mode=signal; default: the process listening on --cri-socket)")
	fs.StringVar(&f.restartCommand, "restart-command", "", "command that restarts containerd (--restart-mode=command), split on spaces, run without a shell")
	fs.DurationVar(&f.restartTimeout, "restart-timeout", 2*time.Minute, "how long a restart may take")
	fs.StringVar(&f.verify, "verify", "cri", "how to read the runtimes containerd serves: cri (the running containerd through --cri-socket), dump (containerd config dump with the host's binary) or none")
	fs.StringVar(&f.criSocket, "cri-socket", install.DefaultCRIEndpoint, "containerd's socket, as a host path")
	fs.StringVar(&f.nodeName, "node-name", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME)")
	fs.BoolVar(&f.noNode, "no-node", false, "do not label the Node or record Events (no cluster)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster)")
	fs.StringVar(&f.opts.WithdrawnNote, "withdrawn-note", "", "the note through which handlers are withdrawn from discovery before containerd changes, as a host path; mtscn-node run --withdrawn-note must read the same file (default <--state-dir>/withdrawn/handlers.json, i.e. "+withdrawal.DefaultPath+")")
	fs.DurationVar(&f.opts.DiscoveryTimeout, "discovery-timeout", install.DefaultDiscoveryTimeout, "how long to wait for discovery to drop mtscn.io/runtime.<handler> before containerd changes, and to publish it before the node is reported ready; then fail and change nothing (uninstall --force goes on)")
}

func (f *installFlags) installer() (*install.Installer, error) {
	var options []install.Option
	hostRoot := f.opts.HostRoot
	if hostRoot == "" {
		hostRoot = "/"
	}
	switch f.restart {
	case "systemd":
		options = append(options, install.WithRestarter(install.SystemdRestarter{HostRoot: hostRoot}))
	case "signal":
		options = append(options, install.WithRestarter(install.SignalRestarter{HostRoot: hostRoot, PIDFile: f.pidFile, Socket: f.criSocket, Timeout: f.restartTimeout}))
	case "command":
		if strings.TrimSpace(f.restartCommand) == "" {
			return nil, fmt.Errorf("--restart-mode=command needs --restart-command, e.g. --restart-command=\"rc-service containerd restart\"")
		}
		options = append(options, install.WithRestarter(install.CommandRestarter{Command: strings.Fields(f.restartCommand), Timeout: f.restartTimeout}))
	case "none":
		options = append(options, install.WithRestarter(install.NoRestart{}))
	default:
		return nil, fmt.Errorf("--restart-mode=%q: must be systemd, signal, command or none", f.restart)
	}
	switch f.verify {
	case "cri":
		options = append(options, install.WithVerifier(install.CRIVerifier{Socket: filepath.Join(hostRoot, f.criSocket), Timeout: f.restartTimeout}))
	case "dump":
		cfg := f.opts.ContainerdConfig
		if cfg == "" {
			cfg = install.DefaultContainerdConfig
		}
		options = append(options, install.WithVerifier(install.DumpVerifier{Command: install.DefaultDumpCommand(hostRoot), Config: cfg}))
	case "none":
		options = append(options, install.WithVerifier(install.NoVerify{}))
	default:
		return nil, fmt.Errorf("--verify=%q: must be cri, dump or none", f.verify)
	}
	if !f.noNode {
		if f.nodeName == "" {
			return nil, fmt.Errorf("--node-name is empty and $NODE_NAME is not set: set one (the DaemonSet passes spec.nodeName), or pass --no-node to work on the host only")
		}
		client, err := kubeclient.Clientset(f.kubeconfig)
		if err != nil {
			return nil, err
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
		Short: "Install sandbox runtimes (Kata, gVisor) into this node's containerd, verify, then label and untaint the node",
		Long: `install claims the node (mtscn.io/sandbox-runtime=pending), copies the
artifacts of each --sandboxes entry to its install dir (staged beside it,
then swapped in with a rename), adds one containerd runtime per handler
(containerd 1.x: into the file that holds the CRI table, config.toml
usually; containerd 2.x: into the drop-in, imported by config.toml),
restarts containerd (--restart-mode), checks through the CRI that every
runtime containerd served before (runc first) and every new handler is
served, then waits until discovery (mtscn-node run) publishes
mtscn.io/runtime.<handler>=true, and only then sets
mtscn.io/sandbox-runtime=true and removes the mtscn.io/sandbox-not-ready
taint. It never writes mtscn.io/runtime.* itself: before it changes a
handler that containerd serves it withdraws it (--withdrawn-note) and waits
until discovery has dropped the label (--discovery-timeout; then it fails
and changes nothing). If containerd lacks a runtime after the change, the
previous config is put back. Running it again changes nothing. See
pkg/node/install/README.md.`,
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
		Short: "Remove what install did: containerd's config restored, drop-in and artifacts removed, labels removed",
		Long: `uninstall refuses while pods run with the installed handlers (checked
through the CRI) unless --force. It takes the node out of sandbox service
first: mtscn.io/sandbox-runtime=uninstalling, the handlers withdrawn
(--withdrawn-note) and mtscn.io/runtime.<handler> dropped by discovery
(after --discovery-timeout it fails and changes nothing; with --force it
goes on). Then it restores containerd's config (byte for byte
from the backup when it was not edited since; otherwise it removes only the
installer's runtimes and imports entry and keeps the edits), removes the
drop-in and the install dirs the installer created, restarts containerd,
checks that every other runtime (runc) is still served, and removes the
remaining labels. It is safe to run twice and after an install that
stopped half way. A DaemonSet rollout never runs it.`,
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
	cmd.Flags().BoolVar(&f.opts.Force, "force", false, "uninstall even while pods run with the installed handlers (they lose their runtime), and after --discovery-timeout when discovery did not drop their labels")
	return cmd
}

func newServeCommand() *cobra.Command {
	f := &installFlags{}
	var (
		listen   string
		retry    time.Duration
		maxRetry time.Duration
	)
	cmd := &cobra.Command{
		Use:     "serve",
		Aliases: []string{"kata-deploy"},
		Short:   "DaemonSet mode: install at start (retrying with backoff), serve /healthz and /readyz; never uninstalls",
		Long: `serve runs install at start, retrying after --retry-interval, doubling up to
--max-retry-interval; after a rollback it does not restart containerd again
until the config or the artifacts change. It answers /healthz while running
and /readyz only once the install is verified. Stopping it (SIGTERM, a
DaemonSet rollout) leaves the runtimes installed: uninstall is the explicit
command ` + "`mtscn-node uninstall`" + `.`,
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
			return in.Serve(ctx, ln, install.DaemonOptions{RetryInterval: retry, MaxRetryInterval: maxRetry})
		},
	}
	f.add(cmd.Flags())
	cmd.Flags().StringVar(&listen, "listen-address", ":8090", "address serving /healthz and /readyz")
	cmd.Flags().DurationVar(&retry, "retry-interval", 30*time.Second, "first wait after a failed install (doubles each time)")
	cmd.Flags().DurationVar(&maxRetry, "max-retry-interval", 30*time.Minute, "longest wait between install attempts")
	return cmd
}
