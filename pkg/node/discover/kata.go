package discover

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Kata lists the runtime handlers configured in containerd and, for Kata
// handlers, the VM sizing of their Kata configuration.
type Kata struct {
	// ContainerdConfig is the main containerd configuration file read (host path).
	ContainerdConfig string `json:"containerdConfig"`
	// Imports are the files merged from its imports (host paths, in order).
	Imports []string `json:"imports"`
	// Handlers are all runtimes in containerd's CRI configuration, sorted by name.
	Handlers []Handler `json:"handlers"`
}

// Handler is one containerd CRI runtime (a RuntimeClass handler).
type Handler struct {
	Name        string `json:"name"`
	RuntimeType string `json:"runtimeType"`
	// Kata is true for io.containerd.kata*.v2 shims.
	Kata bool `json:"kata"`
	// ConfigPath is the Kata configuration file (host path) the shim uses.
	ConfigPath string `json:"configPath,omitempty"`
	// Hypervisor is the [hypervisor.<name>] section of the Kata configuration.
	Hypervisor string `json:"hypervisor,omitempty"`
	// DefaultMemoryMiB and DefaultVCPUs are the VM's boot size.
	DefaultMemoryMiB int64 `json:"defaultMemoryMiB,omitempty"`
	DefaultVCPUs     int64 `json:"defaultVCPUs,omitempty"`
	// StaticSandboxResourceMgmt sizes the VM once from the pod's limits
	// instead of hot-plugging them (docs/vm-footprint.md).
	StaticSandboxResourceMgmt bool `json:"staticSandboxResourceMgmt"`
	// SharedFS is virtio-fs, virtio-9p, virtio-fs-nydus or none.
	SharedFS string `json:"sharedFS,omitempty"`
	// EnableHugepages backs guest RAM with hugepages.
	EnableHugepages bool `json:"enableHugepages"`
	// Sizing is how the VM is sized (docs/vm-footprint.md): "static" for
	// static_sandbox_resource_mgmt or a runtime-rs shim, else "hotplug".
	Sizing string `json:"sizing,omitempty"`
	// ShmBacked is true when guest RAM is a file in /dev/shm: QEMU with
	// virtio-fs and no hugepages. Such VMs count against GuestMemoryBytes.
	ShmBacked bool `json:"shmBacked"`
	// Error says why the Kata configuration could not be read.
	Error string `json:"error,omitempty"`
}

// Sizing modes of a Kata handler.
const (
	SizingHotplug = "hotplug"
	SizingStatic  = "static"
)

// Kata's default configuration search path when a handler names no ConfigPath.
var kataDefaultConfigs = []string{
	"/etc/kata-containers/configuration.toml",
	"/usr/share/defaults/kata-containers/configuration.toml",
}

// criRuntimesPaths are where the CRI runtimes live in containerd's config
// versions 3 (containerd 2.x), 2 (1.3 to 1.7) and 1.
var criRuntimesPaths = [][]string{
	{"plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes"},
	{"plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes"},
	{"plugins", "cri", "containerd", "runtimes"},
}

func discoverKata(h host, mainConfig string) (*Kata, error) {
	k := &Kata{ContainerdConfig: mainConfig, Imports: []string{}, Handlers: []Handler{}}
	chain, err := loadContainerdChain(h, mainConfig)
	if err != nil && len(chain) == 0 {
		if isNotExist(err) {
			return k, fmt.Errorf("containerd configuration %s not found (set --containerd-config if containerd keeps it elsewhere): %w", mainConfig, err)
		}
		return k, err
	}
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, f := range chain[1:] {
		k.Imports = append(k.Imports, f.path)
	}
	version := toInt64(chain[0].doc["version"])
	merged := map[string]any{"plugins": effectivePlugins(chain, version)}
	runtimes := map[string]any{}
	for _, p := range criRuntimesPaths {
		if m, ok := lookup(merged, p...).(map[string]any); ok {
			for name, r := range m {
				runtimes[name] = r
			}
		}
	}
	for name, r := range runtimes {
		rt, _ := r.(map[string]any)
		hd := Handler{Name: name}
		hd.RuntimeType, _ = rt["runtime_type"].(string)
		hd.Kata = strings.HasPrefix(hd.RuntimeType, "io.containerd.kata")
		if hd.Kata {
			cfg, _ := lookup(rt, "options", "ConfigPath").(string)
			readKataConfig(h, &hd, cfg)
			if hd.Error != "" {
				errs = append(errs, fmt.Errorf("handler %s: %s", name, hd.Error))
			}
		}
		k.Handlers = append(k.Handlers, hd)
	}
	sort.Slice(k.Handlers, func(i, j int) bool { return k.Handlers[i].Name < k.Handlers[j].Name })
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return k, errors.Join(errs...)
}

// containerdFile is one file of containerd's configuration, in load order.
type containerdFile struct {
	path string // host path
	doc  map[string]any
}

