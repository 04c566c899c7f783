package quality

import (
	"fmt"
	"sort"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// footprints returns each pod's VM footprint (pkg/vmsize), with the
// RuntimeClass overhead the admission controller adds when the pod has
// none yet. A pod whose RuntimeClass is missing is sized as pkg/tenancy's
// BoundRuntime classifies it.
func footprints(pods []*v1.Pod, rcs []*nodev1.RuntimeClass, namespaces []*v1.Namespace, cfg tenancy.Config, model *vmsize.Model) []vmsize.Footprint {
	classifier := tenancy.NewStatic(cfg, namespaces, rcs)
	byName := map[string]*nodev1.RuntimeClass{}
	for _, rc := range rcs {
		byName[rc.Name] = rc
	}
	out := make([]vmsize.Footprint, len(pods))
	for i, p := range pods {
		if p.Spec.Overhead == nil && p.Spec.RuntimeClassName != nil {
			if rc := byName[*p.Spec.RuntimeClassName]; rc != nil && rc.Overhead != nil {
				p = p.DeepCopy()
				p.Spec.Overhead = rc.Overhead.PodFixed.DeepCopy()
			}
		}
		rt := classifier.BoundRuntime(p.Spec.RuntimeClassName)
		out[i] = model.PodFootprint(p, rt, nil)
	}
	return out
}

// Bounds are numbers of nodes no placement of a snapshot's pods can go
// below.
type Bounds struct {
	// Memory is the fewest nodes whose allocatable memory, largest nodes
	// first, adds up to the memory all pods commit (bound or not). It
	// ignores every other constraint.
	Memory int
	// Shm is the fewest nodes whose mtscn.io/sandbox-memory adds up to
	// the guest memory the pods' VMs keep in /dev/shm.
	Shm int
	// Tenancy adds isolation to Memory and Shm: every tenant whose pods
	// may not share a node with other tenants (shared-kernel pods, I1;
	// exclusive tenants, I2) needs nodes of its own for them, at least
	// max(memory, /dev/shm) of its own; the sandboxed pods of the other
	// tenants pack together. It is the sum of these per-tenant bounds and
	// the bound of the shared sandboxed pods, each computed against the
	// largest nodes of the cluster, so it still ignores hardware (TDX,
	// QAT), CPU and cotenancy-unsafe nodes.
	Tenancy int
}

// demand is memory and /dev/shm a group of pods commits.
type demand struct{ memory, shm int64 }

// LowerBounds returns the snapshot's Bounds.
func LowerBounds(snap audit.Snapshot, cfg tenancy.Config, model *vmsize.Model) (Bounds, error) {
	classifier := tenancy.NewStatic(cfg, snap.Namespaces, snap.RuntimeClasses)
	var total, shared demand
	own := map[string]*demand{} // tenant -> pods that need nodes of their own
	for i, f := range footprints(snap.Pods, snap.RuntimeClasses, snap.Namespaces, cfg, model) {
		total.memory += f.Committed
		total.shm += f.SharedMemory
		class, err := classifier.Classify(snap.Pods[i])
		if err != nil {
			return Bounds{}, fmt.Errorf("classifying Pod %s/%s: %w", snap.Pods[i].Namespace, snap.Pods[i].Name, err)
		}
		d := &shared
		if !class.Infrastructure && (class.Exclusive || class.SharedKernel()) {
			if own[class.Tenant] == nil {
				own[class.Tenant] = &demand{}
			}
			d = own[class.Tenant]
		}
		d.memory += f.Committed
		d.shm += f.SharedMemory
	}
	var allocs, shms []int64
	for _, n := range snap.Nodes {
		m := n.Status.Allocatable[v1.ResourceMemory]
		allocs = append(allocs, m.Value())
		if q, ok := n.Status.Allocatable[wellknown.ResourceSandboxMemory]; ok {
			shms = append(shms, q.Value())
		}
	}
	var b Bounds
	var err error
	if b.Memory, err = fewest(allocs, total.memory); err != nil {
		return Bounds{}, fmt.Errorf("memory: %w", err)
	}
	if b.Shm, err = fewest(shms, total.shm); err != nil {
		return Bounds{}, fmt.Errorf("/dev/shm: %w", err)
	}
	tenants := append([]*demand{&shared}, mapValues(own)...)
	for _, d := range tenants {
		m, err := fewest(allocs, d.memory)
		if err != nil {
			return Bounds{}, fmt.Errorf("memory: %w", err)
		}
		s, err := fewest(shms, d.shm)
		if err != nil {
			return Bounds{}, fmt.Errorf("/dev/shm: %w", err)
		}
		b.Tenancy += max(m, s)
	}
	return b, nil
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// fewest is how many of the largest capacities add up to demand.
func fewest(capacities []int64, demand int64) (int, error) {
	if demand <= 0 {
		return 0, nil
	}
	sort.Slice(capacities, func(i, j int) bool { return capacities[i] > capacities[j] })
	for i, c := range capacities {
		demand -= c
		if demand <= 0 {
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("the workload needs %s more than all %d nodes have", vmsize.FormatBytes(demand, true), len(capacities))
}
