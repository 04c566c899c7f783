package classify

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	nodelisters "k8s.io/client-go/listers/node/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// TestViews: a View is a copy of the listers taken at the first Current
// after an Invalidate; later store updates reach the plugin only through
// the next Invalidate, and a RuntimeClass deleted afterwards keeps the
// classification a View saw.
func TestViews(t *testing.T) {
	nsStore := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	rcStore := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	add := func(store cache.Indexer, obj any) {
		t.Helper()
		if err := store.Update(obj); err != nil {
			t.Fatal(err)
		}
	}
	add(nsStore, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{wellknown.LabelTenant: "X"}}})
	add(rcStore, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "vm"}, Handler: "kata-qemu"})
	cfg := tenancy.Config{TenantLabelKeys: []string{wellknown.LabelTenant}, SandboxedHandlers: []string{"kata*"}}
	views := NewViews(cfg, corelisters.NewNamespaceLister(nsStore), nodelisters.NewRuntimeClassLister(rcStore))

	tenant := func(v *View) string {
		t.Helper()
		p, err := v.Namespace("b")
		if err != nil {
			t.Fatal(err)
		}
		return p.Tenant
	}
	first := views.Current()
	if got := tenant(first); got != "X" {
		t.Fatalf("first view: tenant %q, want X", got)
	}
	// The store moves on; the handler has not run.
	add(nsStore, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{wellknown.LabelTenant: "A"}}})
	if v := views.Current(); v != first || tenant(v) != "X" {
		t.Errorf("before Invalidate: view %d with tenant %q, want the first view (%d) with tenant X", v.Version, tenant(v), first.Version)
	}
	views.Invalidate()
	second := views.Current()
	if second.Version <= first.Version || tenant(second) != "A" {
		t.Errorf("after Invalidate: view %d with tenant %q, want a view after %d with tenant A", second.Version, tenant(second), first.Version)
	}
	if tenant(first) != "X" {
		t.Errorf("the first view changed: tenant %q, want X", tenant(first))
	}
	if views.Current() != second {
		t.Errorf("no Invalidate since: want the same view")
	}

	// A RuntimeClass deleted after a view saw it: its running pods keep
	// being sized as VMs by every later view.
	if err := rcStore.Delete(&nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "vm"}}); err != nil {
		t.Fatal(err)
	}
	views.Invalidate()
	third := views.Current()
	name := "vm"
	if _, err := third.Runtime(&name); err == nil {
		t.Errorf("deleted RuntimeClass found by the incoming pod's lookup")
	}
	if rt := third.BoundRuntime(&name); !rt.Sandboxed || rt.Missing || rt.Handler != "kata-qemu" {
		t.Errorf("pod of the deleted class on a node: %+v, want the classification seen before (kata-qemu, sandboxed)", rt)
	}
	if views.Invalidations() != 2 {
		t.Errorf("Invalidations() = %d, want 2", views.Invalidations())
	}
}
