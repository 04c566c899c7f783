package install

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Defaults for Options.
const (
	DefaultArtifactsDir     = "/opt/kata-artifacts"
	DefaultInstallDir       = "/opt/kata"
	DefaultContainerdConfig = "/etc/containerd/config.toml"
	DefaultDropIn           = "/etc/containerd/conf.d/mtscn-kata.toml"
	DefaultStateDir         = "/var/lib/mtscn-kata"
	DefaultContainerdUnit   = "containerd.service"
)

// Options configure an Installer. Paths other than HostRoot are as seen on
// the host; the installer prefixes them with HostRoot to reach them (a
// DaemonSet mounts the host's / at e.g. /host).
type Options struct {
	// HostRoot is where the host's root file system is ("/" on the host).
	HostRoot string
	// ArtifactsDir holds the Kata artifacts to install. It is read as
	// given (it lives in the agent's image, not on the host).
	ArtifactsDir string
	// InstallDir is where the artifacts go on the host.
	InstallDir string
	// ContainerdConfig is containerd's main config file.
	ContainerdConfig string
	// DropIn is the containerd config file the installer owns.
	DropIn string
	// StateDir keeps the backup of config.toml and the install record.
	StateDir string
	// Shims are the Kata shims to configure (qemu, clh, ...), one handler
	// kata-<shim> each. Empty means every configuration-<shim>.toml found
	// in the artifacts.
	Shims []string
	// ConfigVersion is the containerd config version to write when there
	// is no config.toml (0: 2, which containerd 1.6, 1.7 and 2.x all read).
	ConfigVersion int
	// ContainerdUnit is the systemd unit restarted after a change.
	ContainerdUnit string
}

// SetDefaults fills empty fields.
func (o *Options) SetDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.HostRoot, "/")
	def(&o.ArtifactsDir, DefaultArtifactsDir)
	def(&o.InstallDir, DefaultInstallDir)
	def(&o.ContainerdConfig, DefaultContainerdConfig)
	def(&o.DropIn, DefaultDropIn)
	def(&o.StateDir, DefaultStateDir)
	def(&o.ContainerdUnit, DefaultContainerdUnit)
}

var shimName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// Validate reports the first bad option, naming the flag and the fix.
func (o *Options) Validate() error {
	abs := map[string]string{
		"--host-root":         o.HostRoot,
		"--artifacts":         o.ArtifactsDir,
		"--install-dir":       o.InstallDir,
		"--containerd-config": o.ContainerdConfig,
		"--drop-in":           o.DropIn,
		"--state-dir":         o.StateDir,
	}
	for _, flag := range []string{"--host-root", "--artifacts", "--install-dir", "--containerd-config", "--drop-in", "--state-dir"} {
		p := abs[flag]
		if !filepath.IsAbs(p) {
			return fmt.Errorf("%s=%q: must be an absolute path", flag, p)
		}
		if filepath.Clean(p) == "/" && flag != "--host-root" {
			return fmt.Errorf("%s=%q: must not be /", flag, p)
		}
	}
	if !strings.HasSuffix(o.DropIn, ".toml") {
		return fmt.Errorf("--drop-in=%q: must end in .toml so that a conf.d/*.toml import loads it", o.DropIn)
	}
	for _, s := range o.Shims {
		if !shimName.MatchString(s) {
			return fmt.Errorf("--shims: %q is not a shim name; use names like qemu, clh, qemu-runtime-rs", s)
		}
	}
	if o.ConfigVersion != 0 && o.ConfigVersion != 2 && o.ConfigVersion != 3 {
		return fmt.Errorf("--containerd-config-version=%d: must be 2 (containerd 1.6/1.7) or 3 (containerd 2.x)", o.ConfigVersion)
	}
	return nil
}
