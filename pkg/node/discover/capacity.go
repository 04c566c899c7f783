package discover

// DefaultMaxSandboxes caps the VM slots of a node: the kubelet's default
// maxPods, since every sandbox is a pod.
const DefaultMaxSandboxes = 110

// DefaultGuestMemoryMiB is Kata's shipped default_memory, used for the slot
// count when no Kata handler with a readable configuration is installed.
const DefaultGuestMemoryMiB = 2048

// Capacity is what the node can give to sandboxes: the
// mtscn.io/sandbox-memory and mtscn.io/sandboxes extended resources.
type Capacity struct {
	// SandboxMemoryBytes is Memory.GuestMemoryBytes: guest RAM the node can
	// back in /dev/shm.
	SandboxMemoryBytes int64 `json:"sandboxMemoryBytes"`
	// Sandboxes is the number of VMs of the smallest boot size
	// (default_memory) of the node's on-node Kata handlers that fit in the
	// memory pool their guest RAM comes from (/dev/shm for shm-backed
	// handlers, hugepages for hugepage-backed ones, RAM outside the
	// hugepage pools otherwise), capped at MaxSandboxes. 0 without KVM.
	Sandboxes int64 `json:"sandboxes"`
}

// computeCapacity derives Capacity, or nil when the memory source did not run.
func computeCapacity(r *Result, maxSandboxes int64) *Capacity {
	if r.Memory == nil {
		return nil
	}
	m := r.Memory
	c := &Capacity{SandboxMemoryBytes: m.GuestMemoryBytes}
	if r.KVM != nil && !r.KVM.IsUsable() {
		return c
	}
	const mib = 1 << 20
	var slots int64
	found := false
	if r.Kata != nil {
		for _, h := range r.Kata.Handlers {
			if !h.Kata || h.DefaultMemoryMiB <= 0 {
				continue
			}
			pool := m.TotalBytes - m.HugePagesBytes
			switch {
			case h.EnableHugepages:
				pool = m.HugePagesBytes
			case h.ShmBacked:
				pool = m.GuestMemoryBytes
			}
			slots = max(slots, pool/(h.DefaultMemoryMiB*mib))
			found = true
		}
	}
	if !found {
		slots = m.GuestMemoryBytes / (DefaultGuestMemoryMiB * mib)
	}
	c.Sandboxes = min(max(slots, 0), maxSandboxes)
	return c
}
