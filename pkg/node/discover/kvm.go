package discover

import (
	"errors"
	"fmt"
	"slices"
)

// Virtualization modes (the mtscn.io/virt-mode label values, plus none).
const (
	ModeHardware = "hardware"
	ModeNested   = "nested"
	ModePVM      = "pvm"
	ModeNone     = "none"
)

// KVMAPIVersion is the only KVM API version Linux has ever reported.
const KVMAPIVersion = 12

// KVM modules whose presence under /sys/module tells how /dev/kvm is backed.
const (
	ModuleKVMIntel = "kvm_intel"
	ModuleKVMAMD   = "kvm_amd"
	ModuleKVMPVM   = "kvm_pvm"
)

// KVM describes whether this node can run hardware-assisted VMs.
type KVM struct {
	// Device is true when /dev/kvm exists.
	Device bool `json:"device"`
	// APIVersion is KVM_GET_API_VERSION's answer (0 when not probed).
	APIVersion int `json:"apiVersion,omitempty"`
	// CreateVM is true when KVM_CREATE_VM succeeded.
	CreateVM bool `json:"createVM"`
	// Usable is the mtscn.io/kvm label: the device opens, answers API
	// version 12 and creates a VM.
	Usable bool `json:"usable"`
	// ProbeError says why the device is not usable.
	ProbeError string `json:"probeError,omitempty"`
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
	// Vhost lists the vhost devices Kata needs that exist (vhost-vsock, vhost-net).
	Vhost []string `json:"vhost"`
	// Mode is hardware, nested, pvm or none.
	Mode string `json:"mode"`
}

// KVMProbe is what probing the KVM device found.
type KVMProbe struct {
	APIVersion int
	CreateVM   bool
}

func discoverKVM(h host, info cpuInfo, infoErr error, probe func(string) (KVMProbe, error)) (*KVM, error) {
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

	dev := h.path("/dev/kvm")
	if !h.exists("/dev/kvm") {
		k.ProbeError = "/dev/kvm does not exist"
	} else {
		k.Device = true
		p, err := probe(dev)
		k.APIVersion, k.CreateVM = p.APIVersion, p.CreateVM
		if err != nil {
			k.ProbeError = err.Error()
		} else {
			k.Usable = true
		}
	}
	if k.Usable {
		k.Mode = kvmMode(k.Module, info)
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
