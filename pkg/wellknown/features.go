package wellknown

// Raw node features: the names are a contract between the node agent
// (pkg/node), which publishes them in its NFD NodeFeature object, and the
// NodeFeatureRules in nfd-rules/, which turn them into the node labels and
// extended resources above; nfd-rules/README.md documents every feature,
// element and value.
//
// Features follow NFD's Features type: a feature is named
// "<domain>.<feature>" and is either a set of flags, of attributes (element
// name -> string value) or a list of instances (each a map of attributes).

// FeatureDomain is the NFD feature domain of every raw feature mtscn-node
// publishes.
const FeatureDomain = "mtscn"

// Attribute features: one element name -> string value map each.
const (
	// FeatureKVM describes /dev/kvm (attributes KVMUsable, KVMVhostVsock,
	// KVMAPIVersion, KVMModule).
	FeatureKVM = FeatureDomain + ".kvm"
	// FeatureCPU describes the CPU as the kernel sees it (attributes
	// CPUCotenancySafe, CPUHypervisor, CPUSMTActive).
	FeatureCPU = FeatureDomain + ".cpu"
	// FeatureVulnerability holds one element per file in
	// /sys/devices/system/cpu/vulnerabilities/, named like the file (l1tf,
	// mds, mmio_stale_data, ...), whose value is the file's content with
	// surrounding white space trimmed, e.g. "Vulnerable" or
	// "Mitigation: PTE Inversion; VMX: conditional cache flushes, SMT vulnerable".
	FeatureVulnerability = FeatureDomain + ".vulnerability"
	// FeatureIOMMU describes the node's IOMMU (attributes IOMMUEnabled,
	// IOMMUGroups).
	FeatureIOMMU = FeatureDomain + ".iommu"
	// FeatureCapacity is what the node can give to VMs (attributes
	// CapacityMemoryBytes, CapacityShmBytes, CapacitySandboxMemoryBytes,
	// CapacitySandboxes).
	FeatureCapacity = FeatureDomain + ".capacity"
)

// Instance features: a list of instances, each a map of attributes.
const (
	// FeatureQAT has one instance per Intel QuickAssist PCI function (vendor 8086,
	// PCI class 0b40xx), physical or virtual, with attributes QATAddress,
	// QATVendor, QATDevice, QATClass, QATDriver and QATIOMMUGroup.
	FeatureQAT = FeatureDomain + ".qat"
	// FeatureRuntime has one instance per runtime handler configured in the
	// node's containerd CRI plugin (whoever installed it), with attributes
	// RuntimeHandler, RuntimeType, RuntimeSandbox, RuntimeCRIListed,
	// RuntimeConfigPath, RuntimeDefaultMemoryMiB and RuntimeDefaultVCPUs.
	FeatureRuntime = FeatureDomain + ".runtime"
)

// Elements of FeatureKVM.
const (
	// KVMUsable is "true" when a Kata VM can start: /dev/kvm opens
	// read-write, KVM_GET_API_VERSION answers 12 (the only stable KVM API)
	// and KVM_CREATE_VM works, and /dev/vhost-vsock opens read-write. It is
	// "false" when one of them is missing or fails, and absent when the
	// agent may not open a device that exists (it cannot tell; the agent
	// reports an error instead).
	KVMUsable = "usable"
	// KVMVhostVsock is "true" when /dev/vhost-vsock opens read-write, else
	// "false"; absent when usability is unknown. Informational.
	KVMVhostVsock = "vhost_vsock"
	// KVMAPIVersion is the decimal KVM_GET_API_VERSION answer ("12");
	// absent unless KVM_CREATE_VM worked. Informational.
	KVMAPIVersion = "api_version"
	// KVMModule is the loaded KVM vendor module that serves /dev/kvm:
	// "kvm_intel", "kvm_amd" or "kvm_pvm"; absent when none is loaded.
	KVMModule = "module"
)

// Values of KVMModule.
const (
	ModuleKVMIntel = "kvm_intel"
	ModuleKVMAMD   = "kvm_amd"
	ModuleKVMPVM   = "kvm_pvm"
)

