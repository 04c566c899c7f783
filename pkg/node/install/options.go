package install

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mtscn/mtscn/pkg/node/withdrawal"
)

// Defaults for Options. The install dirs live under one host directory,
// /opt/mtscn, which the installer's DaemonSet mounts: the new tree is staged
// beside the install dir on that same mount and swapped in with a rename.
// Kata's artifacts do not go to /opt/kata, which belongs to kata-deploy.
const (
	DefaultKataArtifacts    = "/opt/mtscn-artifacts/kata"
	DefaultKataInstallDir   = "/opt/mtscn/kata"
	DefaultGVisorArtifacts  = "/opt/mtscn-artifacts/gvisor"
	DefaultGVisorInstallDir = "/opt/mtscn/gvisor"
	DefaultContainerdConfig = "/etc/containerd/config.toml"
	DefaultDropIn           = "/etc/containerd/conf.d/mtscn.toml"
	DefaultStateDir         = "/var/lib/mtscn-install"
	DefaultContainerdUnit   = "containerd.service"

	// Deprecated names of the Kata defaults.
	DefaultArtifactsDir = DefaultKataArtifacts
	DefaultInstallDir   = DefaultKataInstallDir
)

// The sandboxes the installer knows.
const (
	SandboxKata   = "kata"
	SandboxGVisor = "gvisor"
)

// gVisor's two handler layouts (docs/node-agent.md): gVisor's own shim, or
// runc's v2 shim running runsc as its runc binary.
const (
	GVisorShimRunsc = "runsc"
	GVisorShimRunc  = "runc"
)

// Options configure an Installer. Paths other than HostRoot and the
// artifacts dirs are host paths; the installer prefixes them with HostRoot
// (a DaemonSet mounts the host's / at e.g. /host).
type Options struct {
	// HostRoot is where the host's root file system is ("/" on the host).
	HostRoot string
	// Sandboxes to install: kata, gvisor. Default kata.
	Sandboxes []string
	// ArtifactsDir holds the Kata artifacts (an extracted Kata release). It
	// is read as given: a path in the agent's image or a mounted host dir.
	ArtifactsDir string
	// InstallDir is where the Kata artifacts go on the host.
	InstallDir string
	// Shims are the Kata shims to configure (qemu, clh, ...), one handler
	// kata-<shim> each. Empty means every configuration-<shim>.toml found.
	Shims []string
	// GVisorArtifacts holds runsc and containerd-shim-runsc-v1 (a path in
	// the agent's image).
	GVisorArtifacts string
	// GVisorInstallDir is where gVisor's binaries go on the host.
	GVisorInstallDir string
	// GVisorShim is runsc (runtime_type io.containerd.runsc.v1, gVisor's
	// shim, the default) or runc (io.containerd.runc.v2 with BinaryName =
	// runsc, for hosts where gVisor's shim cannot start).
	GVisorShim string
	// ContainerdConfig is containerd's main config file.
	ContainerdConfig string
	// DropIn is the containerd config file the installer owns (containerd
	// 2.x layout).
	DropIn string
	// StateDir keeps the backup of the edited config file and the record.
	StateDir string
	// ConfigVersion is the containerd config version to write when there
	// is no config.toml (0: 2 for containerd 1.x, 3 for 2.x).
	ConfigVersion int
	// ContainerdMajor is the running containerd's major version (1 or 2),
	// which decides how it merges and resolves imports. 0: ask the CRI,
	// else infer from the config version (3 means 2.x).
	ContainerdMajor int
	// ContainerdUnit is the systemd unit restarted after a change.
	ContainerdUnit string
	// Force lets uninstall proceed while sandboxes of the installed
	// handlers are running (they lose their runtime), and after
	// DiscoveryTimeout when discovery did not drop their labels.
	Force bool
	// WithdrawnNote is the withdrawal note discovery reads
	// (pkg/node/withdrawal), as a host path. Default
	// <StateDir>/withdrawn/handlers.json (withdrawal.DefaultPath for the
	// default StateDir).
	WithdrawnNote string
	// DiscoveryTimeout bounds each wait for discovery to drop (before
	// containerd changes) or publish (before the node is reported ready)
	// mtscn.io/runtime.<handler>. 0 means DefaultDiscoveryTimeout.
	DiscoveryTimeout time.Duration
}

