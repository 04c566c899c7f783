package sandboxoverhead

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/apis/config"
)

func TestScore(t *testing.T) {
	nodes := []*v1.Node{makeNode("empty", "8Gi", nil, nil), makeNode("one-vm", "8Gi", nil, nil), makeNode("small", "4Gi", nil, nil)}
	existing := pods(1, "kata-qemu", "512Mi", "one-vm")
	pod := podOn("p", "kata-qemu", "512Mi", "")
	// After placement: empty 2656/8192 -> 324, one-vm 5312/8192 -> 648,
	// small 2656/4096 -> 648 per mille committed.
	tests := []struct {
		strategy config.ScoringStrategyType
		want     fwk.NodeScoreList
	}{
		{config.LeastCommitted, fwk.NodeScoreList{{Name: "empty", Score: 100}, {Name: "one-vm", Score: 52}, {Name: "small", Score: 52}}},
		{config.MostCommitted, fwk.NodeScoreList{{Name: "empty", Score: 50}, {Name: "one-vm", Score: 100}, {Name: "small", Score: 100}}},
	}
	for _, tc := range tests {
		t.Run(string(tc.strategy), func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			args := defaultArgs(t)
			args.ScoringStrategy = tc.strategy
			pl, snap := setup(ctx, t, args, existing, nodes)
			cs := framework.NewCycleState()
			if _, s := pl.PreFilter(ctx, cs, pod, nodeInfos(t, snap)); !s.IsSuccess() {
				t.Fatal(s)
			}
			if s := pl.PreScore(ctx, cs, pod, nodeInfos(t, snap)); !s.IsSuccess() {
				t.Fatal(s)
			}
			var got fwk.NodeScoreList
			for _, n := range nodes {
				score, s := pl.Score(ctx, cs, pod, nodeInfo(t, snap, n.Name))
				if !s.IsSuccess() {
					t.Fatal(s)
				}
				got = append(got, fwk.NodeScore{Name: n.Name, Score: score})
			}
			if s := pl.ScoreExtensions().NormalizeScore(ctx, cs, pod, got); !s.IsSuccess() {
				t.Fatal(s)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("scores (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestPreScoreSkipsWhenPreFilterSkipped(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, snap := setup(ctx, t, nil, nil, []*v1.Node{makeNode("n", "8Gi", nil, nil)})
	pod := st.MakePod().Name("p").Namespace("t1").Obj()
	cs := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, cs, pod, nodeInfos(t, snap)); s.Code() != fwk.Skip {
		t.Fatalf("PreFilter = %v, want Skip", s)
	}
	if s := pl.PreScore(ctx, cs, pod, nodeInfos(t, snap)); s.Code() != fwk.Skip {
		t.Errorf("PreScore = %v, want Skip", s)
	}
}
