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
	// FeatureKVM describes /dev/kvm (attributes KVMUsable, KVMAPIVersion,
	// KVMModule).
	FeatureKVM = FeatureDomain + ".kvm"
	// FeatureCPU describes the CPU as the kernel sees it (attributes CPUHypervisor,
	// CPUSMTActive).
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
	// RuntimeHandler, RuntimeType, RuntimeConfigPath,
	// RuntimeDefaultMemoryMiB and RuntimeDefaultVCPUs.
	FeatureRuntime = FeatureDomain + ".runtime"
)

// Elements of FeatureKVM.
const (
	// KVMUsable is "true" when /dev/kvm opens read-write and
	// KVM_GET_API_VERSION answers 12 (the only stable KVM API), else
	// "false" (also when /dev/kvm is missing).
	KVMUsable = "usable"
	// KVMAPIVersion is the decimal KVM_GET_API_VERSION answer ("12");
	// absent when /dev/kvm cannot be opened. Informational.
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
	// CPUHypervisor is "true" when /proc/cpuinfo lists the "hypervisor"
	// flag (the node is itself a VM), else "false".
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
)