// loadContainerdChain returns the files containerd loads for the host file
// mainConfig, in containerd's order: the main file, then its imports
// breadth first, each glob's matches sorted. A relative import is resolved
// against the importing file's directory, except a relative glob in a
// config of version 2 or lower: containerd 1.x globs it against its working
// directory, / under systemd (checked with containerd 1.6's `config dump`).
// A missing main file is an error
// (the chain is empty); a missing or unparsable import is reported but the
// rest is still read.
func loadContainerdChain(h host, mainConfig string) ([]containerdFile, error) {
	var chain []containerdFile
	var errs []error
	loaded := map[string]bool{}
	queue := []string{mainConfig}
	var version int64
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if loaded[path] {
			continue
		}
		loaded[path] = true
		b, err := os.ReadFile(h.path(path))
		if err != nil {
			if len(chain) == 0 {
				return nil, fmt.Errorf("reading containerd configuration %s: %w", path, err)
			}
			errs = append(errs, fmt.Errorf("reading containerd configuration %s: %w", path, err))
			continue
		}
		doc := map[string]any{}
		if err := toml.Unmarshal(b, &doc); err != nil {
			if len(chain) == 0 {
				return nil, fmt.Errorf("parsing containerd configuration %s: %w", path, err)
			}
			errs = append(errs, fmt.Errorf("parsing containerd configuration %s: %w", path, err))
			continue
		}
		if len(chain) == 0 {
			version = toInt64(doc["version"])
		}
		chain = append(chain, containerdFile{path: path, doc: doc})
		imps, _ := doc["imports"].([]any)
		for _, imp := range imps {
			pattern, ok := imp.(string)
			if !ok {
				continue
			}
			pattern = filepath.Clean(pattern)
			glob := strings.ContainsAny(pattern, "*?[")
			switch {
			case filepath.IsAbs(pattern):
			case glob && version <= 2:
				pattern = filepath.Join("/", pattern)
			default:
				pattern = filepath.Join(filepath.Dir(path), pattern)
			}
			if !glob {
				queue = append(queue, pattern)
				continue
			}
			matches, err := filepath.Glob(h.path(pattern))
			if err != nil {
				errs = append(errs, fmt.Errorf("containerd configuration %s: bad import %q: %w", path, pattern, err))
				continue
			}
			sort.Strings(matches)
			for _, m := range matches {
				if rel, err := filepath.Rel(h.root, m); err == nil {
					queue = append(queue, "/"+rel)
				}
			}
		}
	}
	return chain, errors.Join(errs...)
}

// effectivePlugins merges the plugins tables of the chain as containerd
// does for the main file's config version: up to version 2 (containerd
// 1.x) a file's table for a plugin replaces the whole table of earlier
// files (so a drop-in that defines one runtime hides the runtimes of
// config.toml); version 3 (containerd 2.x) merges them key by key.
func effectivePlugins(chain []containerdFile, version int64) map[string]any {
	out := map[string]any{}
	for _, f := range chain {
		plugins, _ := f.doc["plugins"].(map[string]any)
		for id, sec := range plugins {
			if version >= 3 {
				if dst, ok := out[id].(map[string]any); ok {
					if src, ok := sec.(map[string]any); ok {
						mergeMaps(dst, src)
						continue
					}
				}
			}
			out[id] = sec
		}
	}
	return out
}

// readKataConfig fills a Kata handler from its configuration file.
func readKataConfig(h host, hd *Handler, configPath string) {
	candidates := kataDefaultConfigs
	if configPath != "" {
		candidates = []string{configPath}
	}
	var b []byte
	var err error
	for _, c := range candidates {
		if b, err = os.ReadFile(h.path(c)); err == nil {
			hd.ConfigPath = c
			break
		}
	}
	if err != nil {
		hd.Error = fmt.Sprintf("reading Kata configuration %s: %v", strings.Join(candidates, " or "), err)
		return
	}
	cfg := map[string]any{}
	if err := toml.Unmarshal(b, &cfg); err != nil {
		hd.Error = fmt.Sprintf("parsing Kata configuration %s: %v", hd.ConfigPath, err)
		return
	}
	hv, _ := cfg["hypervisor"].(map[string]any)
	names := make([]string, 0, len(hv))
	for n := range hv {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		hd.Error = fmt.Sprintf("Kata configuration %s has no [hypervisor.<name>] section", hd.ConfigPath)
		return
	}
	hd.Hypervisor = names[0]
	sec, _ := hv[hd.Hypervisor].(map[string]any)
	hd.DefaultMemoryMiB, _ = sec["default_memory"].(int64)
	hd.DefaultVCPUs = toInt64(sec["default_vcpus"])
	hd.SharedFS, _ = sec["shared_fs"].(string)
	hd.EnableHugepages, _ = sec["enable_hugepages"].(bool)
	hd.StaticSandboxResourceMgmt, _ = lookup(cfg, "runtime", "static_sandbox_resource_mgmt").(bool)
	hd.Sizing = SizingHotplug
	if hd.StaticSandboxResourceMgmt || strings.Contains(hd.RuntimeType, "runtime-rs") || strings.Contains(hd.Name, "runtime-rs") {
		hd.Sizing = SizingStatic
	}
	hd.ShmBacked = hd.Hypervisor == "qemu" && strings.HasPrefix(hd.SharedFS, "virtio-fs") && !hd.EnableHugepages
}

// toInt64 accepts TOML integers and floats (default_vcpus may be fractional
// in runtime-rs configurations).
func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return 0
}

// lookup walks nested TOML tables.
func lookup(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		t, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = t[k]
	}
	return cur
}

// mergeMaps merges src into dst: tables merge recursively, other values of
// src replace those of dst.
func mergeMaps(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				mergeMaps(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
}
