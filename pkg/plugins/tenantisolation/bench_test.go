package tenantisolation

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

// benchPods returns n pods bound to node, VMs of three tenants plus an
// infrastructure pod: the node stays feasible for another sandboxed pod, so
// Filter runs all of its checks.
func benchPods(node string, n int) []*v1.Pod {
	namespaces := []string{"a1", "b", "c", "kube-system"}
	pods := make([]*v1.Pod, 0, n)
	for i := range n {
		pods = append(pods, pod(namespaces[i%len(namespaces)], fmt.Sprintf("p%d", i), "kata", node))
	}
	return pods
}

// BenchmarkFilter measures Filter on one node holding 10, 110 and 500 pods.
// Its cost must not grow with the number of pods on the node.
func BenchmarkFilter(b *testing.B) {
	for _, podsPerNode := range []int{10, 110, 500} {
		b.Run(fmt.Sprintf("%dPodsPerNode", podsPerNode), func(b *testing.B) {
			_, ctx := ktesting.NewTestContext(b)
			pl, infos := setup(ctx, b, defaultArgs(b), benchPods("n1", podsPerNode), []*v1.Node{st.MakeNode().Name("n1").Obj()})
			incoming := pod("a2", "incoming", "kata", "")
			cs := framework.NewCycleState()
			if _, s := pl.PreFilter(ctx, cs, incoming, infos); !s.IsSuccess() {
				b.Fatalf("PreFilter: %v", s)
			}
			ni := infos[0]
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if s := pl.Filter(ctx, cs, incoming, ni); s != nil {
					b.Fatalf("Filter: %v", s)
				}
			}
		})
	}
}

// BenchmarkPreFilter measures building the per-node summaries once per
// scheduling cycle on 100 nodes with 10, 110 and 500 pods each: cold, every
// summary recomputed (as after a Namespace or RuntimeClass change), and
// warm, no node changed since the previous cycle (in a running scheduler
// usually all nodes but the one the previous pod was bound to).
func BenchmarkPreFilter(b *testing.B) {
	for _, podsPerNode := range []int{10, 110, 500} {
		for _, warm := range []bool{false, true} {
			b.Run(fmt.Sprintf("100Nodes/%dPodsPerNode/warm=%v", podsPerNode, warm), func(b *testing.B) {
				benchmarkPreFilter(b, podsPerNode, warm)
			})
		}
	}
}

func benchmarkPreFilter(b *testing.B, podsPerNode int, warm bool) {
	_, ctx := ktesting.NewTestContext(b)
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := range 100 {
		name := fmt.Sprintf("n%d", i)
		nodes = append(nodes, st.MakeNode().Name(name).Obj())
		pods = append(pods, benchPods(name, podsPerNode)...)
	}
	pl, infos := setup(ctx, b, defaultArgs(b), pods, nodes)
	incoming := pod("a2", "incoming", "kata", "")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if !warm {
			pl.epoch.Add(1)
		}
		if _, s := pl.PreFilter(ctx, framework.NewCycleState(), incoming, infos); !s.IsSuccess() {
			b.Fatalf("PreFilter: %v", s)
		}
	}
}
