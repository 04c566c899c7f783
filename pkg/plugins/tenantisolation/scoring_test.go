package tenantisolation

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		safeNode("own"),
		safeNode("shared"),
		safeNode("empty"),
		safeNode("infra-only"),
		safeNode("excl"),
	}
	existing := []*v1.Pod{
		pod("a2", "mine", "kata", "own"),
		pod("b", "theirs", "kata", "shared"),
		pod("c", "theirs", "kata", "shared"),
		pod("kube-system", "ds", "", "infra-only"),
		pod("ex", "mine", "kata", "excl"),
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]int64
	}{
		{name: "VM prefers its tenant, then shared nodes, then empty ones", pod: pod("a1", "p", "kata", ""),
			want: map[string]int64{"own": 100, "shared": 50, "empty": 0, "infra-only": 0}},
		{name: "shared-kernel pod prefers its tenant's nodes over empty ones", pod: pod("a1", "p", "", ""),
			want: map[string]int64{"own": 100, "empty": 0, "infra-only": 0}},
		{name: "VM of tenant B prefers B's node over A's", pod: pod("b2", "p", "kata", ""),
			want: map[string]int64{"shared": 100, "own": 50, "empty": 0, "infra-only": 0}},
		{name: "exclusive tenant's VM prefers its own nodes over empty ones", pod: pod("ex", "p", "kata", ""),
			want: map[string]int64{"excl": 100, "empty": 0, "infra-only": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			pl, infos := setup(ctx, t, defaultArgs(t), existing, nodes)
			cs := framework.NewCycleState()
			if _, s := pl.PreFilter(ctx, cs, tc.pod, infos); !s.IsSuccess() {
				t.Fatalf("PreFilter: %v", s)
			}
			if s := pl.PreScore(ctx, cs, tc.pod, infos); s != nil {
				t.Fatalf("PreScore: %v", s)
			}
			var scores fwk.NodeScoreList
			for _, ni := range infos {
				if pl.Filter(ctx, cs, tc.pod, ni) != nil {
					continue
				}
				s, status := pl.Score(ctx, cs, tc.pod, ni)
				if status != nil {
					t.Fatalf("Score: %v", status)
				}
				scores = append(scores, fwk.NodeScore{Name: ni.Node().Name, Score: s})
			}
			if s := pl.NormalizeScore(ctx, cs, tc.pod, scores); s != nil {
				t.Fatalf("NormalizeScore: %v", s)
			}
			got := map[string]int64{}
			for _, s := range scores {
				got[s.Name] = s.Score
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("normalized scores of feasible nodes (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestPreScoreSkipsInfrastructure(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, infos := setup(ctx, t, defaultArgs(t), nil, []*v1.Node{safeNode("n1")})
	cs := framework.NewCycleState()
	p := pod("kube-system", "p", "", "")
	if _, s := pl.PreFilter(ctx, cs, p, infos); s.Code() != fwk.Skip {
		t.Fatalf("PreFilter: %v, want Skip", s)
	}
	if s := pl.PreScore(ctx, cs, p, infos); s.Code() != fwk.Skip {
		t.Errorf("PreScore: %v, want Skip", s)
	}
}
