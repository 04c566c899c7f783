package v1

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SandboxClassification says which runtime handlers run pods in a sandbox.
type SandboxClassification struct {
	// SandboxedHandlers are glob patterns (path.Match syntax) of RuntimeClass
	// handlers that run pods in their own kernel, for RuntimeClasses without
	// the mtscn.io/sandboxed label. Default: kata*, runsc*, gvisor*.
	// +listType=atomic
	SandboxedHandlers []string `json:"sandboxedHandlers,omitempty"`
	// OffNodeHandlers are glob patterns of sandboxed handlers whose VM runs
	// off the node (peer pods). Default: kata-remote*.
	// +listType=atomic
	OffNodeHandlers []string `json:"offNodeHandlers,omitempty"`
}

// SideChannelPolicy is Enforce or Ignore.
type SideChannelPolicy string

// +k8s:defaulter-gen=true
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// TenantIsolationArgs holds the arguments of the TenantIsolation plugin.
type TenantIsolationArgs struct {
	metav1.TypeMeta `json:",inline"`

	// TenantLabelKeys are the Namespace label keys that name a tenant, in
	// order of precedence. Default: mtscn.io/tenant,
	// capsule.clastix.io/tenant, projectcapsule.dev/tenant.
	// +listType=atomic
	TenantLabelKeys []string `json:"tenantLabelKeys,omitempty"`
	// InfrastructureNamespaces hold pods that are never blocked and never
	// block. Default: kube-system, kube-public, kube-node-lease,
	// mtscn-system, node-feature-discovery.
	// +listType=atomic
	InfrastructureNamespaces []string `json:"infrastructureNamespaces,omitempty"`

	SandboxClassification `json:",inline"`

	// SideChannelPolicy is Enforce (default) or Ignore.
	SideChannelPolicy *SideChannelPolicy `json:"sideChannelPolicy,omitempty"`
}

// SizingMode is Hotplug, Static, OffNode or UserSpace.
type SizingMode string

// HypervisorProfile describes the memory a runtime handler's VM commits.
type HypervisorProfile struct {
	// Handler is a glob pattern of RuntimeClass handlers.
	Handler string `json:"handler"`
	// Sizing is Hotplug, Static, OffNode or UserSpace (gVisor).
	Sizing SizingMode `json:"sizing"`
	// DefaultMemory is Kata's default_memory.
	DefaultMemory *resource.Quantity `json:"defaultMemory,omitempty"`
	// OverheadMemory is runtime-rs' overhead_memory (Static sizing).
	OverheadMemory *resource.Quantity `json:"overheadMemory,omitempty"`
	// HostOverhead is the memory of the VMM and shim on the host.
	HostOverhead *resource.Quantity `json:"hostOverhead,omitempty"`
	// SharedMemoryBacked says the guest RAM lives in /dev/shm.
	SharedMemoryBacked *bool `json:"sharedMemoryBacked,omitempty"`
}

// ScoringStrategyType is LeastCommitted or MostCommitted.
type ScoringStrategyType string

// +k8s:defaulter-gen=true
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SandboxOverheadArgs holds the arguments of the SandboxOverhead plugin.
type SandboxOverheadArgs struct {
	metav1.TypeMeta `json:",inline"`

	SandboxClassification `json:",inline"`

	// Profiles size each sandboxed handler's VM; the first match wins.
	// Default: Kata's shipped configurations (see pkg/vmsize).
	// +listType=atomic
	Profiles []HypervisorProfile `json:"profiles,omitempty"`
	// OvercommitRatio divides committed guest memory. Default 1.0.
	OvercommitRatio *float64 `json:"overcommitRatio,omitempty"`
	// VFIOResources are glob patterns of extended resources passed through
	// with VFIO. Default: qat.intel.com/*, nvidia.com/*.
	// +listType=atomic
	VFIOResources []string `json:"vfioResources,omitempty"`
	// VFIOPinnedOverhead is the extra locked memory of a VFIO VM. Default 1Gi.
	VFIOPinnedOverhead *resource.Quantity `json:"vfioPinnedOverhead,omitempty"`
	// ScoringStrategy is LeastCommitted (default) or MostCommitted.
	ScoringStrategy *ScoringStrategyType `json:"scoringStrategy,omitempty"`
	// LearnedOverhead says when the host overhead the node agent observed
	// on a node replaces a profile's hostOverhead there. Default: enabled,
	// minSamples 20, maxFactor 4, allowBelowModel false.
	LearnedOverhead *LearnedOverhead `json:"learnedOverhead,omitempty"`
}

