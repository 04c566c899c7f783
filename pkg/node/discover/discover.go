package discover

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/klog/v2"
)

// Source names, as accepted by Options.Sources and used as keys of Result.Errors.
const (
	SourceKVM    = "kvm"
	SourceCPU    = "cpu"
	SourceIOMMU  = "iommu"
	SourcePCI    = "pci"
	SourceMemory = "memory"
	SourceKata   = "kata"
)

// AllSources lists every source in the order Discover runs them.
var AllSources = []string{SourceCPU, SourceKVM, SourceIOMMU, SourcePCI, SourceMemory, SourceKata}

// DefaultContainerdConfig is where containerd reads its configuration on the host.
const DefaultContainerdConfig = "/etc/containerd/config.toml"

// Options configures Discover. The zero value discovers everything on "/".
type Options struct {
	// HostRoot is prepended to every host path ("/" on the host, "/host" in
	// the DaemonSet, a fixture tree in tests).
	HostRoot string
	// ContainerdConfig is containerd's main configuration file as a host
	// path (before HostRoot is prepended). Default DefaultContainerdConfig.
	ContainerdConfig string
	// Sources restricts discovery to these sources; empty means AllSources.
	Sources []string
	// ProbeKVM opens the KVM device at path, checks KVM_GET_API_VERSION and
	// creates (and closes) a VM. Default ProbeKVMDevice, the real ioctls.
	ProbeKVM func(path string) (KVMProbe, error)
	// MaxSandboxes caps Capacity.Sandboxes. Default DefaultMaxSandboxes.
	MaxSandboxes int64
	// Statfs reports the size of the filesystem mounted at path and whether
	// it is a tmpfs. Default StatfsTmpfs, the real statfs(2).
	Statfs func(path string) (sizeBytes int64, tmpfs bool, err error)
}

// Result is everything Discover found. Sections of sources that did not run
// are nil; a source that failed has an entry in Errors and may still have a
// partial section.
type Result struct {
	HostRoot string  `json:"hostRoot"`
	CPU      *CPU    `json:"cpu,omitempty"`
	KVM      *KVM    `json:"kvm,omitempty"`
	IOMMU    *IOMMU  `json:"iommu,omitempty"`
	PCI      *PCI    `json:"pci,omitempty"`
	Memory   *Memory `json:"memory,omitempty"`
	Kata     *Kata   `json:"kata,omitempty"`
	// Capacity is derived from Memory, Kata and KVM once the sources ran.
	Capacity *Capacity `json:"capacity,omitempty"`
	// Errors maps a source name to the error that stopped or degraded it.
	Errors map[string]string `json:"errors,omitempty"`
}

// ValidateSources returns an error naming the first unknown source.
func ValidateSources(sources []string) error {
	for _, s := range sources {
		if !slices.Contains(AllSources, s) {
			return fmt.Errorf("unknown discovery source %q: valid sources are %v", s, AllSources)
		}
	}
	return nil
}

// Discover runs the selected sources against the host under opts.HostRoot.
// It never fails as a whole: each source's error is recorded in
// Result.Errors.
func Discover(ctx context.Context, opts Options) *Result {
	logger := klog.FromContext(ctx)
	opts = opts.withDefaults()
	h := host{root: opts.HostRoot}
	res := &Result{HostRoot: opts.HostRoot}
	enabled := func(name string) bool {
		return len(opts.Sources) == 0 || slices.Contains(opts.Sources, name)
	}
	fail := func(source string, err error) {
		if err == nil {
			return
		}
		if res.Errors == nil {
			res.Errors = map[string]string{}
		}
		res.Errors[source] = err.Error()
		logger.Info("discovery source failed", "source", source, "err", err)
	}
	run := func(name string, f func() error) {
		if !enabled(name) {
			return
		}
		start := time.Now()
		fail(name, f())
		logger.V(4).Info("discovery source done", "source", name, "duration", time.Since(start))
	}

	// The CPU flags feed both the cpu and the kvm source; read them once.
	var info cpuInfo
	var infoErr error
	if enabled(SourceCPU) || enabled(SourceKVM) {
		info, infoErr = readCPUInfo(h)
	}
	run(SourceCPU, func() (err error) { res.CPU, err = discoverCPU(h, info, infoErr); return })
	run(SourceKVM, func() (err error) { res.KVM, err = discoverKVM(h, info, infoErr, opts.ProbeKVM); return })
	run(SourceIOMMU, func() (err error) { res.IOMMU, err = discoverIOMMU(h); return })
	run(SourcePCI, func() (err error) { res.PCI, err = discoverPCI(h); return })
	run(SourceMemory, func() (err error) { res.Memory, err = discoverMemory(h, opts.Statfs); return })
	run(SourceKata, func() (err error) { res.Kata, err = discoverKata(h, opts.ContainerdConfig); return })
	res.Capacity = computeCapacity(res, opts.MaxSandboxes)
	return res
}

func (o Options) withDefaults() Options {
	if o.HostRoot == "" {
		o.HostRoot = "/"
	}
	o.HostRoot = filepath.Clean(o.HostRoot)
	if o.ContainerdConfig == "" {
		o.ContainerdConfig = DefaultContainerdConfig
	}
	if o.ProbeKVM == nil {
		o.ProbeKVM = ProbeKVMDevice
	}
	if o.MaxSandboxes <= 0 {
		o.MaxSandboxes = DefaultMaxSandboxes
	}
	if o.Statfs == nil {
		o.Statfs = StatfsTmpfs
	}
	return o
}
