package install

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mtscn/mtscn/pkg/node/containerd"
)

// Runtime is one containerd CRI runtime the installer defines.
type Runtime struct {
	// Handler is the runtime's name (the RuntimeClass handler).
	Handler string
	// Entry is its table under the CRI plugin's containerd.runtimes.
	Entry map[string]any
}

// Sandbox is one sandbox kind to install: artifacts copied to an install
// dir, and the runtimes that use them.
type Sandbox struct {
	// Name is kata or gvisor.
	Name string
	// ArtifactsDir is read as given (the agent's image or a mounted dir).
	ArtifactsDir string
	// InstallDir is the host dir the artifacts go to.
	InstallDir string
	// Generated are files written into the install dir beside the
	// artifacts (relative path -> content).
	Generated map[string][]byte
	// Runtimes are the handlers this sandbox defines.
	Runtimes []Runtime
}

// Kata's release layout: the Go runtime's configurations next to bin/,
// runtime-rs's in a subdirectory with its own binary.
const (
	goConfigDir       = "share/defaults/kata-containers"
	goShimBinary      = "bin/containerd-shim-kata-v2"
	rustConfigDir     = "share/defaults/kata-containers/runtime-rs"
	rustShimBinary    = "runtime-rs/bin/containerd-shim-kata-v2"
	configFilePrefix  = "configuration-"
	configFileSuffix  = ".toml"
	kataHandlerPrefix = "kata-"
)

// gVisor's artifacts and handler.
const (
	gvisorRunsc    = "runsc"
	gvisorShim     = "containerd-shim-runsc-v1"
	gvisorConfig   = "runsc.toml"
	GVisorHandler  = "runsc"
	gvisorShimType = "io.containerd.runsc.v1"
	runcShimType   = "io.containerd.runc.v2"
)

// sandboxes reads the artifacts of every requested sandbox.
func (in *Installer) sandboxes() ([]Sandbox, error) {
	var out []Sandbox
	for _, name := range in.opts.Sandboxes {
		var (
			s   Sandbox
			err error
		)
		switch name {
		case SandboxKata:
			s, err = in.kataSandbox()
		case SandboxGVisor:
			s, err = in.gvisorSandbox()
		default:
			err = fmt.Errorf("unknown sandbox %q", name)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// kataSandbox lists the Kata shims the artifacts provide (or checks the
// requested ones exist), one handler kata-<shim> each.
func (in *Installer) kataSandbox() (Sandbox, error) {
	s := Sandbox{Name: SandboxKata, ArtifactsDir: in.opts.ArtifactsDir, InstallDir: in.opts.InstallDir}
	type shim struct{ name, binary, config string }
	found := map[string]shim{}
	for _, layout := range []struct{ configDir, binary string }{{goConfigDir, goShimBinary}, {rustConfigDir, rustShimBinary}} {
		entries, err := in.ops.ReadDir(filepath.Join(s.ArtifactsDir, layout.configDir))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return s, fmt.Errorf("reading the Kata artifacts (--artifacts): %w", err)
		}
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !strings.HasPrefix(n, configFilePrefix) || !strings.HasSuffix(n, configFileSuffix) {
				continue
			}
			name := strings.TrimSuffix(strings.TrimPrefix(n, configFilePrefix), configFileSuffix)
			if _, dup := found[name]; dup || !shimName.MatchString(name) {
				continue
			}
			if _, err := in.ops.Lstat(filepath.Join(s.ArtifactsDir, layout.binary)); err != nil {
				return s, fmt.Errorf("the Kata artifacts in %s have %s but no shim binary %s: %w", s.ArtifactsDir, path.Join(layout.configDir, n), layout.binary, err)
			}
			found[name] = shim{name, path.Join(s.InstallDir, layout.binary), path.Join(s.InstallDir, layout.configDir, n)}
		}
	}
	names := in.opts.Shims
	if len(names) == 0 {
		for n := range found {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return s, fmt.Errorf("no Kata shim configuration (%s/%s<shim>%s) in --artifacts=%s; point --artifacts at an extracted Kata release (see pkg/node/install/README.md, \"Artifacts\")", goConfigDir, configFilePrefix, configFileSuffix, s.ArtifactsDir)
		}
	}
	for _, n := range names {
		sh, ok := found[n]
		if !ok {
			return s, fmt.Errorf("--shims: the artifacts in %s have no %s%s%s; remove %q from --shims or use other artifacts", s.ArtifactsDir, configFilePrefix, n, configFileSuffix, n)
		}
		s.Runtimes = append(s.Runtimes, Runtime{Handler: kataHandlerPrefix + n, Entry: map[string]any{
			"runtime_type":                    "io.containerd.kata-" + n + ".v2",
			"runtime_path":                    sh.binary,
			"privileged_without_host_devices": true,
			"pod_annotations":                 []any{"io.katacontainers.*"},
			"options":                         map[string]any{"ConfigPath": sh.config},
		}})
	}
	return s, nil
}

// gvisorSandbox checks gVisor's artifacts and builds the runsc handler in
// the chosen layout.
func (in *Installer) gvisorSandbox() (Sandbox, error) {
	s := Sandbox{Name: SandboxGVisor, ArtifactsDir: in.opts.GVisorArtifacts, InstallDir: in.opts.GVisorInstallDir}
	need := []string{gvisorRunsc}
	if in.opts.GVisorShim == GVisorShimRunsc {
		need = append(need, gvisorShim)
	}
	for _, n := range need {
		fi, err := in.ops.Lstat(filepath.Join(s.ArtifactsDir, n))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return s, fmt.Errorf("--gvisor-artifacts=%s has no executable %s (%v); build it from gvisor.dev/gvisor (see pkg/node/install/README.md, \"Artifacts\")", s.ArtifactsDir, n, err)
		}
	}
	runsc := path.Join(s.InstallDir, gvisorRunsc)
	switch in.opts.GVisorShim {
	case GVisorShimRunsc:
		// gVisor's shim finds runsc through the shim config's binary_name.
		cfg := map[string]any{}
		if b, ok, err := readOptional(in.ops, filepath.Join(s.ArtifactsDir, gvisorConfig)); err != nil {
			return s, err
		} else if ok {
			if cfg, err = containerd.Parse(filepath.Join(s.ArtifactsDir, gvisorConfig), b); err != nil {
				return s, err
			}
		}
		cfg["binary_name"] = runsc
		body, err := containerd.Marshal(cfg)
		if err != nil {
			return s, fmt.Errorf("encoding %s: %w", gvisorConfig, err)
		}
		s.Generated = map[string][]byte{gvisorConfig: append([]byte("# Written by mtscn-node install for gVisor's shim.\n"), body...)}
		s.Runtimes = []Runtime{{Handler: GVisorHandler, Entry: map[string]any{
			"runtime_type": gvisorShimType,
			"runtime_path": path.Join(s.InstallDir, gvisorShim),
			"options": map[string]any{
				"TypeUrl":    "io.containerd.runsc.v1.options",
				"ConfigPath": path.Join(s.InstallDir, gvisorConfig),
			},
		}}}
	case GVisorShimRunc:
		s.Runtimes = []Runtime{{Handler: GVisorHandler, Entry: map[string]any{
			"runtime_type": runcShimType,
			"options":      map[string]any{"BinaryName": runsc},
		}}}
	}
	return s, nil
}

// typePrefix is what a served runtime's runtime_type must start with for
// the installer to call it its own: the type it wrote.
func typePrefix(r Runtime) string {
	t, _ := r.Entry["runtime_type"].(string)
	return t
}
