package wellknown

// Node labels carrying a node's real Kata configuration, one set per
// runtime handler, published by the node agent (mtscn-node, through
// nfd-rules or its node-labels fallback) and read by pkg/vmsize. When a
// node carries them, its values win over the configured profile for that
// handler.
//
//	mtscn.io/kata.<handler>.default-memory   default_memory: "2048" (MiB, as in Kata's TOML) or a quantity "2Gi"
//	mtscn.io/kata.<handler>.overhead-memory  runtime-rs overhead_memory: same format
//	mtscn.io/kata.<handler>.sizing           "hotplug" (Go runtime) or "static" (runtime-rs, static_sandbox_resource_mgmt)
//	mtscn.io/kata.<handler>.shm-backed       "true" when guest RAM is a /dev/shm file (QEMU + virtio-fs), else "false"
//
// Example: mtscn.io/kata.kata-qemu.default-memory=4096.
const (
	// LabelKataPrefix starts every per-handler Kata label.
	LabelKataPrefix = LabelPrefix + "kata."
	// LabelSuffixDefaultMemory ends the default_memory label.
	LabelSuffixDefaultMemory = ".default-memory"
	// LabelSuffixOverheadMemory ends the overhead_memory label.
	LabelSuffixOverheadMemory = ".overhead-memory"
	// LabelSuffixSizing ends the sizing-mode label.
	LabelSuffixSizing = ".sizing"
	// LabelSuffixSharedMemory ends the /dev/shm-backed label.
	LabelSuffixSharedMemory = ".shm-backed"

	// SizingHotplug and SizingStatic are the values of the sizing label.
	SizingHotplug = "hotplug"
	SizingStatic  = "static"
)

// DefaultMemoryLabel returns the label key of handler's default_memory.
func DefaultMemoryLabel(handler string) string {
	return LabelKataPrefix + handler + LabelSuffixDefaultMemory
}

// OverheadMemoryLabel returns the label key of handler's overhead_memory.
func OverheadMemoryLabel(handler string) string {
	return LabelKataPrefix + handler + LabelSuffixOverheadMemory
}

// SizingLabel returns the label key of handler's sizing mode.
func SizingLabel(handler string) string { return LabelKataPrefix + handler + LabelSuffixSizing }

// SharedMemoryLabel returns the label key of handler's /dev/shm backing.
func SharedMemoryLabel(handler string) string {
	return LabelKataPrefix + handler + LabelSuffixSharedMemory
}
