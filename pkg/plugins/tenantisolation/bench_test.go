package tenantisolation

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/kubernetes/pkg/scheduler/framework"
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
			pl, infos := setup(ctx, b, defaultArgs(b), benchPods("n1", podsPerNode), []*v1.Node{safeNode("n1")})
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

// BenchmarkPreFilter measures PreFilter alone on 5 000 nodes: it only
// classifies the incoming pod, whatever the number of nodes.
func BenchmarkPreFilter(b *testing.B) {
	_, ctx := ktesting.NewTestContext(b)
	var nodes []*v1.Node
	for i := range 5000 {
		nodes = append(nodes, safeNode(fmt.Sprintf("n%d", i)))
	}
	pl, infos := setup(ctx, b, defaultArgs(b), nil, nodes)
	incoming := pod("a2", "incoming", "kata", "")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, s := pl.PreFilter(ctx, framework.NewCycleState(), incoming, infos); !s.IsSuccess() {
			b.Fatalf("PreFilter: %v", s)
		}
	}
}

// BenchmarkCycle measures one scheduling cycle's work for this plugin:
// PreFilter, then Filter on every node (run in sequence here, so ns/op is
// the CPU the cycle costs across the scheduler's parallel workers), on 500
// and 5 000 nodes with 10 pods each. "steady": no node changed since the
// previous cycle but one, the node the previous pod was bound to (a new
// NodeInfo generation, as in a running scheduler).
//
// "cold": every summary is recomputed in every cycle (as in the first cycle
// after a Namespace or RuntimeClass change), on 100 nodes with 10, 110 and
// 500 pods each.
func BenchmarkCycle(b *testing.B) {
	for _, nodes := range []int{500, 5000} {
		b.Run(fmt.Sprintf("%dNodes/10PodsPerNode/steady", nodes), func(b *testing.B) {
			benchmarkCycle(b, nodes, 10, false)
		})
	}
	for _, podsPerNode := range []int{10, 110, 500} {
		b.Run(fmt.Sprintf("100Nodes/%dPodsPerNode/cold", podsPerNode), func(b *testing.B) {
			benchmarkCycle(b, 100, podsPerNode, true)
		})
	}
}

func benchmarkCycle(b *testing.B, numNodes, podsPerNode int, cold bool) {
	_, ctx := ktesting.NewTestContext(b)
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := range numNodes {
		name := fmt.Sprintf("n%d", i)
		nodes = append(nodes, safeNode(name))
		pods = append(pods, benchPods(name, podsPerNode)...)
	}
	pl, infos := setup(ctx, b, defaultArgs(b), pods, nodes)
	incoming := pod("a2", "incoming", "kata", "")
	// The pod "bound" in the previous cycle: added to one node, then
	// removed again, so that every node keeps podsPerNode pods.
	bound, err := framework.NewPodInfo(pod("c", "bound", "kata", ""))
	if err != nil {
		b.Fatal(err)
	}
	logger := klog.FromContext(ctx)
	cycle := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		i := cycle % numNodes
		ni := infos[i].Snapshot()
		if cycle/numNodes%2 == 0 {
			ni.AddPodInfo(bound)
		} else if err := ni.RemovePod(logger, bound.GetPod()); err != nil {
			b.Fatal(err)
		}
		infos[i] = ni
		cycle++
		if cold {
			pl.views.Invalidate()
		}
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, incoming, infos); !s.IsSuccess() {
			b.Fatalf("PreFilter: %v", s)
		}
		for _, ni := range infos {
			if s := pl.Filter(ctx, cs, incoming, ni); s != nil {
				b.Fatalf("Filter: %v", s)
			}
		}
	}
}
