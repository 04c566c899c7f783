package sandboxoverhead

import (
	"fmt"
	"maps"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/plugins/internal/classify"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// nodeSummary is what the pods on one node commit, computed once per node
// generation. It is immutable once built: concurrent Filter and Score
// calls share it through the cache.
type nodeSummary struct {
	// generation and epoch say which NodeInfo generation and which
	// classification View (its version) the summary was computed from.
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
// PreFilter only sizes the incoming pod; nothing in it is per node except
// the delta AddPod/RemovePod keep.
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
	// delta holds what AddPod/RemovePod changed on a node (nominated pods,
	// preemption victims) relative to the snapshot's NodeInfo of that
	// name. Clone copies it.
	delta map[string]totals
}

// Clone copies the delta, the only part AddPod/RemovePod change; the
// pod's footprint is immutable and shared.
func (s *preFilterState) Clone() fwk.StateData {
	c := *s
	c.delta = maps.Clone(s.delta)
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
	c, err := cs.Read(preFilterStateKey)
	if err != nil {
		return nil, fmt.Errorf("reading %q from cycle state: %w", preFilterStateKey, err)
	}
	s, ok := c.(*preFilterState)
	if !ok {
		return nil, fmt.Errorf("invalid PreFilter state, got type %T", c)
	}
	return s, nil
}

// summaryCache keeps the summary of every node of the scheduler's
// snapshot between scheduling cycles, keyed by node name and valid for one
// NodeInfo generation and one classification View. NodeInfo generations come
// from a global counter that the framework bumps on every pod add/remove
// and node update, so a stale entry is recognized with one comparison.
//
// Only the snapshot's own NodeInfos are stored. The copies the framework
// makes for nominated pods and preemption (NodeInfo.Snapshot followed by
// AddPodInfo/RemovePod) have a generation of their own: they miss, are
// summarized from their own pods and are not stored, so they never evict
// the real node's entry. The cache holds at most one entry per node name;
// names of deleted nodes are pruned at PreFilter once they add up.
//
// Filter and Score run in parallel over nodes: entries are immutable
// *nodeSummary values in a sync.Map, replaced only by newer ones.
type summaryCache struct {
	entries sync.Map // node name -> *nodeSummary
	// size counts the entries (sync.Map has no length).
	size atomic.Int64
}

// maxStale is how many more entries than nodes the cache holds before
// PreFilter prunes the names of deleted nodes.
const maxStale = 64

// lookup returns the node's cached summary when it is for this generation
// and View version (epoch).
func (c *summaryCache) lookup(name string, generation int64, epoch uint64) *nodeSummary {
	v, ok := c.entries.Load(name)
	if !ok {
		return nil
	}
	sum := v.(*nodeSummary)
	if sum.generation != generation || sum.epoch != epoch {
		return nil
	}
	return sum
}

// store keeps sum unless the cache already holds a newer summary of the
// node (another goroutine may have stored one meanwhile).
func (c *summaryCache) store(name string, sum *nodeSummary) {
	for {
		v, loaded := c.entries.LoadOrStore(name, sum)
		if !loaded {
			c.size.Add(1)
			return
		}
		old := v.(*nodeSummary)
		if old.epoch > sum.epoch || (old.epoch == sum.epoch && old.generation >= sum.generation) {
			return
		}
		if c.entries.CompareAndSwap(name, old, sum) {
			return
		}
	}
}

// prune drops the entries of nodes that are no longer in the cluster. It
// walks the nodes only when the cache holds maxStale more entries than
// there are nodes, so its cost per cycle is O(1) amortized.
func (c *summaryCache) prune(nodes []fwk.NodeInfo) {
	if c.size.Load() <= int64(len(nodes))+maxStale {
		return
	}
	names := make(map[string]struct{}, len(nodes))
	for _, ni := range nodes {
		if node := ni.Node(); node != nil {
			names[node.Name] = struct{}{}
		}
	}
	c.entries.Range(func(k, _ any) bool {
		if _, ok := names[k.(string)]; !ok {
			if _, loaded := c.entries.LoadAndDelete(k); loaded {
				c.size.Add(-1)
			}
		}
		return true
	})
}

// nodeSummary returns what the pods on the node commit: the cached summary
// when the node has not changed since it was computed, else a fresh one,
// which is cached when nodeInfo is the snapshot's own (not a copy holding
// nominated pods or missing preemption victims). Constant work on a hit.
func (pl *SandboxOverhead) nodeSummary(logger klog.Logger, view *classify.View, nodeInfo fwk.NodeInfo) *nodeSummary {
	name := nodeInfo.Node().Name
	generation := nodeInfo.GetGeneration()
	if sum := pl.cache.lookup(name, generation, view.Version); sum != nil {
		return sum
	}
	sum := pl.summarize(logger, view, nodeInfo)
	if pl.isSnapshotNode(name, generation) {
		pl.cache.store(name, sum)
	}
	return sum
}

// nodeTotals returns the node's summary (for its Kata values) and what
// its pods commit. On a NodeInfo copy whose changes AddPod/RemovePod
// recorded in the state, that is the snapshot node's cached totals plus the
// delta (constant work, which keeps preemption's many Filter calls cheap);
// on any other NodeInfo, its own summary.
func (pl *SandboxOverhead) nodeTotals(logger klog.Logger, s *preFilterState, nodeInfo fwk.NodeInfo) (*nodeSummary, totals) {
	name := nodeInfo.Node().Name
	if d, ok := s.delta[name]; ok {
		if real := pl.snapshotNode(name); real != nil && real.GetGeneration() != nodeInfo.GetGeneration() {
			base := pl.nodeSummary(logger, s.view, real)
			return base, base.totals.plus(d)
		}
	}
	sum := pl.nodeSummary(logger, s.view, nodeInfo)
	return sum, sum.totals
}

// snapshotNode returns the scheduler snapshot's NodeInfo of that name, or
// nil.
func (pl *SandboxOverhead) snapshotNode(name string) fwk.NodeInfo {
	if pl.snapshot == nil {
		return nil
	}
	ni, err := pl.snapshot.NodeInfos().Get(name)
	if err != nil || ni == nil || ni.Node() == nil {
		return nil
	}
	return ni
}

// isSnapshotNode tells whether the NodeInfo of this name and generation is
// the one in the scheduler's snapshot, rather than a modified copy.
func (pl *SandboxOverhead) isSnapshotNode(name string, generation int64) bool {
	ni := pl.snapshotNode(name)
	return ni != nil && ni.GetGeneration() == generation
}

// summarize sums the footprints of the pods on a node. Terminal pods hold
// no VM and are skipped.
func (pl *SandboxOverhead) summarize(logger klog.Logger, view *classify.View, ni fwk.NodeInfo) *nodeSummary {
	node := ni.Node()
	values, errs := vmsize.ParseNodeLabels(node.Labels)
	for _, err := range errs {
		logger.V(3).Info("ignoring node label", "node", klog.KObj(node), "err", err)
	}
	sum := &nodeSummary{generation: ni.GetGeneration(), epoch: view.Version, values: values}
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
