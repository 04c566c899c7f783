package v1

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/pkg/apis/config/validation"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// HandlerPlaceholder in a requirement's key is replaced by the pod's
// runtime handler.
const HandlerPlaceholder = "{handler}"

var (
	// DefaultTenantLabelKeys name a Namespace's tenant, mtscn's own first,
	// then Capsule's old and new keys.
	DefaultTenantLabelKeys = []string{wellknown.LabelTenant, wellknown.LabelCapsuleTenant, wellknown.LabelProjectCapsuleTenant}
	// DefaultInfrastructureNamespaces never block and are never blocked.
	DefaultInfrastructureNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", "mtscn-system", "node-feature-discovery"}
	// DefaultSandboxedHandlers are the handler globs of sandboxed runtimes.
	DefaultSandboxedHandlers = []string{"kata*", "runsc*", "gvisor*"}
	// DefaultOffNodeHandlers are the handler globs of peer-pod runtimes.
	DefaultOffNodeHandlers = []string{"kata-remote*"}
	// DefaultVFIOResources are extended resources passed through with VFIO.
	DefaultVFIOResources = []string{"qat.intel.com/*", "nvidia.com/*"}
)

const (
	// DefaultLearnedMinSamples is how many samples an observed overhead
	// must rest on by default: a few sampling rounds of a few pods.
	DefaultLearnedMinSamples = 20
	// DefaultLearnedMaxFactor caps an observed overhead at 4× the model.
	DefaultLearnedMaxFactor = 4.0
)

func mi(n int64) *resource.Quantity {
	return resource.NewQuantity(n*1024*1024, resource.BinarySI)
}

// DefaultProfiles returns the VM sizing of Kata's shipped configurations
// (kata-deploy 4.x; sources in docs/sources.md). The first matching profile
// wins, so exact handlers come before the kata* fallback.
//
//   - Hotplug is the Go runtime's arithmetic: guest = default_memory (2048Mi)
//
//   - Σ limits. kata-qemu and kata-clh hot-plug the limits; kata-fc and
//     kata-qemu-nvidia-gpu set static_sandbox_resource_mgmt and add the same
//     sum at boot, so they size alike.
//
//   - Static is runtime-rs (kata-qemu-runtime-rs, kata-cloud-hypervisor,
//     kata-dragonball) and the TEE shims: guest = Σ limits + overhead_memory
//     (32Mi, 128Mi for TDX/SNP) when a limit is set, else default_memory.
//
//   - OffNode is peer pods (kata-remote): the VM runs in the cloud.
//
//   - UserSpace is gVisor (runsc, gvisor): no VM; the sandbox's own memory
//     is HostOverhead on top of the pod's requests, the figure the node
//     agent observes: a one-container pod on the real node of make e2e
//     cost 24Mi of Sentry and gofer in the pod cgroup plus 17Mi of
//     anonymous memory in its two containerd-shim-runsc-v1 and their runsc
//     helpers outside it, and the agent published a p95 of 41-42Mi over
//     three runs; 42Mi (docs/vm-footprint.md "gVisor",
//     test/e2e/README.md "Measured").
//
// HostOverhead is the VMM + shim resident memory on the host (QEMU and its
// virtiofsd ~96Mi, Cloud Hypervisor and Dragonball ~64Mi, Firecracker
// ~32Mi). SharedMemoryBacked marks the QEMU handlers whose guest RAM is a
// /dev/shm file because of virtio-fs; CLH uses memfd, Firecracker and
// Dragonball have no virtio-fs, and confidential guests share no file system.
func DefaultProfiles() []HypervisorProfile {
	p := func(handler, sizing string, defaultMem, overheadMem, host int64, shm bool) HypervisorProfile {
		return HypervisorProfile{Handler: handler, Sizing: SizingMode(sizing), DefaultMemory: mi(defaultMem),
			OverheadMemory: mi(overheadMem), HostOverhead: mi(host), SharedMemoryBacked: ptr.To(shm)}
	}
	return []HypervisorProfile{
		p("kata-remote*", "OffNode", 0, 0, 0, false),
		p("kata-qemu-runtime-rs", "Static", 2048, 32, 96, true),
		p("kata-cloud-hypervisor", "Static", 2048, 32, 64, false),
		p("kata-dragonball", "Static", 2048, 32, 64, false),
		p("kata-qemu*tdx*", "Static", 2048, 128, 96, false),
		p("kata-qemu*snp*", "Static", 2048, 128, 96, false),
		p("kata-qemu-nvidia-gpu*", "Hotplug", 2048, 0, 96, true),
		p("kata-clh", "Hotplug", 2048, 0, 64, false),
		p("kata-fc", "Hotplug", 2048, 0, 32, false),
		p("kata-qemu*", "Hotplug", 2048, 0, 96, true),
		p("kata*", "Hotplug", 2048, 0, 96, true),
		p("runsc*", "UserSpace", 0, 0, 42, false),
		p("gvisor*", "UserSpace", 0, 0, 42, false),
	}
}

