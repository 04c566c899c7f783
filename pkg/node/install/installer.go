package install

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/node/hostpath"
	"github.com/mtscn/mtscn/pkg/node/withdrawal"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// Installer installs and uninstalls sandbox runtimes on one node.
type Installer struct {
	opts      Options
	ops       Ops
	node      Node
	restarter Restarter
	verifier  Verifier
	lister    SandboxLister
	// poll is how often the Node is read while waiting for discovery.
	poll time.Duration
}

// Option configures an Installer.
type Option func(*Installer)

// WithOps replaces the file system operations (tests inject faults).
func WithOps(ops Ops) Option { return func(in *Installer) { in.ops = ops } }

// WithNode sets the Node the installer labels.
func WithNode(n Node) Option { return func(in *Installer) { in.node = n } }

// WithRestarter sets how containerd is restarted.
func WithRestarter(r Restarter) Option { return func(in *Installer) { in.restarter = r } }

// WithVerifier sets how the served runtimes are read.
func WithVerifier(v Verifier) Option { return func(in *Installer) { in.verifier = v } }

// WithSandboxLister sets how uninstall finds running sandboxes.
func WithSandboxLister(l SandboxLister) Option { return func(in *Installer) { in.lister = l } }

// New returns an Installer. Without options it works on the real file
// system, restarts containerd through systemd, verifies with the host's
// `containerd config dump`, and keeps node changes in memory.
func New(opts Options, options ...Option) (*Installer, error) {
	opts.SetDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	in := &Installer{opts: opts, ops: OSOps{}, node: &MemoryNode{}, restarter: SystemdRestarter{HostRoot: opts.HostRoot}}
	in.verifier = DumpVerifier{Command: DefaultDumpCommand(opts.HostRoot), Config: opts.ContainerdConfig}
	for _, o := range options {
		o(in)
	}
	if in.lister == nil {
		if l, ok := in.verifier.(SandboxLister); ok {
			in.lister = l
		}
	}
	return in, nil
}

// DefaultDumpCommand is the containerd command for DumpVerifier: the host's
// binary, through chroot when the host is mounted elsewhere.
func DefaultDumpCommand(hostRoot string) []string {
	if filepath.Clean(hostRoot) == "/" {
		return []string{"containerd"}
	}
	return []string{"chroot", hostRoot, "containerd"}
}

// Result says what a run did.
type Result struct {
	// Changed lists the host paths written or removed, in order.
	Changed []string
	// Restarted is true when containerd was restarted.
	Restarted bool
	// Handlers are the handlers installed (or removed) by mtscn-node.
	Handlers []string
	// UserHandlers were already configured by someone else and were kept.
	UserHandlers []string
	// Kept are the runtimes containerd served before the install, all
	// checked to be served after it (runc first).
	Kept []string
	// RolledBack is true when the install failed after changing
	// containerd's config and the previous config was put back.
	RolledBack bool
}

func (in *Installer) root() hostpath.Root { return hostpath.Root(in.opts.HostRoot) }

func (in *Installer) host(p string) string { return in.root().Path(p) }

func (in *Installer) dropInPath() string { return path.Clean(in.opts.DropIn) }

// note logs a change and records it as an Event on the Node.
func (in *Installer) note(ctx context.Context, eventType, reason, msg string, kv ...any) {
	klog.FromContext(ctx).WithCallDepth(1).Info(msg, append([]any{"reason", reason, "type", eventType}, kv...)...)
	text := msg
	for i := 0; i+1 < len(kv); i += 2 {
		text += fmt.Sprintf(" %v=%v", kv[i], kv[i+1])
	}
	in.node.Event(ctx, eventType, reason, text)
}

func (in *Installer) applyNode(ctx context.Context, c NodeChange) error {
	changed, err := in.node.Apply(ctx, c)
	if err != nil {
		return err
	}
	if changed {
		klog.FromContext(ctx).Info("node updated", "setLabels", c.Set, "removedLabels", c.Remove, "removedTaints", c.RemoveTaints)
	}
	return nil
}

// fail marks the node failed and returns err. It never touches
// mtscn.io/runtime.*: discovery writes those, and handlers the installer
// changed stay withdrawn until a later install verifies them.
func (in *Installer) fail(ctx context.Context, err error) error {
	klog.FromContext(ctx).Error(err, "sandbox install failed")
	if !errors.Is(err, ErrDiscoveryTimeout) { // that one has its own Event
		in.node.Event(ctx, v1.EventTypeWarning, "SandboxInstallFailed", "sandbox install failed: "+err.Error())
	}
	c := NodeChange{Set: map[string]string{wellknown.LabelSandboxRuntime: wellknown.SandboxRuntimeFailed}}
	if in.hasKata() {
		c.Set[wellknown.LabelKataRuntime] = "false"
	}
	if nerr := in.applyNode(ctx, c); nerr != nil {
		return errors.Join(err, nerr)
	}
	return err
}

// claim takes the node out of sandbox service before the host or
// containerd changes: pending and kata-runtime=false, then the handlers
// about to change are withdrawn from discovery, which drops their
// mtscn.io/runtime.<handler> labels (withdraw).
func (in *Installer) claim(ctx context.Context, handlers []string) error {
	c := NodeChange{Set: map[string]string{wellknown.LabelSandboxRuntime: wellknown.SandboxRuntimePending}}
	if in.hasKata() {
		c.Set[wellknown.LabelKataRuntime] = "false"
	}
	if err := in.applyNode(ctx, c); err != nil {
		return err
	}
	return in.withdraw(ctx, withdrawal.ReasonInstall, handlers, false)
}

func (in *Installer) hasKata() bool { return slices.Contains(in.opts.Sandboxes, SandboxKata) }

func sortedUnion(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
