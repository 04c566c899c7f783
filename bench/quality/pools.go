package quality

import (
	"fmt"

	v1 "k8s.io/api/core/v1"

	"github.com/mtscn/mtscn/bench/workload"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// PoolLabel is the node label the dedicated-pools profile pins tenants
// with (pods carry nodeSelector PoolLabel=<tenant>).
const PoolLabel = "bench.mtscn.io/pool"

// poolGroup is the kind of node a group of a tenant's pods needs.
type poolGroup string

const (
	groupTDX  poolGroup = "tdx"
	groupQAT  poolGroup = "qat"
	groupKata poolGroup = "kata"
	groupRunc poolGroup = "runc"
)

// groupClasses are the node classes a pool of each group is carved from,
// in order of preference.
var groupClasses = map[poolGroup][]string{
	groupTDX:  {"tdx"},
	groupQAT:  {"qat"},
	groupKata: {"hw", "nested"},
	groupRunc: {"plain", "hw", "nested"},
}

func groupOf(p *v1.Pod) poolGroup {
	switch {
	case p.Spec.RuntimeClassName == nil:
		return groupRunc
	case *p.Spec.RuntimeClassName == "kata-qemu-tdx":
		return groupTDX
	}
	for _, c := range p.Spec.Containers {
		if _, ok := c.Resources.Limits["qat.intel.com/cy"]; ok {
			return groupQAT
		}
	}
	return groupKata
}

// AssignPools gives every tenant its own node pools, as an operator of a
// Capsule-style cluster would size them: per kind of node a tenant's pods
// need (TDX, QAT, other Kata, runc), enough nodes for the memory its pods
// commit and for the guest memory its QEMU VMs keep in /dev/shm
// (mtscn.io/sandbox-memory), so that pools are not overcommitted by design,
// plus one spare node (N+1, for node failures and upgrades). It labels the
// pool nodes with PoolLabel and returns how many nodes the pools reserve.
// A pool that does not fit in what is left of its node classes gets what
// is left.
func AssignPools(objs *workload.Objects, cfg tenancy.Config, model *vmsize.Model) (int, error) {
	fps := footprints(objs.Pods, objs.RuntimeClasses, objs.Namespaces, cfg, model)
	type key struct {
		ns    string
		group poolGroup
	}
	needs := map[key]*demand{}
	for i, p := range objs.Pods {
		k := key{p.Namespace, groupOf(p)}
		if needs[k] == nil {
			needs[k] = &demand{}
		}
		needs[k].memory += fps[i].Committed
		needs[k].shm += fps[i].SharedMemory
	}
	free := map[string][]*v1.Node{}
	for _, n := range objs.Nodes {
		class := n.Labels[workload.LabelClass]
		free[class] = append(free[class], n)
	}
	reserved := 0
	for _, t := range workload.Tenants {
		for _, g := range []poolGroup{groupTDX, groupQAT, groupKata, groupRunc} {
			d := needs[key{t.Namespace(), g}]
			if d == nil {
				continue
			}
			spare := 1
			for _, class := range groupClasses[g] {
				for len(free[class]) > 0 && (d.memory > 0 || d.shm > 0 || spare > 0) {
					n := free[class][0]
					free[class] = free[class][1:]
					n.Labels[PoolLabel] = t.Name
					reserved++
					if d.memory > 0 || d.shm > 0 {
						m := n.Status.Capacity[v1.ResourceMemory]
						shm := n.Status.Capacity[wellknown.ResourceSandboxMemory]
						d.memory -= m.Value()
						d.shm -= shm.Value()
					} else {
						spare--
					}
				}
			}
		}
	}
	if reserved == 0 {
		return 0, fmt.Errorf("no node was assigned to a pool")
	}
	return reserved, nil
}
