package sandboxoverhead

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// nodeSummary is what the pods on one node commit, computed once per node
// generation. It is immutable once built: cycle states share it.
type nodeSummary struct {
	// generation and epoch say which NodeInfo generation and which
	// RuntimeClass epoch the summary was computed from.
	generation int64
	epoch      uint64
	// values are the node's own Kata values from its labels.
	values vmsize.NodeValues
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
type preFilterState struct {
	// demand is the incoming pod's demand; footprint its size under the
	// configured profile (nodes with their own Kata values resize it).
	demand     vmsize.Demand
	profile    vmsize.Profile
	hasProfile bool
	footprint  vmsize.Footprint
	// nodes are the per-node summaries of this cycle's snapshot, shared
	// read-only between clones and cycles.
	nodes summaryView
	// delta holds what AddPod/RemovePod changed on a node (nominated pods,
	// preemption victims). Clone copies it.
	delta map[string]totals
}

// Clone copies the delta, the only part AddPod/RemovePod change. The node
// summaries and the pod's footprint are immutable and shared.
func (s *preFilterState) Clone() fwk.StateData {
	c := *s
	c.delta = maps.Clone(s.delta)
	return &c
}

// used returns what the pods on the node commit, including changes made by
// AddPod/RemovePod on this state.
func (s *preFilterState) used(name string, sum *nodeSummary) totals {
	return sum.totals.plus(s.delta[name])
}

// footprintOn returns the incoming pod's footprint on a node with the
// given Kata values.
func (s *preFilterState) footprintOn(m *vmsize.Model, values vmsize.NodeValues) vmsize.Footprint {
	v, ok := values[s.demand.Runtime.Handler]
	if !ok || !s.demand.Runtime.Sandboxed {
		return s.footprint
	}
	return m.Footprint(s.demand, s.profile.With(v), s.hasProfile || v.Sizing != nil)
}

func getPreFilterState(cs fwk.CycleState) (*preFilterState, error) {
	c, err := cs.Read(preFilterStateKey)
	if err != nil {
		return nil, fmt.Errorf("reading %q from cycle state: %w", preFilterStateKey, err)
	}
	s, ok := c.(*preFilterState)
	if !ok {
		return nil, fmt.Errorf("%+v cannot be converted to sandboxoverhead.preFilterState", c)
	}
	return s, nil
}

// summaryCache keeps the summary of every node between scheduling cycles,
// so that a cycle only rescans the nodes whose pods or labels changed since
// (the NodeInfo generation changes on every pod add/remove and node update).
// A RuntimeClass change bumps the epoch and invalidates every summary,
// since it can change which pods are VMs.
//
// Published maps are immutable, so cycle states can share them without
// locks: a small overlay holds the recently changed nodes and is copied per
// cycle; it is merged into a new base once it grows past maxOverlay, so the
// copying stays O(changed nodes) amortized instead of O(nodes) per cycle.
type summaryCache struct {
	epoch atomic.Uint64
	mu    sync.Mutex
	// latest is the newest summary of every node; private to summaries
	// (under mu), it answers "did this node change" with one lookup.
	latest map[string]*nodeSummary
	// view is what the last cycle published.
	view summaryView
	// scratch is summaries' per-node buffer, reused across cycles.
	scratch []*nodeSummary
}

// maxOverlay is the overlay size that triggers a merge into the base.
const maxOverlay = 64

// summaryView is one cycle's immutable view of the node summaries.
type summaryView struct {
	base, overlay map[string]*nodeSummary
}

func (v summaryView) get(name string) *nodeSummary {
	if s, ok := v.overlay[name]; ok {
		return s
	}
	return v.base[name]
}

func (c *summaryCache) invalidate() { c.epoch.Add(1) }

// parallelThreshold is the cluster size from which summaries checks and
// rescans nodes in parallel.
const parallelThreshold = 256

// summaries returns this cycle's view of every node's summary, recomputing
// those that changed. On large clusters the generation checks and the
// rescans run on the scheduler's parallelizer; the maps are only written
// afterwards, from this goroutine.
func (pl *SandboxOverhead) summaries(ctx context.Context, nodes []fwk.NodeInfo) summaryView {
	logger := klog.FromContext(ctx)
	epoch := pl.cache.epoch.Load()
	c := &pl.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.view
	if c.latest == nil {
		c.latest = make(map[string]*nodeSummary, len(nodes))
	}
	// fresh[i] is the new summary of nodes[i] when it changed, else nil.
	if cap(c.scratch) < len(nodes) {
		c.scratch = make([]*nodeSummary, len(nodes))
	}
	fresh := c.scratch[:len(nodes)]
	defer clear(fresh)
	check := func(i int) {
		ni := nodes[i]
		node := ni.Node()
		if node == nil {
			return
		}
		if sum := c.latest[node.Name]; sum != nil && sum.generation == ni.GetGeneration() && sum.epoch == epoch {
			return
		}
		fresh[i] = pl.summarize(logger, ni, epoch)
	}
	if len(nodes) >= parallelThreshold && pl.parallelizer != nil {
		pl.parallelizer.Until(ctx, len(nodes), check, Name)
	} else {
		for i := range nodes {
			check(i)
		}
	}
	seen, changed := 0, 0
	var overlay map[string]*nodeSummary
	for i, ni := range nodes {
		node := ni.Node()
		if node == nil {
			continue
		}
		seen++
		if fresh[i] == nil {
			continue
		}
		if overlay == nil {
			overlay = make(map[string]*nodeSummary, len(v.overlay)+1)
			maps.Copy(overlay, v.overlay)
		}
		overlay[node.Name] = fresh[i]
		c.latest[node.Name] = fresh[i]
		changed++
	}
	if overlay != nil {
		v.overlay = overlay
	}
	// Merge a large overlay into a new base; drop deleted nodes when the
	// cache holds clearly more nodes than the cluster.
	if len(c.latest) > seen+maxOverlay {
		kept := make(map[string]*nodeSummary, seen)
		for _, ni := range nodes {
			if node := ni.Node(); node != nil {
				kept[node.Name] = c.latest[node.Name]
			}
		}
		c.latest = kept
		v = summaryView{base: maps.Clone(kept)}
	} else if len(v.overlay) > maxOverlay {
		v = summaryView{base: maps.Clone(c.latest)}
	}
	c.view = v
	logger.V(5).Info("node summaries", "nodes", seen, "recomputed", changed)
	return v
}

// summarize sums the footprints of the pods on a node. Terminal pods hold
// no VM and are skipped.
func (pl *SandboxOverhead) summarize(logger klog.Logger, ni fwk.NodeInfo, epoch uint64) *nodeSummary {
	node := ni.Node()
	values, errs := vmsize.ParseNodeLabels(node.Labels)
	for _, err := range errs {
		logger.V(3).Info("ignoring node label", "node", klog.KObj(node), "err", err)
	}
	sum := &nodeSummary{generation: ni.GetGeneration(), epoch: epoch, values: values}
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
			sz.rt = pl.runtimeOf(logger, pod)
			sz.profile, sz.hasProfile = pl.model.ProfileFor(sz.rt.Handler)
			if v, has := values[sz.rt.Handler]; has {
				sz.profile = sz.profile.With(v)
				sz.hasProfile = sz.hasProfile || v.Sizing != nil
			}
			byClass[name] = sz
		}
		sum.add(pl.model.Footprint(pl.model.Demand(pod, sz.rt), sz.profile, sz.hasProfile), 1)
	}
	return sum
}

// runtimeOf classifies a pod's runtime; a pod whose RuntimeClass is gone
// is treated as shared-kernel (counted by requests + overhead).
func (pl *SandboxOverhead) runtimeOf(logger klog.Logger, pod *v1.Pod) tenancy.Runtime {
	rt, err := pl.classifier.Runtime(pod.Spec.RuntimeClassName)
	if err != nil {
		logger.V(4).Info("cannot classify pod runtime, counting requests + overhead", "pod", klog.KObj(pod), "err", err)
		return tenancy.Runtime{}
	}
	return rt
}

// podFootprint sizes a pod already on (or being added to) a node. A pod
// whose RuntimeClass is gone is counted by its requests + overhead, the
// most that can be said about it.
func (pl *SandboxOverhead) podFootprint(logger klog.Logger, pod *v1.Pod, values vmsize.NodeValues) vmsize.Footprint {
	return pl.model.PodFootprint(pod, pl.runtimeOf(logger, pod), values)
}
