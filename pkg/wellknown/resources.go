package wellknown

// Extended resources. They are untyped so that they index a
// v1.ResourceList directly.
const (
	// ResourceSandboxMemory is the guest RAM, in bytes, the node can back
	// (QEMU with virtio-fs keeps guest RAM in /dev/shm).
	ResourceSandboxMemory = LabelPrefix + "sandbox-memory"
	// ResourceSandboxes is the number of VM slots on the node.
	ResourceSandboxes = LabelPrefix + "sandboxes"

	// ResourceQATGeneric is the Intel device plugin's QAT VF resource on
	// hardware before QAT Gen4.
	ResourceQATGeneric = "qat.intel.com/generic"
)
