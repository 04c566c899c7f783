package tenantisolation

import (
	"sync"
	"sync/atomic"

	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/plugins/internal/classify"
)

const (
	// slotsPerNode bounds the summaries kept per node name: the real
	// NodeInfo's and one copy's (a NodeInfo with nominated pods added, or a
	// preemption candidate with victims removed).
	slotsPerNode = 2
	// sweepEvery: every that many cycles, PreFilter drops the entries of
	// nodes no Filter or Score asked for since the previous sweep (deleted
	// nodes the Node informer handler missed, nodes no longer considered),
	// so an unused node stays cached for at most 2*sweepEvery cycles.
	sweepEvery = 4096
)

// summaryCache holds the tenancy summaries of nodes, keyed by node name and
// validated by NodeInfo generation and classification View version (the
// epoch). Filter and
// Score read it in parallel across nodes; a hit is lock-free.
//
// The framework gives every changed NodeInfo a new generation from a global
// counter, including the copies it modifies for nominated pods and for
// preemption (AddPodInfo/RemovePod on a Snapshot), so a copy never matches
// the entry of the NodeInfo it was copied from: it is summarized from its
// own pods. A node keeps slotsPerNode entries; a new entry replaces the
// least recently used one (ties: the newer generation, i.e. the copy), so
// that the copies filtered every cycle for a node with nominated pods, and
// the many copies of a preemption dry run, do not evict the real node's
// entry.
type summaryCache struct {
	nodes sync.Map // node name -> *nodeEntries
}

// nodeEntries are one node's cached summaries.
type nodeEntries struct {
	mu    sync.Mutex // serializes replacements; readers do not lock
	slots [slotsPerNode]atomic.Pointer[cachedSummary]
}

// cachedSummary is an immutable summary of one NodeInfo generation under one
// classification epoch; only lastUse changes.
type cachedSummary struct {
	generation int64
	epoch      uint64
	summary    *nodeSummary
	// lastUse is the cycle that last read the entry.
	lastUse atomic.Uint64
}

// get returns the summary of ni under view, computing it with compute on
// a miss. cycle stamps the entry as used.
func (c *summaryCache) get(ni fwk.NodeInfo, view *classify.View, cycle uint64, compute func(*classify.View, fwk.NodeInfo) *nodeSummary) *nodeSummary {
	gen := ni.GetGeneration()
	if gen == 0 {
		// Not from the framework's counter: nothing identifies its pods.
		return compute(view, ni)
	}
	epoch := view.Version
	name := ni.Node().Name
	v, ok := c.nodes.Load(name)
	if !ok {
		v, _ = c.nodes.LoadOrStore(name, &nodeEntries{})
	}
	e := v.(*nodeEntries)
	for i := range e.slots {
		if s := e.slots[i].Load(); s != nil && s.generation == gen && s.epoch == epoch {
			if s.lastUse.Load() < cycle {
				s.lastUse.Store(cycle)
			}
			return s.summary
		}
	}
	s := &cachedSummary{generation: gen, epoch: epoch, summary: compute(view, ni)}
	s.lastUse.Store(cycle)
	e.store(s)
	return s.summary
}

// store puts s in the slot of the least useful entry: an empty slot, else an
// entry of an older epoch, else the least recently used, else (same cycle)
// the one of the newer generation, which is a copy when the other is the
// NodeInfo it was made from.
func (e *nodeEntries) store(s *cachedSummary) {
	e.mu.Lock()
	defer e.mu.Unlock()
	victim := 0
	for i := range e.slots {
		cur := e.slots[i].Load()
		if cur == nil {
			victim = i
			break
		}
		if cur.generation == s.generation && cur.epoch == s.epoch {
			// Computed concurrently by another caller: keep one.
			return
		}
		if i == victim {
			continue
		}
		if worse(cur, e.slots[victim].Load(), s.epoch) {
			victim = i
		}
	}
	e.slots[victim].Store(s)
}

// worse reports whether a is a better entry to replace than b.
func worse(a, b *cachedSummary, epoch uint64) bool {
	if (a.epoch == epoch) != (b.epoch == epoch) {
		return a.epoch != epoch
	}
	if a, b := a.lastUse.Load(), b.lastUse.Load(); a != b {
		return a < b
	}
	return a.generation > b.generation
}

// forget drops a node's entries (the node was deleted).
func (c *summaryCache) forget(name string) {
	c.nodes.Delete(name)
}

// sweep drops the entries of nodes not used since cycle before.
func (c *summaryCache) sweep(before uint64) {
	c.nodes.Range(func(k, v any) bool {
		e := v.(*nodeEntries)
		used := false
		for i := range e.slots {
			if s := e.slots[i].Load(); s != nil && s.lastUse.Load() >= before {
				used = true
				break
			}
		}
		if !used {
			c.nodes.CompareAndDelete(k, v)
		}
		return true
	})
}

// len returns the number of cached summaries and of nodes holding them.
func (c *summaryCache) len() (summaries, nodes int) {
	c.nodes.Range(func(_, v any) bool {
		nodes++
		e := v.(*nodeEntries)
		for i := range e.slots {
			if e.slots[i].Load() != nil {
				summaries++
			}
		}
		return true
	})
	return summaries, nodes
}
