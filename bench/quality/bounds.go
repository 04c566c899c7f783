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
// none yet.
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
		rt, _ := classifier.Runtime(p.Spec.RuntimeClassName)
		out[i] = model.PodFootprint(p, rt, nil)
	}
	return out
}

// LowerBounds returns two numbers of nodes no placement can go below:
// the fewest nodes whose allocatable memory, largest nodes first, adds up
// to the memory all of the snapshot's pods commit (bound or not), and the
// fewest nodes whose mtscn.io/sandbox-memory adds up to the guest memory
// the pods' VMs keep in /dev/shm.
func LowerBounds(snap audit.Snapshot, cfg tenancy.Config, model *vmsize.Model) (memory, shm int, err error) {
	var sumMem, sumShm int64
	for _, f := range footprints(snap.Pods, snap.RuntimeClasses, snap.Namespaces, cfg, model) {
		sumMem += f.Committed
		sumShm += f.SharedMemory
	}
	var allocs, shms []int64
	for _, n := range snap.Nodes {
		m := n.Status.Allocatable[v1.ResourceMemory]
		allocs = append(allocs, m.Value())
		if q, ok := n.Status.Allocatable[wellknown.ResourceSandboxMemory]; ok {
			shms = append(shms, q.Value())
		}
	}
	if memory, err = fewest(allocs, sumMem); err != nil {
		return 0, 0, fmt.Errorf("memory: %w", err)
	}
	if shm, err = fewest(shms, sumShm); err != nil {
		return 0, 0, fmt.Errorf("/dev/shm: %w", err)
	}
	return memory, shm, nil
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