// DefaultRuntimeRequirements: every Kata handler needs a usable /dev/kvm and
// its handler configured in the node's containerd; a gVisor handler (runsc*,
// gvisor*) needs only its handler, no KVM; TDX and SEV-SNP handlers
// need the CPU feature enabled. Runtime requirements never apply to
// off-node handlers (offNodeHandlers, kata-remote by default): their VM
// runs elsewhere.
func DefaultRuntimeRequirements() []RuntimeRequirement {
	isTrue := func(key string) []v1.NodeSelectorRequirement {
		return []v1.NodeSelectorRequirement{{Key: key, Operator: v1.NodeSelectorOpIn, Values: []string{"true"}}}
	}
	return []RuntimeRequirement{
		{
			Handlers: []string{"kata*"},
			Requirements: []NodeRequirement{
				{Name: "usable /dev/kvm", MatchExpressions: isTrue(wellknown.LabelKVM)},
				{Name: HandlerPlaceholder + " runtime handler", MatchExpressions: isTrue(wellknown.LabelRuntimePrefix + HandlerPlaceholder)},
			},
		},
		{
			// gVisor runs in user space: it needs its handler, not KVM.
			Handlers: []string{"runsc*", "gvisor*"},
			Requirements: []NodeRequirement{
				{Name: HandlerPlaceholder + " runtime handler", MatchExpressions: isTrue(wellknown.LabelRuntimePrefix + HandlerPlaceholder)},
			},
		},
		{Handlers: []string{"*tdx*"}, Requirements: []NodeRequirement{{Name: "TDX", MatchExpressions: isTrue(wellknown.LabelTDX)}}},
		{Handlers: []string{"*snp*"}, Requirements: []NodeRequirement{{Name: "SEV-SNP", MatchExpressions: isTrue(wellknown.LabelSNP)}}},
	}
}

// DefaultDeviceRequirements: a sandboxed pod that requests a QAT device gets
// a VF passed through with VFIO, which needs the IOMMU on and the VFs bound
// to vfio-pci. A runc pod uses the host driver and needs neither.
func DefaultDeviceRequirements() []DeviceRequirement {
	return []DeviceRequirement{{
		Resources:     []string{"qat.intel.com/*"},
		SandboxedOnly: true,
		Requirements: []NodeRequirement{
			{Name: "IOMMU", MatchExpressions: []v1.NodeSelectorRequirement{{Key: wellknown.LabelIOMMU, Operator: v1.NodeSelectorOpIn, Values: []string{"true"}}}},
			{Name: "QAT VFs bound to vfio-pci", MatchExpressions: []v1.NodeSelectorRequirement{{Key: wellknown.LabelQATVFIO, Operator: v1.NodeSelectorOpIn, Values: []string{"true"}}}},
		},
	}}
}

func setDefaultClassification(c *SandboxClassification) {
	if c.SandboxedHandlers == nil {
		c.SandboxedHandlers = append([]string(nil), DefaultSandboxedHandlers...)
	}
	if c.OffNodeHandlers == nil {
		c.OffNodeHandlers = append([]string(nil), DefaultOffNodeHandlers...)
	}
}