// LearnedOverhead bounds the use of the observed sandbox overhead (the
// node labels mtscn.io/overhead.<handler>.observed-memory and
// .observed-samples the node agent publishes).
type LearnedOverhead struct {
	// Enabled lets a node's observed figure replace the profile's
	// hostOverhead. Default true.
	Enabled *bool `json:"enabled,omitempty"`
	// MinSamples is how many samples the figure must rest on (1-256, the
	// agent's window). Default 20. The agent publishes the count rounded
	// down to 1, 2, 5, 10, 20, 50, 100, 200 or 256 (docs/labels.md), so a
	// value between two of them is met at the next one.
	MinSamples *int32 `json:"minSamples,omitempty"`
	// MaxFactor caps the figure at maxFactor × hostOverhead (1-100).
	// Default 4.
	MaxFactor *float64 `json:"maxFactor,omitempty"`
	// AllowBelowModel lets a figure smaller than hostOverhead lower it.
	// Default false: never below the static model.
	AllowBelowModel *bool `json:"allowBelowModel,omitempty"`
}

// NodeRequirement is one thing a node must offer, with a human name.
type NodeRequirement struct {
	// Name is what a failure reason calls this requirement; "{handler}"
	// in it is replaced by the pod's runtime handler.
	Name string `json:"name"`
	// MatchExpressions are node label requirements; "{handler}" in a key is
	// replaced by the pod's runtime handler.
	// +listType=atomic
	MatchExpressions []v1.NodeSelectorRequirement `json:"matchExpressions"`
}

// RuntimeRequirement lists what nodes must offer to run a handler.
type RuntimeRequirement struct {
	// Handlers are glob patterns of RuntimeClass handlers.
	// +listType=atomic
	Handlers []string `json:"handlers"`
	// Requirements all have to hold.
	// +listType=atomic
	Requirements []NodeRequirement `json:"requirements"`
}

// DeviceRequirement lists what nodes must offer to pass a device through.
type DeviceRequirement struct {
	// Resources are glob patterns of extended resource names.
	// +listType=atomic
	Resources []string `json:"resources"`
	// SandboxedOnly applies the requirement only to sandboxed pods.
	SandboxedOnly bool `json:"sandboxedOnly,omitempty"`
	// Requirements all have to hold.
	// +listType=atomic
	Requirements []NodeRequirement `json:"requirements"`
}

// VirtModeWeights are the scores of each mtscn.io/virt-mode value.
type VirtModeWeights struct {
	Hardware *int32 `json:"hardware,omitempty"`
	PVM      *int32 `json:"pvm,omitempty"`
	Nested   *int32 `json:"nested,omitempty"`
}

// +k8s:defaulter-gen=true
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SandboxFeaturesArgs holds the arguments of the SandboxFeatures plugin.
type SandboxFeaturesArgs struct {
	metav1.TypeMeta `json:",inline"`

	SandboxClassification `json:",inline"`

	// RuntimeRequirements map runtime handlers to node requirements.
	// Default: on-node Kata needs mtscn.io/kvm and mtscn.io/runtime.<handler>;
	// *tdx* needs TDX; *snp* needs SEV-SNP.
	// +listType=atomic
	RuntimeRequirements []RuntimeRequirement `json:"runtimeRequirements,omitempty"`
	// DeviceRequirements map requested devices to node requirements.
	// Default: a sandboxed pod requesting qat.intel.com/* needs IOMMU and
	// QAT VFs bound to vfio-pci.
	// +listType=atomic
	DeviceRequirements []DeviceRequirement `json:"deviceRequirements,omitempty"`
	// VirtModeWeights score virt-mode hardware, pvm and nested.
	// Default 100, 60, 30.
	VirtModeWeights *VirtModeWeights `json:"virtModeWeights,omitempty"`
}
