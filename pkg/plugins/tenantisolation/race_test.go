package tenantisolation

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/klog/v2/ktesting"
	schedcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/mtscn/mtscn/pkg/plugins/internal/plugintest"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// The tests in this file drive the window between an informer updating its
// store and calling the plugin's event handlers: the typed informers update
// the store first and notify handlers afterwards, asynchronously, and a
// handler can be busy (activating pods of an earlier event) while more
// updates land in the store. A scheduling cycle in that window must decide
// on one consistent classification: the incoming pod and the node summaries
// it is compared with must come from the same Namespaces and RuntimeClasses.
// The tests put objects into the store without notifying handlers, which
// is exactly the state of that window.

// raceFixture sets up the plugin over objs plus a pending pod "sync/p" of a
// namespace "sync" naming RuntimeClass "sync", and waits until the
// plugin's handlers have processed the initial lists: a relabel of
// namespace "sync" and the creation of RuntimeClass "sync" each activate
// the pending pod, and each informer's handlers see events in order.
func raceFixture(ctx context.Context, t *testing.T, objs ...runtime.Object) (*TenantIsolation, informers.SharedInformerFactory) {
	t.Helper()
	objs = append(objs, ns("sync", nil), pod("sync", "p", "sync", ""))
	rec := &plugintest.Activations{}
	pl, client, factory := setupWithInformers(ctx, t, rec, objs)
	activated := func(what string) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			for _, p := range rec.Take() {
				if p == "sync/p" {
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			t.Fatalf("the plugin's %s handler did not process the initial list", what)
		}
	}
	s, err := client.CoreV1().Namespaces().Get(ctx, "sync", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Labels = map[string]string{wellknown.LabelTenant: "S"}
	if _, err := client.CoreV1().Namespaces().Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	activated("Namespace")
	if _, err := client.NodeV1().RuntimeClasses().Create(ctx, rc("sync", "runc", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	activated("RuntimeClass")
	return pl, factory
}

// storeOnly puts objects into their informers' stores without notifying
// any handler: the informer has applied the update, the handlers have not
// run yet.
func storeOnly(t *testing.T, factory informers.SharedInformerFactory, objs ...runtime.Object) {
	t.Helper()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *v1.Namespace:
			err = factory.Core().V1().Namespaces().Informer().GetIndexer().Update(o)
		default:
			err = factory.Node().V1().RuntimeClasses().Informer().GetIndexer().Update(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestNamespaceRelabelWindow: namespace o (tenant A) runs a shared-kernel
// pod on n1. An admin moves o to tenant Y, then moves namespace b from
// tenant X to tenant A. Both updates reach the store before the plugin's
// handler ran. A shared-kernel pod of b must not land on n1 in that window:
// before the updates n1 was tenant A's and b was X; after them n1 is Y's
// and b is A. Combining b's new tenant (A) with n1's summary computed
// before the updates (tenant A's node) would place a tenant A pod next to
// a tenant Y pod, breaking I1.
func TestNamespaceRelabelWindow(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, factory := raceFixture(ctx, t,
		ns("o", map[string]string{wellknown.LabelTenant: "A"}),
		ns("b", map[string]string{wellknown.LabelTenant: "X"}),
	)
	infos, err := schedcache.NewSnapshot([]*v1.Pod{pod("o", "web", "", "n1")}, []*v1.Node{safeNode("n1")}).NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	incoming := pod("b", "p", "", "")
	cycle := func() string {
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, incoming, infos); !s.IsSuccess() {
			t.Fatalf("PreFilter: %v", s)
		}
		return pl.Filter(ctx, cs, incoming, infos[0]).Message()
	}
	before := cycle() // caches n1's summary

	storeOnly(t, factory,
		ns("o", map[string]string{wellknown.LabelTenant: "Y"}),
		ns("b", map[string]string{wellknown.LabelTenant: "A"}),
	)
	window := cycle()

	want := []string{ErrReasonSharedKernelOtherTenant, ErrReasonSharedKernelOtherTenant}
	if diff := cmp.Diff(want, []string{before, window}); diff != "" {
		t.Errorf("Filter of a shared-kernel pod of b on n1 (runs o's shared-kernel pod): before the relabels, after both reached the store but before the plugin's handler ran (-want,+got):\n%s", diff)
	}
}

// TestRuntimeClassRelabelWindow: tenant B runs a pod of RuntimeClass r1
// (mtscn.io/sandboxed=true) on the cotenancy-safe node n1; tenant A's pod
// uses r2 (sandboxed=false). An admin marks r1 not sandboxed, then r2
// sandboxed; both reach the store before the plugin's handler ran. Before,
// A's pod shared the kernel (it needs its own node); after, B's pod shares
// the kernel (n1 is B's). Combining r2's new label for the incoming pod
// with n1's summary computed before would put A's pod next to B's
// shared-kernel pod, breaking I1.
func TestRuntimeClassRelabelWindow(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, factory := raceFixture(ctx, t,
		ns("a1", map[string]string{wellknown.LabelTenant: "A"}),
		ns("b", map[string]string{wellknown.LabelTenant: "B"}),
		rc("r1", "r1", map[string]string{wellknown.LabelSandboxed: "true"}),
		rc("r2", "r2", map[string]string{wellknown.LabelSandboxed: "false"}),
	)
	infos, err := schedcache.NewSnapshot([]*v1.Pod{pod("b", "vm", "r1", "n1")}, []*v1.Node{safeNode("n1")}).NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	incoming := pod("a1", "p", "r2", "")
	cycle := func() string {
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, incoming, infos); !s.IsSuccess() {
			t.Fatalf("PreFilter: %v", s)
		}
		return pl.Filter(ctx, cs, incoming, infos[0]).Message()
	}
	before := cycle()

	storeOnly(t, factory,
		rc("r1", "r1", map[string]string{wellknown.LabelSandboxed: "false"}),
		rc("r2", "r2", map[string]string{wellknown.LabelSandboxed: "true"}),
	)
	window := cycle()

	// Before the relabels A's pod shares the kernel; after them B's does.
	// Either is a consistent answer; accepting is not.
	if window == ErrReasonSharedKernelOtherTenant {
		window = ErrReasonSharedKernelNeedsOwnNode
	}
	want := []string{ErrReasonSharedKernelNeedsOwnNode, ErrReasonSharedKernelNeedsOwnNode}
	if diff := cmp.Diff(want, []string{before, window}); diff != "" {
		t.Errorf("Filter of tenant A's r2 pod on n1 (runs tenant B's r1 pod): before the relabels, after both reached the store but before the plugin's handler ran (-want,+got):\n%s", diff)
	}
}