// DefaultDiscoveryTimeout is how long the installer waits for discovery to
// update a runtime label: a few of its note checks, one full round, and
// nfd-master's update, with room to spare.
const DefaultDiscoveryTimeout = 2 * time.Minute

// SetDefaults fills empty fields.
func (o *Options) SetDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.HostRoot, "/")
	def(&o.ArtifactsDir, DefaultKataArtifacts)
	def(&o.InstallDir, DefaultKataInstallDir)
	def(&o.GVisorArtifacts, DefaultGVisorArtifacts)
	def(&o.GVisorInstallDir, DefaultGVisorInstallDir)
	def(&o.GVisorShim, GVisorShimRunsc)
	def(&o.ContainerdConfig, DefaultContainerdConfig)
	def(&o.DropIn, DefaultDropIn)
	def(&o.StateDir, DefaultStateDir)
	def(&o.ContainerdUnit, DefaultContainerdUnit)
	def(&o.WithdrawnNote, path.Join(o.StateDir, path.Base(withdrawal.DefaultDir), withdrawal.FileName))
	if o.DiscoveryTimeout == 0 {
		o.DiscoveryTimeout = DefaultDiscoveryTimeout
	}
	if len(o.Sandboxes) == 0 {
		o.Sandboxes = []string{SandboxKata}
	}
}

var shimName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// Validate reports the first bad option, naming the flag and the fix.
func (o *Options) Validate() error {
	for _, f := range []struct{ flag, p string }{
		{"--host-root", o.HostRoot},
		{"--artifacts", o.ArtifactsDir},
		{"--install-dir", o.InstallDir},
		{"--gvisor-artifacts", o.GVisorArtifacts},
		{"--gvisor-install-dir", o.GVisorInstallDir},
		{"--containerd-config", o.ContainerdConfig},
		{"--drop-in", o.DropIn},
		{"--state-dir", o.StateDir},
		{"--withdrawn-note", o.WithdrawnNote},
	} {
		if !filepath.IsAbs(f.p) {
			return fmt.Errorf("%s=%q: must be an absolute path", f.flag, f.p)
		}
		if filepath.Clean(f.p) == "/" && f.flag != "--host-root" {
			return fmt.Errorf("%s=%q: must not be /", f.flag, f.p)
		}
	}
	if o.DiscoveryTimeout < 0 {
		return fmt.Errorf("--discovery-timeout=%v: must not be negative", o.DiscoveryTimeout)
	}
	if !strings.HasSuffix(o.DropIn, ".toml") {
		return fmt.Errorf("--drop-in=%q: must end in .toml so that a conf.d/*.toml import loads it", o.DropIn)
	}
	for _, s := range o.Sandboxes {
		if s != SandboxKata && s != SandboxGVisor {
			return fmt.Errorf("--sandboxes: %q is not a sandbox; use kata, gvisor or both", s)
		}
	}
	if slices.Contains(o.Sandboxes, SandboxKata) && slices.Contains(o.Sandboxes, SandboxGVisor) {
		k, g := path.Clean(o.InstallDir), path.Clean(o.GVisorInstallDir)
		if k == g || strings.HasPrefix(k+"/", g+"/") || strings.HasPrefix(g+"/", k+"/") {
			return fmt.Errorf("--install-dir=%q and --gvisor-install-dir=%q overlap; give each sandbox its own directory", o.InstallDir, o.GVisorInstallDir)
		}
	}
	for _, s := range o.Shims {
		if !shimName.MatchString(s) {
			return fmt.Errorf("--shims: %q is not a shim name; use names like qemu, clh, qemu-runtime-rs", s)
		}
	}
	if o.GVisorShim != GVisorShimRunsc && o.GVisorShim != GVisorShimRunc {
		return fmt.Errorf("--gvisor-shim=%q: must be runsc (gVisor's shim, io.containerd.runsc.v1) or runc (runc's v2 shim running runsc)", o.GVisorShim)
	}
	if o.ConfigVersion != 0 && o.ConfigVersion != 2 && o.ConfigVersion != 3 {
		return fmt.Errorf("--containerd-config-version=%d: must be 2 (containerd 1.6/1.7) or 3 (containerd 2.x)", o.ConfigVersion)
	}
	if o.ContainerdMajor != 0 && o.ContainerdMajor != 1 && o.ContainerdMajor != 2 {
		return fmt.Errorf("--containerd-major=%d: must be 1 or 2 (or 0 to detect)", o.ContainerdMajor)
	}
	return nil
}