// SetDefaults_TenantIsolationArgs sets the default TenantIsolation args.
func SetDefaults_TenantIsolationArgs(obj *TenantIsolationArgs) {
	if obj.TenantLabelKeys == nil {
		obj.TenantLabelKeys = append([]string(nil), DefaultTenantLabelKeys...)
	}
	if obj.InfrastructureNamespaces == nil {
		obj.InfrastructureNamespaces = append([]string(nil), DefaultInfrastructureNamespaces...)
	}
	setDefaultClassification(&obj.SandboxClassification)
	if obj.SideChannelPolicy == nil {
		obj.SideChannelPolicy = ptr.To[SideChannelPolicy]("Enforce")
	}
}

// SetDefaults_SandboxOverheadArgs sets the default SandboxOverhead args.
func SetDefaults_SandboxOverheadArgs(obj *SandboxOverheadArgs) {
	setDefaultClassification(&obj.SandboxClassification)
	if obj.Profiles == nil {
		// Only the profiles that can apply: a profile whose handler is not
		// sandboxed is a validation error (e.g. the gVisor profiles when
		// sandboxedHandlers names only kata*).
		for _, p := range DefaultProfiles() {
			if validation.PatternCovered(obj.SandboxedHandlers, p.Handler) {
				obj.Profiles = append(obj.Profiles, p)
			}
		}
		if obj.Profiles == nil {
			obj.Profiles = []HypervisorProfile{}
		}
	}
	for i := range obj.Profiles {
		p := &obj.Profiles[i]
		if p.DefaultMemory == nil {
			p.DefaultMemory = mi(2048)
		}
		if p.OverheadMemory == nil {
			p.OverheadMemory = mi(0)
		}
		if p.HostOverhead == nil {
			p.HostOverhead = mi(0)
		}
		if p.SharedMemoryBacked == nil {
			p.SharedMemoryBacked = ptr.To(false)
		}
	}
	if obj.OvercommitRatio == nil {
		obj.OvercommitRatio = ptr.To(1.0)
	}
	if obj.VFIOResources == nil {
		obj.VFIOResources = append([]string(nil), DefaultVFIOResources...)
	}
	if obj.VFIOPinnedOverhead == nil {
		obj.VFIOPinnedOverhead = mi(1024)
	}
	if obj.ScoringStrategy == nil {
		obj.ScoringStrategy = ptr.To[ScoringStrategyType]("LeastCommitted")
	}
	if obj.LearnedOverhead == nil {
		obj.LearnedOverhead = &LearnedOverhead{}
	}
	l := obj.LearnedOverhead
	if l.Enabled == nil {
		l.Enabled = ptr.To(true)
	}
	if l.MinSamples == nil {
		l.MinSamples = ptr.To[int32](DefaultLearnedMinSamples)
	}
	if l.MaxFactor == nil {
		l.MaxFactor = ptr.To(DefaultLearnedMaxFactor)
	}
	if l.AllowBelowModel == nil {
		l.AllowBelowModel = ptr.To(false)
	}
}

// SetDefaults_SandboxFeaturesArgs sets the default SandboxFeatures args.
func SetDefaults_SandboxFeaturesArgs(obj *SandboxFeaturesArgs) {
	setDefaultClassification(&obj.SandboxClassification)
	if obj.RuntimeRequirements == nil {
		obj.RuntimeRequirements = DefaultRuntimeRequirements()
	}
	if obj.DeviceRequirements == nil {
		obj.DeviceRequirements = DefaultDeviceRequirements()
	}
	if obj.VirtModeWeights == nil {
		obj.VirtModeWeights = &VirtModeWeights{}
	}
	w := obj.VirtModeWeights
	if w.Hardware == nil {
		w.Hardware = ptr.To[int32](100)
	}
	if w.PVM == nil {
		w.PVM = ptr.To[int32](60)
	}
	if w.Nested == nil {
		w.Nested = ptr.To[int32](30)
	}
}
