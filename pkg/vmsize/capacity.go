package vmsize

import (
	v1 "k8s.io/api/core/v1"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// Capacity is what a node offers to the checks of docs/vm-footprint.md
// (F1 memory, F2 /dev/shm-backed guest memory, F3 VM slots), read from its
// allocatable resources, with its own Kata values from its labels. The
// SandboxOverhead plugin and mtscnctl audit both read a node through it.
type Capacity struct {
	// Memory is allocatable memory in bytes (F1).
	Memory int64
	// SharedMemory is allocatable mtscn.io/sandbox-memory (F2), when the
	// node advertises it (HasSharedMemory).
	SharedMemory    int64
	HasSharedMemory bool
	// Slots is allocatable mtscn.io/sandboxes (F3), when the node
	// advertises it (HasSlots).
	Slots    int64
	HasSlots bool
	// Values are the node's own Kata values; malformed labels are skipped
	// (ParseNodeLabels reports them).
	Values NodeValues
}

// CapacityOf reads a node's Capacity; malformed Kata labels are skipped.
func CapacityOf(node *v1.Node) Capacity {
	c, _ := ReadCapacity(node)
	return c
}

// ReadCapacity is CapacityOf that also returns what ParseNodeLabels found
// malformed, for the caller to log.
func ReadCapacity(node *v1.Node) (Capacity, []error) {
	c := Capacity{}
	a := node.Status.Allocatable
	if q, ok := a[v1.ResourceMemory]; ok {
		c.Memory = q.Value()
	}
	if q, ok := a[wellknown.ResourceSandboxMemory]; ok {
		c.SharedMemory, c.HasSharedMemory = q.Value(), true
	}
	if q, ok := a[wellknown.ResourceSandboxes]; ok {
		c.Slots, c.HasSlots = q.Value(), true
	}
	var errs []error
	c.Values, errs = ParseNodeLabels(node.Labels)
	return c, errs
}

// FitsEmpty says whether the footprint fits the node with nothing on it:
// when it does not, no preemption can make room.
func (c Capacity) FitsEmpty(fp Footprint) bool {
	if fp.Committed > c.Memory {
		return false
	}
	if c.HasSharedMemory && fp.SharedMemory > c.SharedMemory {
		return false
	}
	return !(c.HasSlots && fp.VM && c.Slots < 1)
}
