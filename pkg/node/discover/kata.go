package discover

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/mtscn/mtscn/pkg/node/containerd"
	"github.com/mtscn/mtscn/pkg/node/hostpath"
	"github.com/mtscn/mtscn/pkg/node/withdrawal"
	"github.com/mtscn/mtscn/pkg/wellknown"
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
	// CRI says whether containerd's CRI was asked which handlers it serves:
	// "asked <socket>", or why not.
	CRI string `json:"cri"`
	// Withdrawn are the handlers the installer withdrew (its note,
	// pkg/node/withdrawal): they are not reported as served.
	Withdrawn []string `json:"withdrawn,omitempty"`
}

// Sandbox kinds of a handler.
const (
	// SandboxKata: a Kata Containers shim (runtime_type io.containerd.kata*).
	SandboxKata = wellknown.SandboxKata
	// SandboxGVisor: gVisor, through its shim (runtime_type
	// io.containerd.runsc*), through the runc shim with runsc as its
	// BinaryName, or a handler named runsc* or gvisor*.
	SandboxGVisor = wellknown.SandboxGVisor
)

// sandboxKind classifies a configured runtime: SandboxKata, SandboxGVisor,
// or "" for shared-kernel runtimes such as runc.
func sandboxKind(name, runtimeType, binaryName string) string {
	switch {
	case strings.HasPrefix(runtimeType, "io.containerd.kata"):
		return SandboxKata
	case strings.HasPrefix(runtimeType, "io.containerd.runsc"), strings.HasPrefix(path.Base(binaryName), "runsc"),
		strings.HasPrefix(name, "runsc"), strings.HasPrefix(name, "gvisor"):
		return SandboxGVisor
	}
	return ""
}

// Handler is one containerd CRI runtime (a RuntimeClass handler).
type Handler struct {
	Name        string `json:"name"`
	RuntimeType string `json:"runtimeType"`
	// Sandbox is SandboxKata, SandboxGVisor, or "" (runc and the like).
	Sandbox string `json:"sandbox,omitempty"`
	// CRIListed says whether containerd's CRI status lists the handler
	// (nil when the CRI was not asked).
	CRIListed *bool `json:"criListed,omitempty"`
	// Withdrawn is true when the installer withdrew the handler before
	// changing containerd (pkg/node/withdrawal): discovery does not report
	// it as served, so mtscn.io/runtime.<handler> goes away.
	Withdrawn bool `json:"withdrawn,omitempty"`
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
	// Sizing is how the VM is sized (docs/vm-footprint.md):
	// wellknown.SizingStatic for static_sandbox_resource_mgmt or a
	// runtime-rs shim, else wellknown.SizingHotplug.
	Sizing string `json:"sizing,omitempty"`
	// ShmBacked is true when guest RAM is a file in /dev/shm: QEMU with
	// virtio-fs and no hugepages. Such VMs count against GuestMemoryBytes.
	ShmBacked bool `json:"shmBacked"`
	// Error says why the Kata configuration could not be read.
	Error string `json:"error,omitempty"`
}

// Kata's default configuration search path when a handler names no ConfigPath.
var kataDefaultConfigs = []string{
	"/etc/kata-containers/configuration.toml",
	"/usr/share/defaults/kata-containers/configuration.toml",
}

