package discover

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// Virtualization modes (the mtscn.io/virt-mode label values, plus none).
const (
	ModeHardware = wellknown.VirtModeHardware
	ModeNested   = wellknown.VirtModeNested
	ModePVM      = wellknown.VirtModePVM
	ModeNone     = "none"
	// ModeUnknown: a device exists but the agent may not open it.
	ModeUnknown = "unknown"
)

// KVMAPIVersion is the only KVM API version Linux has ever reported.
const KVMAPIVersion = 12

// KVM modules whose presence under /sys/module tells how /dev/kvm is backed
// (the values of the raw feature wellknown.KVMModule).
const (
	ModuleKVMIntel = wellknown.ModuleKVMIntel
	ModuleKVMAMD   = wellknown.ModuleKVMAMD
	ModuleKVMPVM   = wellknown.ModuleKVMPVM
)

// KVM describes whether this node can run Kata VMs.
type KVM struct {
	// Device is true when /dev/kvm exists.
	Device bool `json:"device"`
	// APIVersion is KVM_GET_API_VERSION's answer (0 when not probed).
	APIVersion int `json:"apiVersion,omitempty"`
	// CreateVM is true when KVM_CREATE_VM succeeded.
	CreateVM bool `json:"createVM"`
	// VhostVsock is true when /dev/vhost-vsock opens read-write: every Kata
	// VM talks to its agent over vsock (vhost_vsock module).
	VhostVsock bool `json:"vhostVsock"`
	// Usable is the mtscn.io/kvm label: /dev/kvm opens, answers API
	// version 12 and creates a VM, and /dev/vhost-vsock opens. Nil when
	// the agent could not tell: a device exists but the agent may not open
	// it (the error is in Result.Errors["kvm"]; never read as "no KVM").
	Usable *bool `json:"usable,omitempty"`
	// NotUsable says why KVM is not usable, or cannot be judged.
	NotUsable []string `json:"notUsable,omitempty"`
	// Modules are the KVM vendor modules loaded (kvm_intel, kvm_amd, kvm_pvm).
	Modules []string `json:"modules"`
	// Module is the one backing /dev/kvm.
	Module string `json:"module,omitempty"`
	// Nested is the vendor module's nested parameter: guests of this node
	// may run VMs themselves.
	Nested bool `json:"nested"`
	// TEE lists the confidential-VM technologies the vendor module has
	// enabled (sev, sev_es, sev_snp, tdx).
	TEE []string `json:"tee"`
	// Vhost lists the vhost devices that exist (vhost-vsock, vhost-net).
	Vhost []string `json:"vhost"`
	// Mode is hardware, nested or pvm when usable, unknown when Usable is
	// nil, else none.
	Mode string `json:"mode"`
}

// IsUsable reports whether KVM is known to be usable for Kata VMs.
func (k *KVM) IsUsable() bool { return k != nil && k.Usable != nil && *k.Usable }

// Reasons in KVM.NotUsable for missing devices.
const (
	NoKVMDevice        = "/dev/kvm does not exist (no KVM module loaded, or not exposed to this VM)"
	NoVhostVsockDevice = "/dev/vhost-vsock does not exist: load the vhost_vsock module (modprobe vhost_vsock), every Kata VM needs it"
)

// KVMProbe is what probing the KVM device found.
type KVMProbe struct {
	APIVersion int
	CreateVM   bool
}

func discoverKVM(h host, info cpuInfo, infoErr error, probe func(string) (KVMProbe, error), openDev func(string) error) (*KVM, error) {
	k := &KVM{Modules: []string{}, TEE: []string{}, Vhost: []string{}, Mode: ModeNone}
	var errs []error
	if infoErr != nil {
		errs = append(errs, infoErr)
	}
	for _, m := range []string{ModuleKVMIntel, ModuleKVMAMD, ModuleKVMPVM} {
		if h.exists("/sys/module/" + m) {
			k.Modules = append(k.Modules, m)
		}
	}
	for _, d := range []string{"vhost-net", "vhost-vsock"} {
		if h.exists("/dev/" + d) {
			k.Vhost = append(k.Vhost, d)
		}
	}
	k.Module = kvmModule(k.Modules, info)
	switch k.Module {
	case ModuleKVMIntel, ModuleKVMAMD:
		p := "/sys/module/" + k.Module + "/parameters/"
		if nested, err := h.readBool(p + "nested"); err == nil {
			k.Nested = nested
		} else if !isNotExist(err) {
			errs = append(errs, fmt.Errorf("reading %s nested parameter: %w", k.Module, err))
		}
		for _, tee := range []string{"sev", "sev_es", "sev_snp", "tdx"} {
			if on, err := h.readBool(p + tee); err == nil && on {
				k.TEE = append(k.TEE, tee)
			}
		}
	}

	// An existing device the agent may not open is an error, and leaves
	// usability unknown: never "no KVM".
	unknown := false
	denied := func(dev string, err error) {
		unknown = true
		errs = append(errs, fmt.Errorf("%w: %s", err, accessHint(h.path(dev))))
		k.NotUsable = append(k.NotUsable, dev+" cannot be opened by the agent")
	}
	kvmOK := false
	if !h.exists("/dev/kvm") {
		k.NotUsable = append(k.NotUsable, NoKVMDevice)
	} else {
		k.Device = true
		p, err := probe(h.path("/dev/kvm"))
		k.APIVersion, k.CreateVM = p.APIVersion, p.CreateVM
		switch {
		case errors.Is(err, fs.ErrPermission):
			denied("/dev/kvm", err)
		case err != nil:
			k.NotUsable = append(k.NotUsable, err.Error())
		default:
			kvmOK = true
		}
	}
	if !h.exists("/dev/vhost-vsock") {
		k.NotUsable = append(k.NotUsable, NoVhostVsockDevice)
	} else {
		err := openDev(h.path("/dev/vhost-vsock"))
		switch {
		case errors.Is(err, fs.ErrPermission):
			denied("/dev/vhost-vsock", err)
		case err != nil:
			k.NotUsable = append(k.NotUsable, err.Error())
		default:
			k.VhostVsock = true
		}
	}
	switch {
	case unknown:
		k.Mode = ModeUnknown
	default:
		usable := kvmOK && k.VhostVsock
		k.Usable = &usable
		if usable {
			k.Mode = kvmMode(k.Module, info)
		}
	}
	return k, errors.Join(errs...)
}

// kvmModule picks the module that backs /dev/kvm: the CPU vendor's module
// when the CPU has VMX/SVM, else kvm_pvm.
func kvmModule(loaded []string, info cpuInfo) string {
	has := func(m string) bool { return slices.Contains(loaded, m) }
	switch {
	case info.has("vmx") && has(ModuleKVMIntel):
		return ModuleKVMIntel
	case info.has("svm") && has(ModuleKVMAMD):
		return ModuleKVMAMD
	case has(ModuleKVMPVM):
		return ModuleKVMPVM
	case has(ModuleKVMIntel):
		return ModuleKVMIntel
	case has(ModuleKVMAMD):
		return ModuleKVMAMD
	}
	return ""
}

// kvmMode derives the virtualization mode of a usable /dev/kvm.
func kvmMode(module string, info cpuInfo) string {
	switch {
	case module == ModuleKVMPVM:
		return ModePVM
	case info.has("hypervisor"):
		return ModeNested
	}
	return ModeHardware
}
