package classify

import (
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	nodelisters "k8s.io/client-go/listers/node/v1"

	"github.com/mtscn/mtscn/pkg/tenancy"
)

// View classifies pods from one immutable copy of the scheduler's
// Namespaces and RuntimeClasses. A scheduling cycle takes one View in
// PreFilter and classifies the incoming pod and every pod on every node
// through it, and a per-node summary is cached under the Version of the
// View it was computed with: a cycle never combines the incoming pod's
// classification with summaries computed from other labels.
type View struct {
	// Version numbers the view; later views have higher versions.
	Version uint64
	*tenancy.Classifier
}

// Views hands out the current View. The informers update their stores
// before they notify event handlers, asynchronously (a handler may still
// be busy with an earlier event while later updates land in the store), so
// a plugin that read the listers directly and invalidated its per-node
// summaries from a handler would, in between, classify the incoming pod on
// new labels and compare it with summaries computed on old ones: with two
// relabels in that window, a decision that no state of the cluster ever
// allowed (see the tenantisolation tests TestNamespaceRelabelWindow and
// TestRuntimeClassRelabelWindow). Instead, the plugin's handlers call
// Invalidate on a change that classification reads, and the next Current
// copies the listers into a new View. A View may include updates whose
// handler has not run yet; it is still one copy, used whole.
type Views struct {
	base           *tenancy.Classifier
	namespaces     corelisters.NamespaceLister
	runtimeClasses nodelisters.RuntimeClassLister

	// stale is set by Invalidate and cleared when a new View is built.
	stale atomic.Bool
	// invalidations counts Invalidate calls.
	invalidations atomic.Uint64
	current       atomic.Pointer[View]
	mu            sync.Mutex // serializes rebuilds
}

// NewViews returns Views over the listers. Namespaces may be nil for a
// plugin that classifies runtimes only.
func NewViews(cfg tenancy.Config, namespaces corelisters.NamespaceLister, runtimeClasses nodelisters.RuntimeClassLister) *Views {
	v := &Views{base: tenancy.New(cfg, namespaces, runtimeClasses), namespaces: namespaces, runtimeClasses: runtimeClasses}
	v.stale.Store(true)
	return v
}

// Invalidate says that a Namespace or RuntimeClass changed in a way
// classification reads: the next Current builds a new View. Call it from
// the informer's event handler, after the store was updated.
func (v *Views) Invalidate() {
	v.invalidations.Add(1)
	v.stale.Store(true)
}

// Invalidations returns how many times Invalidate was called.
func (v *Views) Invalidations() uint64 { return v.invalidations.Load() }

// RuntimeOf classifies a RuntimeClass object with the views'
// configuration (tenancy.Classifier.RuntimeOf): what a View would answer
// for the pods of that class. It reads the object only, so event handlers
// can compare a class before and after an update.
func (v *Views) RuntimeOf(rc *nodev1.RuntimeClass) tenancy.Runtime { return v.base.RuntimeOf(rc) }

// Current returns the current View, building a new one from the listers
// when Invalidate was called since the last one was built. The copy costs
// one pass over the Namespaces and RuntimeClasses, once per change.
func (v *Views) Current() *View {
	if !v.stale.Load() {
		if cur := v.current.Load(); cur != nil {
			return cur
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	cur := v.current.Load()
	if cur != nil && !v.stale.Load() {
		return cur
	}
	// Cleared before listing: an Invalidate that arrives while the
	// listers are copied makes the next call build again.
	v.stale.Store(false)
	version := uint64(1)
	if cur != nil {
		version = cur.Version + 1
	}
	next := &View{Version: version, Classifier: v.base.Snapshot(v.list())}
	v.current.Store(next)
	return next
}

func (v *Views) list() ([]*v1.Namespace, []*nodev1.RuntimeClass) {
	var nss []*v1.Namespace
	if v.namespaces != nil {
		// Listers do not fail on labels.Everything().
		nss, _ = v.namespaces.List(labels.Everything())
	}
	var rcs []*nodev1.RuntimeClass
	if v.runtimeClasses != nil {
		rcs, _ = v.runtimeClasses.List(labels.Everything())
	}
	return nss, rcs
}