func discoverKata(ctx context.Context, h host, mainConfig, criSocket, withdrawnNote string) (*Kata, error) {
	k := &Kata{ContainerdConfig: mainConfig, Imports: []string{}, Handlers: []Handler{}}
	// The installer's withdrawal note is read before containerd's config:
	// a handler withdrawn while this round runs is seen by the next one,
	// which the agent starts as soon as the note changes.
	note, noteErr := withdrawal.Note{}, error(nil)
	if withdrawnNote != "" {
		note, noteErr = withdrawal.Read(hostpath.Root(h.root), withdrawnNote)
	}
	// One reader of containerd's config chain (pkg/node/containerd): the
	// installer plans with the same one.
	chain, err := containerd.Load(mainConfig, containerd.Options{Root: hostpath.Root(h.root)})
	if err != nil && len(chain.Files) == 0 {
		if isNotExist(err) {
			return k, fmt.Errorf("containerd configuration %s not found (set --containerd-config if containerd keeps it elsewhere): %w", mainConfig, err)
		}
		return k, err
	}
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, f := range chain.Files[1:] {
		k.Imports = append(k.Imports, f.Path)
	}
	runtimes := chain.Runtimes()
	for name, r := range runtimes {
		rt, _ := r.(map[string]any)
		hd := Handler{Name: name}
		hd.RuntimeType, _ = rt["runtime_type"].(string)
		binary, _ := lookup(rt, "options", "BinaryName").(string)
		hd.Sandbox = sandboxKind(name, hd.RuntimeType, binary)
		hd.Kata = hd.Sandbox == SandboxKata
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
	// The label table of docs/labels.md: a sandbox handler is published
	// when containerd is configured with it and, when its CRI can be
	// asked, the CRI lists it.
	switch {
	case criSocket == "":
		k.CRI = "not asked (no CRI socket configured)"
	default:
		served, err := criHandlers(ctx, h.path(criSocket))
		switch {
		case errors.Is(err, errNoCRISocket):
			k.CRI = "not asked (" + criSocket + " is not there: not mounted, or containerd is not running)"
		case err != nil:
			k.CRI = "failed: " + err.Error()
			errs = append(errs, fmt.Errorf("asking containerd's CRI which handlers it serves: %w", err))
		default:
			k.CRI = "asked " + criSocket
			for i := range k.Handlers {
				listed := served[k.Handlers[i].Name]
				k.Handlers[i].CRIListed = &listed
			}
		}
	}
	// Withdrawn handlers are not served as far as the labels go. A note
	// that cannot be read withdraws every sandbox handler (fail closed:
	// the installer may be changing any of them).
	for i := range k.Handlers {
		hd := &k.Handlers[i]
		if note.Withdrawn(hd.Name) || (noteErr != nil && hd.Sandbox != "") {
			hd.Withdrawn = true
			k.Withdrawn = append(k.Withdrawn, hd.Name)
		}
	}
	if noteErr != nil {
		errs = append(errs, fmt.Errorf("%w; every sandbox handler is withheld until it is fixed", noteErr))
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return k, errors.Join(errs...)
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
		if b, err = h.readFile(c); err == nil {
			hd.ConfigPath = c
			break
		}
	}
	if err != nil {
		hd.Error = fmt.Sprintf("reading Kata configuration %s: %v", strings.Join(candidates, " or "), err)
		return
	}
	if err := parseKataConfig(b, hd); err != nil {
		hd.Error = fmt.Sprintf("Kata configuration %s: %v", hd.ConfigPath, err)
	}
}

// MaxDefaultMemoryMiB bounds default_memory (16 TiB): larger values are a
// configuration error, not a VM size.
const MaxDefaultMemoryMiB = 16 << 20

// parseKataConfig fills hd's VM sizing from the content of a Kata
// configuration file; on error hd keeps what was read before it.
func parseKataConfig(b []byte, hd *Handler) error {
	cfg := map[string]any{}
	if err := toml.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("parsing: %w", err)
	}
	hv, _ := cfg["hypervisor"].(map[string]any)
	names := make([]string, 0, len(hv))
	for n := range hv {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return errors.New("no [hypervisor.<name>] section")
	}
	hd.Hypervisor = names[0]
	sec, _ := hv[hd.Hypervisor].(map[string]any)
	mem, _ := sec["default_memory"].(int64)
	if mem < 0 || mem > MaxDefaultMemoryMiB {
		return fmt.Errorf("[hypervisor.%s] default_memory = %d MiB is out of range (0 to %d): fix the file", hd.Hypervisor, mem, MaxDefaultMemoryMiB)
	}
	hd.DefaultMemoryMiB = mem
	vcpus := toInt64(sec["default_vcpus"])
	if vcpus < 0 || vcpus > 1<<16 {
		return fmt.Errorf("[hypervisor.%s] default_vcpus = %v is out of range (0 to 65536): fix the file", hd.Hypervisor, sec["default_vcpus"])
	}
	hd.DefaultVCPUs = vcpus
	hd.SharedFS, _ = sec["shared_fs"].(string)
	hd.EnableHugepages, _ = sec["enable_hugepages"].(bool)
	hd.StaticSandboxResourceMgmt, _ = lookup(cfg, "runtime", "static_sandbox_resource_mgmt").(bool)
	hd.Sizing = wellknown.SizingHotplug
	if hd.StaticSandboxResourceMgmt || strings.Contains(hd.RuntimeType, "runtime-rs") || strings.Contains(hd.Name, "runtime-rs") {
		hd.Sizing = wellknown.SizingStatic
	}
	hd.ShmBacked = hd.Hypervisor == "qemu" && strings.HasPrefix(hd.SharedFS, "virtio-fs") && !hd.EnableHugepages
	return nil
}

// toInt64 accepts TOML integers and floats (default_vcpus may be fractional
// in runtime-rs configurations).
func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		if n != n || n >= math.MaxInt64 || n <= math.MinInt64 { // NaN or out of range
			return -1
		}
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
