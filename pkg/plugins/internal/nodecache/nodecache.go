package nodecache

import (
	"fmt"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/plugins/internal/metrics"
)

const (
	// SlotsPerNode bounds the summaries kept per node name: the real
	// NodeInfo's and one copy's (see the package doc).
	SlotsPerNode = 2
	// SweepEvery: every that many cycles, Begin drops the nodes no Get
	// asked for since the previous sweep, so an unused node stays cached
	// for at most 2*SweepEvery cycles.
	SweepEvery = 4096
)

// Cache holds one plugin's summaries of type S. Get is safe for concurrent
// use (Filter and Score run in parallel over nodes) and lock-free on a hit;
// summaries must be immutable once computed, because every caller shares
// them.
type Cache[S any] struct {
	// cycles counts Begin calls.
	cycles atomic.Uint64
	nodes  sync.Map // node name -> *entries[S]
	// lookups counts hits and misses once CountLookups named the plugin.
	lookups *metrics.CacheCounters
}

// CountLookups counts the cache's hits and misses under the plugin's name
// (mtscn_scheduler_node_cache_lookups_total). Call it from New, before the
// cache is used.
func (c *Cache[S]) CountLookups(plugin string) {
	metrics.Register()
	c.lookups = metrics.NewCacheCounters(plugin)
}

// Cycle is what Get needs from the scheduling cycle that asks: the epoch of
// the cycle's inputs other than the node and its pods (its summaries all
// come from one epoch) and the cycle's number (for the replacement policy).
// Keep it in the cycle state.
type Cycle struct {
	Epoch uint64
	Num   uint64
}

// entries are one node's cached summaries.
type entries[S any] struct {
	mu    sync.Mutex // serializes replacements; readers do not lock
	slots [SlotsPerNode]atomic.Pointer[entry[S]]
}

// entry is one summary of one NodeInfo generation under one epoch; only
// lastUse changes.
type entry[S any] struct {
	generation int64
	epoch      uint64
	summary    S
	// lastUse is the cycle that last read the entry.
	lastUse atomic.Uint64
}

// Begin starts a scheduling cycle (call it in PreFilter) and returns what
// the cycle's Get calls need. epoch identifies the cycle's inputs other
// than the node and its pods: the plugins pass the Version of the
// classification View (pkg/plugins/internal/classify) the cycle uses, so a
// summary computed from other Namespace or RuntimeClass labels is never
// returned. Every SweepEvery cycles Begin drops the nodes not used in the
// previous SweepEvery cycles.
func (c *Cache[S]) Begin(epoch uint64) Cycle {
	num := c.cycles.Add(1)
	if num%SweepEvery == 0 {
		c.sweep(num - SweepEvery)
	}
	return Cycle{Epoch: epoch, Num: num}
}

// Get returns the summary of ni for the cycle, computing it with compute
// on a miss (compute reads only ni).
func (c *Cache[S]) Get(ni fwk.NodeInfo, cy Cycle, compute func(fwk.NodeInfo) S) S {
	gen := ni.GetGeneration()
	if gen == 0 {
		// Not from the framework's counter: nothing identifies its pods.
		return compute(ni)
	}
	name := ni.Node().Name
	v, ok := c.nodes.Load(name)
	if !ok {
		v, _ = c.nodes.LoadOrStore(name, &entries[S]{})
	}
	e := v.(*entries[S])
	for i := range e.slots {
		if s := e.slots[i].Load(); s != nil && s.generation == gen && s.epoch == cy.Epoch {
			if s.lastUse.Load() < cy.Num {
				s.lastUse.Store(cy.Num)
			}
			c.lookups.Lookup(true)
			return s.summary
		}
	}
	c.lookups.Lookup(false)
	s := &entry[S]{generation: gen, epoch: cy.Epoch, summary: compute(ni)}
	s.lastUse.Store(cy.Num)
	e.store(s)
	return s.summary
}

// store puts s in the slot of the least useful entry (see the package doc).
func (e *entries[S]) store(s *entry[S]) {
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
func worse[S any](a, b *entry[S], epoch uint64) bool {
	if (a.epoch == epoch) != (b.epoch == epoch) {
		return a.epoch != epoch
	}
	if a, b := a.lastUse.Load(), b.lastUse.Load(); a != b {
		return a < b
	}
	return a.generation > b.generation
}

// Forget drops a node's summaries (the node was deleted).
func (c *Cache[S]) Forget(name string) {
	c.nodes.Delete(name)
}

// sweep drops the nodes whose summaries were not used since cycle before.
func (c *Cache[S]) sweep(before uint64) {
	c.nodes.Range(func(k, v any) bool {
		e := v.(*entries[S])
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

// Len returns the number of cached summaries and of nodes holding them.
func (c *Cache[S]) Len() (summaries, nodes int) {
	c.nodes.Range(func(_, v any) bool {
		nodes++
		e := v.(*entries[S])
		for i := range e.slots {
			if e.slots[i].Load() != nil {
				summaries++
			}
		}
		return true
	})
	return summaries, nodes
}

// ForgetDeletedNodes drops a node's summaries as soon as the scheduler's
// Node informer reports the node deleted (the sweep would drop them later),
// and calls each of also with the node's name (e.g. metrics.ForgetNode(profile)).
func (c *Cache[S]) ForgetDeletedNodes(h fwk.Handle, also ...func(node string)) error {
	_, err := h.SharedInformerFactory().Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if node, ok := obj.(*v1.Node); ok {
				c.Forget(node.Name)
				for _, f := range also {
					f(node.Name)
				}
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watching nodes: %w", err)
	}
	return nil
}
