package wellknown

// LabelPrefix starts every label key mtscn defines.
const LabelPrefix = "mtscn.io/"

// Label values for boolean labels.
const (
	ValueTrue  = "true"
	ValueFalse = "false"
)

// Namespace labels: tenancy and per-tenant policy. Admins set them; the
// admission policies in manifests/policies keep tenants from changing them.
const (
	// LabelTenant is mtscn's own tenant label on a Namespace.
	LabelTenant = LabelPrefix + "tenant"
	// LabelCapsuleTenant is Capsule's (older) tenant label on a Namespace.
	LabelCapsuleTenant = "capsule.clastix.io/tenant"
	// LabelProjectCapsuleTenant is Capsule's newer tenant label on a Namespace.
	LabelProjectCapsuleTenant = "projectcapsule.dev/tenant"
	// LabelInfrastructure=true on a Namespace makes its pods infrastructure.
	LabelInfrastructure = LabelPrefix + "infrastructure"

	// LabelNodeSharing=shared|exclusive on a Namespace (default shared).
	LabelNodeSharing     = LabelPrefix + "node-sharing"
	NodeSharingShared    = "shared"
	NodeSharingExclusive = "exclusive"

	// LabelSandboxPolicy=required|optional on a Namespace (default optional).
	LabelSandboxPolicy = LabelPrefix + "sandbox"
	SandboxRequired    = "required"
	SandboxOptional    = "optional"
)

// RuntimeClass labels.
const (
	// LabelSandboxed=true|false on a RuntimeClass says whether its pods run
	// in their own kernel; it overrides the handler patterns.
	LabelSandboxed = LabelPrefix + "sandboxed"
)

// Node labels that nfd-rules/ (or the node agent in node-labels mode)
// derive from the agent's raw features.
const (
	// LabelKVM=true: /dev/kvm opens and answers KVM_GET_API_VERSION = 12.
	LabelKVM = LabelPrefix + "kvm"

	// LabelVirtMode is how the node runs VMs: VirtModeHardware (bare-metal
	// VT-x/AMD-V), VirtModeNested (a VM exposing nested virtualization) or
	// VirtModePVM (KVM through the PVM module).
	LabelVirtMode    = LabelPrefix + "virt-mode"
	VirtModeHardware = "hardware"
	VirtModePVM      = "pvm"
	VirtModeNested   = "nested"

	// LabelIOMMU=true: the node has IOMMU groups.
	LabelIOMMU = LabelPrefix + "iommu"
	// LabelQATVFIO=true: the node has QAT VFs bound to vfio-pci.
	LabelQATVFIO = LabelPrefix + "qat-vfio"

	// LabelCotenancySafe is the node's CPU side-channel state: "true" when
	// the agent found no cross-VM leak, "false" when the CPU leaks across VMs
	// or the state cannot be read.
	LabelCotenancySafe = LabelPrefix + "cotenancy-safe"

	// LabelRuntimePrefix + handler = "true" for each sandbox runtime handler
	// the node's containerd serves (see RuntimeLabel).
	LabelRuntimePrefix = LabelPrefix + "runtime."
)

// RuntimeLabel returns the node label key that says the node's containerd
// serves the runtime handler.
func RuntimeLabel(handler string) string { return LabelRuntimePrefix + handler }

// Node labels NFD itself publishes that mtscn reads.
const (
	// LabelTDX=true: Intel TDX is enabled on the node.
	LabelTDX = "feature.node.kubernetes.io/cpu-security.tdx.enabled"
	// LabelSNP=true: AMD SEV-SNP is enabled on the node.
	LabelSNP = "feature.node.kubernetes.io/cpu-security.sev.snp.enabled"
)

// Node labels the Kata installer (mtscn-node install) manages.
const (
	// LabelSandboxRuntime is the installer's state on the node, one of the
	// SandboxRuntime* values; absent when Kata is not installed.
	LabelSandboxRuntime = LabelPrefix + "sandbox-runtime"
	// SandboxRuntimePending: the installer claimed the node and is changing the host.
	SandboxRuntimePending = "pending"
	// SandboxRuntimeTrue: installed, verified, labelled and untainted.
	SandboxRuntimeTrue = ValueTrue
	// SandboxRuntimeFailed: the last install failed; the node stays out of service.
	SandboxRuntimeFailed = "failed"
	// SandboxRuntimeUninstalling: the uninstall is removing Kata from the host.
	SandboxRuntimeUninstalling = "uninstalling"

	// LabelKataRuntime is kata-deploy's label, which every Kata
	// RuntimeClass selects on: "false" while installing, "true" when ready.
	LabelKataRuntime = "katacontainers.io/kata-runtime"
)
