package config

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SandboxClassification says which runtime handlers run pods in a sandbox.
// Every plugin embeds the same settings; they are one setting per profile:
// the plugins refuse to start when two of them differ
// (validation.ValidateSameClassification). pkg/tenancy interprets them.
type SandboxClassification struct {
	// SandboxedHandlers are glob patterns (path.Match syntax) of RuntimeClass
	// handlers that run pods in their own kernel. They apply to RuntimeClasses
	// that do not carry the mtscn.io/sandboxed label.
	SandboxedHandlers []string
	// OffNodeHandlers are glob patterns of sandboxed handlers whose VM does not
	// run on the node (peer pods, kata-remote). Such pods count as sandboxed
	// but commit no guest memory on the node.
	OffNodeHandlers []string
}

// SideChannelPolicy says what TenantIsolation does with nodes labelled
// mtscn.io/cotenancy-safe=false.
type SideChannelPolicy string

const (
	// SideChannelEnforce keeps pods of different tenants off unsafe nodes (I4).
	SideChannelEnforce SideChannelPolicy = "Enforce"
	// SideChannelIgnore lets sandboxed tenants share unsafe nodes.
	SideChannelIgnore SideChannelPolicy = "Ignore"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// TenantIsolationArgs holds the arguments of the TenantIsolation plugin.
type TenantIsolationArgs struct {
	metav1.TypeMeta

	// TenantLabelKeys are the Namespace label keys that name a tenant, in
	// order of precedence. A Namespace with none of them is its own tenant.
	TenantLabelKeys []string
	// InfrastructureNamespaces hold pods that are never blocked and never
	// block (besides namespaces labelled mtscn.io/infrastructure=true).
	InfrastructureNamespaces []string
	SandboxClassification
	// SideChannelPolicy is Enforce or Ignore.
	SideChannelPolicy SideChannelPolicy
}

// SizingMode is how a runtime handler sizes its VM's memory.
type SizingMode string

const (
	// SizingHotplug is the Go runtime: default_memory plus every container's
	// memory limit, hot-plugged.
	SizingHotplug SizingMode = "Hotplug"
	// SizingStatic is runtime-rs and the TEE shims: Σ limits +
	// overhead_memory when any limit is set, else default_memory.
	SizingStatic SizingMode = "Static"
	// SizingOffNode is peer pods: the VM runs elsewhere, 0 on the node.
	SizingOffNode SizingMode = "OffNode"
	// SizingUserSpace is gVisor: no VM, the pod runs on a user-space
	// kernel whose own memory (Sentry, gofers, shim) is HostOverhead on top
	// of the pod's requests.
	SizingUserSpace SizingMode = "UserSpace"
)

// HypervisorProfile describes the memory a runtime handler's VM commits.
type HypervisorProfile struct {
	// Handler is a glob pattern of RuntimeClass handlers this profile applies
	// to. The first matching profile wins.
	Handler string
	// Sizing is Hotplug, Static, OffNode or UserSpace.
	Sizing SizingMode
	// DefaultMemory is Kata's default_memory: the guest's base size.
	DefaultMemory resource.Quantity
	// OverheadMemory is runtime-rs' overhead_memory, added to Σ limits in
	// Static sizing.
	OverheadMemory resource.Quantity
	// HostOverhead is the memory of the VMM and shim on the host.
	HostOverhead resource.Quantity
	// SharedMemoryBacked says the guest RAM lives in /dev/shm (QEMU with
	// virtio-fs), so it counts against mtscn.io/sandbox-memory.
	SharedMemoryBacked bool
}

// ScoringStrategyType is how SandboxOverhead scores nodes.
type ScoringStrategyType string

const (
	// LeastCommitted prefers nodes with the most uncommitted memory.
	LeastCommitted ScoringStrategyType = "LeastCommitted"
	// MostCommitted packs pods onto the most committed nodes.
	MostCommitted ScoringStrategyType = "MostCommitted"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SandboxOverheadArgs holds the arguments of the SandboxOverhead plugin.
type SandboxOverheadArgs struct {
	metav1.TypeMeta

	SandboxClassification
	// Profiles size the VM of each sandboxed runtime handler; the first
	// whose Handler pattern matches wins.
	Profiles []HypervisorProfile
	// OvercommitRatio divides the committed guest memory: 1.0 assumes every
	// guest touches all of its memory; 1.5 admits 50% more guest memory.
	OvercommitRatio float64
	// VFIOResources are glob patterns of extended resources passed through
	// with VFIO; a VM with one has all of its guest memory pinned.
	VFIOResources []string
	// VFIOPinnedOverhead is the extra locked memory a VFIO VM needs.
	VFIOPinnedOverhead resource.Quantity
	// ScoringStrategy is LeastCommitted or MostCommitted.
	ScoringStrategy ScoringStrategyType
	// LearnedOverhead says when the host overhead the node agent observed
	// on a node replaces a profile's HostOverhead there.
	LearnedOverhead LearnedOverhead
}

// LearnedOverhead bounds the use of the observed sandbox overhead: the p95
// the node agent measured for a runtime handler on a node
// (mtscn.io/overhead.<handler>.observed-memory, over
// .observed-samples samples; docs/vm-footprint.md).
type LearnedOverhead struct {
	// Enabled lets an observed figure replace the profile's HostOverhead.
	Enabled bool
	// MinSamples is how many samples a node's figure must rest on before
	// it is used; with fewer, the profile's HostOverhead applies. It is
	// compared with the published count, which the agent rounds down to
	// 1, 2, 5, 10, 20, 50, 100, 200 or 256 (docs/labels.md): 30 is met at
	// 50 samples.
	MinSamples int32
	// MaxFactor caps the observed figure at MaxFactor × the profile's
	// HostOverhead, so that one node's label (a workload charged to its
	// sandbox, a bad reading) cannot make a sandbox look arbitrarily big.
	MaxFactor float64
	// AllowBelowModel lets an observed figure smaller than the profile's
	// HostOverhead lower it. Off by default: a node's labels then can only
	// make its sandboxes bigger, never smaller than the model.
	AllowBelowModel bool
}

// NodeRequirement is one thing a node must offer, with a human name used in
// scheduling failure reasons ("usable /dev/kvm").
type NodeRequirement struct {
	// Name is what the reason calls this requirement when it is unmet.
	// "{handler}" in it is replaced by the pod's runtime handler.
	Name string
	// MatchExpressions are node label requirements. In a key, the text
	// "{handler}" is replaced by the pod's runtime handler.
	MatchExpressions []v1.NodeSelectorRequirement
}

// RuntimeRequirement lists what nodes must offer to run a handler.
type RuntimeRequirement struct {
	// Handlers are glob patterns of RuntimeClass handlers.
	Handlers []string
	// Requirements all have to hold.
	Requirements []NodeRequirement
}

// DeviceRequirement lists what nodes must offer to pass a device through.
type DeviceRequirement struct {
	// Resources are glob patterns of extended resource names.
	Resources []string
	// SandboxedOnly applies the requirement only to sandboxed pods (a
	// shared-kernel pod uses the device through the host driver).
	SandboxedOnly bool
	// Requirements all have to hold.
	Requirements []NodeRequirement
}

// VirtModeWeights are the scores of each mtscn.io/virt-mode value.
type VirtModeWeights struct {
	Hardware int32
	PVM      int32
	Nested   int32
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SandboxFeaturesArgs holds the arguments of the SandboxFeatures plugin.
type SandboxFeaturesArgs struct {
	metav1.TypeMeta

	SandboxClassification
	// RuntimeRequirements map runtime handlers to node requirements.
	RuntimeRequirements []RuntimeRequirement
	// DeviceRequirements map requested devices to node requirements.
	DeviceRequirements []DeviceRequirement
	// VirtModeWeights score nodes by how fast they run VMs.
	VirtModeWeights VirtModeWeights
}
