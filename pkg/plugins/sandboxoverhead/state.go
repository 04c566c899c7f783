package sandboxoverhead

import (
	"maps"

	"github.com/mtscn/mtscn/pkg/plugins/internal/cyclestate"

	"github.com/mtscn/mtscn/pkg/plugins/internal/classify"
	"github.com/mtscn/mtscn/pkg/plugins/internal/metrics"

	"github.com/mtscn/mtscn/pkg/plugins/internal/nodecache"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// nodeSummary is what the pods on one node commit, computed once per
// NodeInfo generation and classification View (pkg/plugins/internal/nodecache).
// It is immutable once built: concurrent Filter and Score calls share it.
type nodeSummary struct {
	// capacity is the node's allocatable sandbox resources and its own
	// Kata values from its labels: a change of the node gives its NodeInfo
	// a new generation, so they are read once per summary instead of in
	// every Filter.
	capacity vmsize.Capacity
	totals
}

// totals are per-node sums (or, in a delta, differences).
type totals struct {
	// committed is Σ committed(p) in bytes (F1).
	committed int64
	// sharedMemory is Σ guest RAM of shm-backed VMs in bytes (F2).
	sharedMemory int64
	// vms is the number of on-node VMs (F3).
	vms int64
}

func (t *totals) add(f vmsize.Footprint, sign int64) {
	t.committed += sign * f.Committed
	t.sharedMemory += sign * f.SharedMemory
	if f.VM {
		t.vms += sign
	}
}

func (t totals) plus(o totals) totals {
	return totals{committed: t.committed + o.committed, sharedMemory: t.sharedMemory + o.sharedMemory, vms: t.vms + o.vms}
}

// preFilterState is computed at PreFilter and read at Filter and Score.
// PreFilter only sizes the incoming pod; nothing in it is per node except
// the summaries AddPod/RemovePod keep of the NodeInfo copies they change.
type preFilterState struct {
	// view classified the pod; the cycle sizes the pods on nodes through
	// it too, and uses only summaries computed under it.
	view *classify.View
	// demand is the incoming pod's demand; footprint its size under the
	// configured profile (nodes with their own Kata values resize it).
	demand     vmsize.Demand
	profile    vmsize.Profile
	hasProfile bool
	footprint  vmsize.Footprint
	// cycle is the summary cache's epoch (the View's version) and cycle
	// number.
	cycle nodecache.Cycle
	// copies holds, by node name, the summary of the NodeInfo copy that
	// AddPod/RemovePod last changed (a nominated pod added, a preemption
	// victim removed or given back). Clone copies the map; the summaries
	// are immutable.
	copies map[string]copySummary
}

// copySummary is the summary of one NodeInfo copy, valid while the copy
// keeps the generation and the number of pods it had when recorded.
type copySummary struct {
	generation int64
	pods       int
	summary    *nodeSummary
}

// Clone copies the per-copy summaries, the only part AddPod/RemovePod
// change; the pod's footprint is immutable and shared.
func (s *preFilterState) Clone() fwk.StateData {
	c := *s
	c.copies = maps.Clone(s.copies)
	return &c
}

// footprintOn returns the incoming pod's footprint on a node with the
// given Kata values.
func (s *preFilterState) footprintOn(m *vmsize.Model, values vmsize.NodeValues) vmsize.Footprint {
	v, ok := values[s.demand.Runtime.Handler]
	if !ok || !s.demand.Runtime.Sandboxed {
		return s.footprint
	}
	return m.Footprint(s.demand, m.ProfileOn(s.profile, v), s.hasProfile || v.Sizing != nil)
}

func getPreFilterState(cs fwk.CycleState) (*preFilterState, error) {
	return cyclestate.Read[*preFilterState](cs, preFilterStateKey)
}

// summaryOf returns the summary of the pods on the node the framework
// passed: the one AddPod/RemovePod recorded when nodeInfo is a copy they
// changed (constant work, which keeps preemption's many Filter calls
// cheap), else the node cache's, computed from nodeInfo's pods when this
// NodeInfo generation was not summarized under the cycle's epoch yet.
// Either way it reads nothing but nodeInfo.
func (pl *SandboxOverhead) summaryOf(logger klog.Logger, s *preFilterState, nodeInfo fwk.NodeInfo) *nodeSummary {
	if c, ok := s.copies[nodeInfo.Node().Name]; ok && c.generation == nodeInfo.GetGeneration() && c.pods == len(nodeInfo.GetPods()) {
		return c.summary
	}
	return pl.cache.Get(nodeInfo, s.cycle, func(ni fwk.NodeInfo) *nodeSummary {
		sum := pl.summarize(logger, s.view, ni)
		metrics.SetCommittedMemory(pl.profile, ni.Node().Name, sum.totals.committed)
		return sum
	})
}

// summarize sums the footprints of the pods on a node. Terminal pods hold
// no VM and are skipped.
func (pl *SandboxOverhead) summarize(logger klog.Logger, view *classify.View, ni fwk.NodeInfo) *nodeSummary {
	node := ni.Node()
	capacity, errs := vmsize.ReadCapacity(node)
	for _, err := range errs {
		logger.V(3).Info("ignoring node label", "node", klog.KObj(node), "err", err)
	}
	values := capacity.Values
	sum := &nodeSummary{capacity: capacity}
	// Pods of one RuntimeClass share its classification and profile.
	type sizing struct {
		rt         tenancy.Runtime
		profile    vmsize.Profile
		hasProfile bool
	}
	byClass := map[string]sizing{}
	for _, pi := range ni.GetPods() {
		pod := pi.GetPod()
		if tenancy.IsTerminal(pod) {
			continue
		}
		name := ""
		if pod.Spec.RuntimeClassName != nil {
			name = *pod.Spec.RuntimeClassName
		}
		sz, ok := byClass[name]
		if !ok {
			sz.rt = runtimeOf(logger, view, pod)
			sz.profile, sz.hasProfile = pl.model.ProfileFor(sz.rt.Handler)
			if v, has := values[sz.rt.Handler]; has {
				sz.profile = pl.model.ProfileOn(sz.profile, v)
				sz.hasProfile = sz.hasProfile || v.Sizing != nil
			}
			byClass[name] = sz
		}
		sum.add(pl.model.Footprint(pl.demand(pod, sz.rt, 0), sz.profile, sz.hasProfile), 1)
	}
	return sum
}

// runtimeOf classifies the runtime of a pod on a node (pkg/tenancy's
// ClassifyBound rules): a running VM whose RuntimeClass was deleted keeps
// the classification last seen, or is sized by the class name's handler.
func runtimeOf(logger klog.Logger, view *classify.View, pod *v1.Pod) tenancy.Runtime {
	rt := view.BoundRuntime(pod.Spec.RuntimeClassName)
	if rt.Missing {
		logger.V(4).Info("runtime class of a pod on a node is gone, sizing it by the class name", "pod", klog.KObj(pod), "handler", rt.Handler, "sandboxed", rt.Sandboxed)
	}
	return rt
}
