package sandboxoverhead

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// TestSummaryCache checks that a node's summary is reused while its
// generation is unchanged, recomputed when its pods change, and that a
// RuntimeClass event invalidates every summary.
func TestSummaryCache(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, snap := setup(ctx, t, nil, pods(1, "kata-qemu", "512Mi", "n"), []*v1.Node{makeNode("n", "8Gi", nil, nil)})
	ni := nodeInfo(t, snap, "n")
	cycle := func() fwk.CycleState {
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, podOn("p", "kata-qemu", "512Mi", ""), nodeInfos(t, snap)); !s.IsSuccess() {
			t.Fatal(s)
		}
		return cs
	}
	cs := cycle()
	first := summaryIn(t, pl, cs, ni)
	if got, want := first.committed, int64(2656)<<20; got != want {
		t.Fatalf("committed = %d, want %d", got, want)
	}
	if again := summaryIn(t, pl, cycle(), ni); again != first {
		t.Errorf("unchanged node was summarized again in the next cycle")
	}
	// The scheduler updates the snapshot's NodeInfo in place when a pod is
	// added to the node: a new generation.
	x, err := framework.NewPodInfo(podOn("x", "", "1Gi", "n"))
	if err != nil {
		t.Fatal(err)
	}
	ni.AddPodInfo(x)
	cs = cycle()
	second := summaryIn(t, pl, cs, ni)
	if got, want := second.committed, int64(2656+1024)<<20; got != want {
		t.Errorf("after adding a pod committed = %d, want %d", got, want)
	}
	if again := summaryIn(t, pl, cs, ni); again != second {
		t.Errorf("the changed node's new summary was not cached")
	}
	pl.views.Invalidate()
	if third := summaryIn(t, pl, cycle(), ni); third == second {
		t.Errorf("summary not recomputed after a RuntimeClass change")
	}
}