// Elements of FeatureCPU.
const (
	// CPUCotenancySafe is "true" only when the agent read the SMT state
	// and the kernel's vulnerability files and no SMT cross-VM leak (L1TF,
	// MDS, TAA, MMIO stale data) is open: SMT off, or each leak not
	// affected or fully mitigated. Anything unknown or unreadable makes it
	// "false" (fail closed). Always published with FeatureCPU; the
	// mtscn-cotenancy rule turns it into LabelCotenancySafe.
	CPUCotenancySafe = "cotenancy_safe"
	// CPUHypervisor is "true" when /proc/cpuinfo lists the "hypervisor"
	// flag (the node is itself a VM), else "false"; absent when
	// /proc/cpuinfo cannot be read.
	CPUHypervisor = "hypervisor"
	// CPUSMTActive is the content of /sys/devices/system/cpu/smt/active
	// as "true" (1) or "false" (0); absent when the file is missing.
	CPUSMTActive = "smt_active"
)

// Elements of FeatureIOMMU.
const (
	// IOMMUEnabled is "true" when /sys/kernel/iommu_groups holds at least
	// one group, else "false".
	IOMMUEnabled = "enabled"
	// IOMMUGroups is the decimal number of IOMMU groups.
	IOMMUGroups = "groups"
)

// Elements of FeatureCapacity. Values are decimal integers.
const (
	// CapacityMemoryBytes is MemTotal from /proc/meminfo, in bytes.
	CapacityMemoryBytes = "memory_bytes"
	// CapacityShmBytes is the size of the /dev/shm file system, in bytes.
	CapacityShmBytes = "shm_bytes"
	// CapacitySandboxMemoryBytes is the guest RAM the node can back, in
	// bytes (QEMU with virtio-fs keeps guest RAM in /dev/shm). It becomes
	// the extended resource mtscn.io/sandbox-memory.
	CapacitySandboxMemoryBytes = "sandbox_memory_bytes"
	// CapacitySandboxes is the number of VM slots on the node. It becomes
	// the extended resource mtscn.io/sandboxes.
	CapacitySandboxes = "sandboxes"
)

// Attributes of each FeatureQAT instance.
const (
	// QATAddress is the PCI address, e.g. "0000:6b:00.1".
	QATAddress = "address"
	// QATVendor is the PCI vendor id without 0x, lower case: "8086".
	QATVendor = "vendor"
	// QATDevice is the PCI device id without 0x, lower case, e.g. "4941".
	QATDevice = "device"
	// QATClass is the PCI class without 0x, lower case, e.g. "0b4000".
	QATClass = "class"
	// QATDriver is the bound driver's name (the basename of the "driver"
	// link), e.g. "vfio-pci" or "4xxxvf"; absent when no driver is bound.
	QATDriver = "driver"
	// QATIOMMUGroup is the device's IOMMU group number; absent when the
	// device has none.
	QATIOMMUGroup = "iommu_group"
)

// DriverVFIOPCI is the value of QATDriver for a function bound to vfio-pci.
const DriverVFIOPCI = "vfio-pci"

// Attributes of each FeatureRuntime instance.
const (
	// RuntimeHandler is the CRI handler name (the RuntimeClass handler),
	// e.g. "kata-qemu".
	RuntimeHandler = "handler"
	// RuntimeType is containerd's runtime_type, e.g.
	// "io.containerd.kata-qemu.v2".
	RuntimeType = "runtime_type"
	// RuntimeConfigPath is options.ConfigPath (Kata's configuration file);
	// absent when not set.
	RuntimeConfigPath = "config_path"
	// RuntimeDefaultMemoryMiB is default_memory from the Kata
	// configuration file, in MiB; absent when unknown.
	RuntimeDefaultMemoryMiB = "default_memory_mib"
	// RuntimeDefaultVCPUs is default_vcpus from the Kata configuration
	// file; absent when unknown.
	RuntimeDefaultVCPUs = "default_vcpus"
	// RuntimeSandbox is the sandbox kind of a handler containerd serves:
	// SandboxKata or SandboxGVisor; absent for shared-kernel runtimes
	// (runc) and for a sandbox handler the CRI does not list.
	RuntimeSandbox = "sandbox"
	// RuntimeCRIListed is "true" or "false": whether containerd's CRI
	// status lists the handler; absent when the agent could not ask the
	// CRI (its socket is not under the host root).
	RuntimeCRIListed = "cri_listed"
)

// Values of RuntimeSandbox.
const (
	// SandboxKata: a Kata Containers shim (runtime_type io.containerd.kata*).
	SandboxKata = "kata"
	// SandboxGVisor: gVisor (runtime_type io.containerd.runsc*, the runc
	// shim with a runsc BinaryName, or a handler named runsc* or gvisor*).
	SandboxGVisor = "gvisor"
)
