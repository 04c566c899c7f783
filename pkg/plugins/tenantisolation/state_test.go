package tenantisolation

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/mtscn/mtscn/pkg/plugins/internal/nodecache"
	"github.com/mtscn/mtscn/pkg/plugins/internal/plugintest"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// TestSummaryCacheNominatedSteadyState checks the pattern of a node with a
// nominated pod: every cycle the framework filters a fresh copy with the
// nominated pod, then the real NodeInfo. The copies must not evict the real
// node's summary.
func TestSummaryCacheNominatedSteadyState(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, infos := setup(ctx, t, defaultArgs(t), []*v1.Pod{pod("a2", "e", "kata", "n1")}, []*v1.Node{safeNode("n1")})
	incoming := pod("a1", "p", "kata", "")
	nominated, err := framework.NewPodInfo(pod("b", "nominated", "", "n1"))
	if err != nil {
		t.Fatal(err)
	}
	live := infos[0]
	var first *nodeSummary
	for cycle := range 5 {
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, incoming, infos); !s.IsSuccess() {
			t.Fatalf("PreFilter: %v", s)
		}
		copied := live.Snapshot()
		copied.AddPodInfo(nominated)
		if got := pl.Filter(ctx, cs, incoming, copied).Message(); got != ErrReasonSharedKernelOtherTenant {
			t.Errorf("cycle %d: Filter on the copy with the nominated pod: %q, want %q", cycle, got, ErrReasonSharedKernelOtherTenant)
		}
		if s := pl.Filter(ctx, cs, incoming, live); s != nil {
			t.Errorf("cycle %d: Filter on the real node: %v, want success", cycle, s)
		}
		state, err := getPreFilterState(cs)
		if err != nil {
			t.Fatal(err)
		}
		sum := pl.summary(state, live)
		if first == nil {
			first = sum
		} else if sum != first {
			t.Errorf("cycle %d: the real node's summary was recomputed, want it cached", cycle)
		}
	}
}

// TestSummaryCacheBounded checks that the cache keeps at most nodecache.SlotsPerNode
// summaries per node, forgets deleted nodes, and sweeps nodes nobody asked
// for in nodecache.SweepEvery cycles.
func TestSummaryCacheBounded(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	pl, client := setupWithClient(ctx, t, &plugintest.Activations{}, fixtures())
	nodes := []*v1.Node{safeNode("n1"), safeNode("n2")}
	for _, n := range nodes {
		if _, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := cache.NewSnapshot([]*v1.Pod{pod("b", "e", "kata", "n1")}, nodes).NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	incoming := pod("a1", "p", "kata", "")
	cs := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, cs, incoming, infos); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	extra, err := framework.NewPodInfo(pod("c", "x", "kata", ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, ni := range infos {
		pl.Filter(ctx, cs, incoming, ni)
		// A preemption dry run: many copies of the node.
		cp := ni.Snapshot()
		for range 10 {
			cp.AddPodInfo(extra)
			pl.Filter(ctx, cs, incoming, cp)
			if err := cp.RemovePod(logger, extra.GetPod()); err != nil {
				t.Fatal(err)
			}
			pl.Filter(ctx, cs, incoming, cp)
		}
	}
	type size struct{ Summaries, Nodes int }
	sizeNow := func() size {
		s, n := pl.summaries.Len()
		return size{s, n}
	}
	got := []size{sizeNow()}

	if err := client.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return sizeNow().Nodes == 1, nil
	}); err != nil {
		t.Errorf("deleted node n1 still cached: %+v", sizeNow())
	}
	got = append(got, sizeNow())

	// Nobody asks for n2 during the next 2*nodecache.SweepEvery cycles: a sweep
	// drops nodes unused since the previous sweep.
	for range 2 * nodecache.SweepEvery {
		if _, s := pl.PreFilter(ctx, framework.NewCycleState(), incoming, infos); !s.IsSuccess() {
			t.Fatalf("PreFilter: %v", s)
		}
	}
	got = append(got, sizeNow())
	want := []size{{2 * nodecache.SlotsPerNode, 2}, {nodecache.SlotsPerNode, 1}, {0, 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cache size after copies, after deleting n1, after a sweep (-want,+got):\n%s", diff)
	}
}

// TestSummaryCache checks that a node's summary is reused only while its
// NodeInfo generation and every Namespace and RuntimeClass are unchanged.
func TestSummaryCache(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, client := setupWithClient(ctx, t, &plugintest.Activations{}, fixtures())
	node := safeNode("n1")
	infosOf := func(pods ...*v1.Pod) []fwk.NodeInfo {
		infos, err := cache.NewSnapshot(pods, []*v1.Node{node}).NodeInfos().List()
		if err != nil {
			t.Fatal(err)
		}
		return infos
	}
	incoming := pod("a1", "p", "kata", "")
	run := func(infos []fwk.NodeInfo) (string, *nodeSummary) {
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, incoming, infos); !s.IsSuccess() {
			t.Fatalf("PreFilter: %v", s)
		}
		s, err := getPreFilterState(cs)
		if err != nil {
			t.Fatal(err)
		}
		return pl.Filter(ctx, cs, incoming, infos[0]).Message(), pl.summary(s, infos[0])
	}

	vmOfB := infosOf(pod("b", "vm", "kata", "n1"))
	got1, sum1 := run(vmOfB)
	got2, sum2 := run(vmOfB)
	if sum1 != sum2 {
		t.Errorf("unchanged node: summary recomputed, want it reused")
	}
	got3, _ := run(infosOf(pod("b", "vm", "kata", "n1"), pod("c", "runc", "", "n1")))
	got4, _ := run(vmOfB)

	ns, err := client.CoreV1().Namespaces().Get(ctx, "b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	version := pl.views.Current().Version
	ns.Labels = map[string]string{wellknown.LabelNodeSharing: wellknown.NodeSharingExclusive}
	if _, err := client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return pl.views.Current().Version != version, nil
	}); err != nil {
		t.Fatal("namespace update not seen by the plugin")
	}
	got5, _ := run(vmOfB)

	want := []string{"", "", ErrReasonSharedKernelOtherTenant, "", ErrReasonExclusiveOtherTenant}
	if diff := cmp.Diff(want, []string{got1, got2, got3, got4, got5}); diff != "" {
		t.Errorf("Filter reasons: 1st cycle, same node again, pod added, pod gone, namespace b made exclusive (-want,+got):\n%s", diff)
	}
}
