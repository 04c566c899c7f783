package discover

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/node/withdrawal"
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
	// OpenDevice opens (and closes) a device node such as
	// /dev/vhost-vsock. Default OpenDevice, the real open(2).
	OpenDevice func(path string) error
	// CRISocket is containerd's socket as a host path: discovery asks it
	// which handlers the CRI serves when it is there. Default
	// DefaultCRISocket; "none" never asks.
	CRISocket string
	// SourceTimeout bounds each source: a source still running then (a
	// host file that blocks) is reported as failed. Default
	// DefaultSourceTimeout.
	SourceTimeout time.Duration
	// MaxSandboxes caps Capacity.Sandboxes. Default DefaultMaxSandboxes.
	MaxSandboxes int64
	// WithdrawnNote is the host path of the installer's withdrawal note
	// (pkg/node/withdrawal): handlers it names are not reported as served.
	// Default withdrawal.DefaultPath; "none" never reads it.
	WithdrawnNote string
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

// DefaultSourceTimeout bounds each discovery source.
const DefaultSourceTimeout = 10 * time.Second

// Discover runs the selected sources against the host under opts.HostRoot.
// It never fails as a whole: each source's error, panic or timeout is
// recorded in Result.Errors and the other sources still run.
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
		if prev, ok := res.Errors[source]; ok {
			err = fmt.Errorf("%s; %w", prev, err)
		}
		res.Errors[source] = err.Error()
		logger.Info("discovery source failed", "source", source, "err", err)
	}
	// run runs one source in its own goroutine, bounded by
	// opts.SourceTimeout, and applies its result to res only if it
	// finished in time: a read that blocks in the kernel cannot be
	// interrupted, so it is abandoned (and reported) rather than waited for.
	run := func(name string, f func() (apply func(), err error)) {
		if !enabled(name) {
			return
		}
		start := time.Now()
		apply, err := bounded(ctx, opts.SourceTimeout, name, f)
		if apply != nil {
			apply()
		}
		fail(name, err)
		logger.V(4).Info("discovery source done", "source", name, "duration", time.Since(start))
	}

	// The CPU flags feed both the cpu and the kvm source; read them once.
	var info cpuInfo
	infoErr := errors.New("not read")
	if enabled(SourceCPU) || enabled(SourceKVM) {
		apply, err := bounded(ctx, opts.SourceTimeout, "cpuinfo", func() (func(), error) {
			i, err := readCPUInfo(h)
			return func() { info, infoErr = i, err }, nil
		})
		if err != nil {
			infoErr = fmt.Errorf("reading /proc/cpuinfo: %w", err)
		} else {
			apply()
		}
	}
	run(SourceCPU, func() (func(), error) {
		c, err := discoverCPU(h, info, infoErr)
		return func() { res.CPU = c }, err
	})
	run(SourceKVM, func() (func(), error) {
		k, err := discoverKVM(h, info, infoErr, opts.ProbeKVM, opts.OpenDevice)
		return func() { res.KVM = k }, err
	})
	run(SourceIOMMU, func() (func(), error) {
		io, err := discoverIOMMU(h)
		return func() { res.IOMMU = io }, err
	})
	run(SourcePCI, func() (func(), error) {
		p, err := discoverPCI(h)
		return func() { res.PCI = p }, err
	})
	run(SourceMemory, func() (func(), error) {
		m, err := discoverMemory(h, opts.Statfs)
		return func() { res.Memory = m }, err
	})
	run(SourceKata, func() (func(), error) {
		k, err := discoverKata(ctx, h, opts.ContainerdConfig, opts.CRISocket, opts.WithdrawnNote)
		return func() { res.Kata = k }, err
	})
	res.Capacity = computeCapacity(res, opts.MaxSandboxes)
	return res
}

// bounded runs f in a goroutine and returns its result, an error when it
// panics, or an error when it is still running after timeout (f is then
// abandoned: its result is dropped) or ctx ends.
func bounded(ctx context.Context, timeout time.Duration, name string, f func() (func(), error)) (func(), error) {
	type outcome struct {
		apply func()
		err   error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: fmt.Errorf("internal error (panic) in %s discovery: %v\n%s", name, p, debug.Stack())}
			}
		}()
		apply, err := f()
		done <- outcome{apply, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case o := <-done:
		return o.apply, o.err
	case <-timer.C:
		return nil, fmt.Errorf("%s discovery did not finish within %v (a host file that blocks?); its result is dropped", name, timeout)
	case <-ctx.Done():
		return nil, fmt.Errorf("%s discovery interrupted: %w", name, ctx.Err())
	}
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
	switch o.CRISocket {
	case "":
		o.CRISocket = DefaultCRISocket
	case "none":
		o.CRISocket = ""
	}
	switch o.WithdrawnNote {
	case "":
		o.WithdrawnNote = withdrawal.DefaultPath
	case "none":
		o.WithdrawnNote = ""
	}
	if o.SourceTimeout <= 0 {
		o.SourceTimeout = DefaultSourceTimeout
	}
	if o.OpenDevice == nil {
		o.OpenDevice = OpenDevice
	}
	if o.MaxSandboxes <= 0 {
		o.MaxSandboxes = DefaultMaxSandboxes
	}
	if o.Statfs == nil {
		o.Statfs = StatfsTmpfs
	}
	return o
}
