package sandboxoverhead

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// quietContext keeps per-node debug logs out of the measurements: the
// global klog logger at its default verbosity.
func quietContext(b *testing.B) context.Context {
	return klog.NewContext(b.Context(), klog.Background())
}

// mixedPods returns n pods on node: four in five kata-qemu VMs, the rest
// runc, as in a multi-tenant Kata cluster.
func mixedPods(n int, node string) []*v1.Pod {
	out := make([]*v1.Pod, 0, n)
	for i := range n {
		rc := "kata-qemu"
		if i%5 == 4 {
			rc = ""
		}
		out = append(out, podOn(fmt.Sprintf("%s-%d", node, i), rc, "64Mi", node))
	}
	return out
}

// BenchmarkFilter measures Filter on one node holding 10, 110 and 500
// pods. Filter reads the node's precomputed totals, so its cost must not
// grow with the pods on the node.
func BenchmarkFilter(b *testing.B) {
	for _, podsPerNode := range []int{10, 110, 500} {
		for _, tc := range []struct {
			name   string
			memory string
		}{{"fits", "4Ti"}, {"rejected", "8Gi"}} {
			b.Run(fmt.Sprintf("pods=%d/%s", podsPerNode, tc.name), func(b *testing.B) {
				ctx := quietContext(b)
				pl, snap := setup(ctx, b, nil, mixedPods(podsPerNode, "n"), []*v1.Node{makeNode("n", tc.memory, nil, nil)})
				pod := podOn("p", "kata-qemu", "512Mi", "")
				cs := framework.NewCycleState()
				if _, s := pl.PreFilter(ctx, cs, pod, nodeInfos(b, snap)); !s.IsSuccess() {
					b.Fatal(s)
				}
				ni := nodeInfo(b, snap, "n")
				wantOK := tc.name == "fits"
				if got := pl.Filter(ctx, cs, pod, ni).IsSuccess(); got != wantOK {
					b.Fatalf("Filter success = %v, want %v", got, wantOK)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					pl.Filter(ctx, cs, pod, ni)
				}
			})
		}
	}
}

// BenchmarkScore measures Score on one node at the same sizes.
func BenchmarkScore(b *testing.B) {
	for _, podsPerNode := range []int{10, 110, 500} {
		b.Run(fmt.Sprintf("pods=%d", podsPerNode), func(b *testing.B) {
			ctx := quietContext(b)
			pl, snap := setup(ctx, b, nil, mixedPods(podsPerNode, "n"), []*v1.Node{makeNode("n", "4Ti", nil, nil)})
			pod := podOn("p", "kata-qemu", "512Mi", "")
			cs := framework.NewCycleState()
			if _, s := pl.PreFilter(ctx, cs, pod, nodeInfos(b, snap)); !s.IsSuccess() {
				b.Fatal(s)
			}
			ni := nodeInfo(b, snap, "n")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				pl.Score(ctx, cs, pod, ni)
			}
		})
	}
}

// BenchmarkSummarize measures rescanning one node whose pods changed: the
// work Filter does once per changed node (typically one per cycle, the node
// the previous pod went to).
func BenchmarkSummarize(b *testing.B) {
	for _, podsPerNode := range []int{10, 110, 500} {
		b.Run(fmt.Sprintf("pods=%d", podsPerNode), func(b *testing.B) {
			ctx := quietContext(b)
			pl, snap := setup(ctx, b, nil, mixedPods(podsPerNode, "n"), []*v1.Node{makeNode("n", "4Ti", nil, nil)})
			ni := nodeInfo(b, snap, "n")
			logger := klog.FromContext(ctx)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				pl.summarize(logger, pl.views.Current(), ni)
			}
		})
	}
}

// clusterWithOneChange builds a cluster of nodes holding podsPerNode mixed
// pods each and returns a function that changes one node (adds or removes
// a pod, bumping its NodeInfo generation) as the assumed pod of the
// previous cycle does.
func clusterWithOneChange(ctx context.Context, b *testing.B, nodes, podsPerNode int) (*SandboxOverhead, []fwk.NodeInfo, func()) {
	var ns []*v1.Node
	var ps []*v1.Pod
	for i := range nodes {
		name := fmt.Sprintf("n%d", i)
		ns = append(ns, makeNode(name, "256Gi", nil, nil))
		ps = append(ps, mixedPods(podsPerNode, name)...)
	}
	pl, snap := setup(ctx, b, nil, ps, ns)
	list := nodeInfos(b, snap)
	changed := list[0]
	extra := podOn("extra", "kata-qemu", "64Mi", changed.Node().Name)
	extraInfo, err := framework.NewPodInfo(extra)
	if err != nil {
		b.Fatal(err)
	}
	logger := klog.FromContext(ctx)
	i := 0
	change := func() {
		if i%2 == 0 {
			changed.AddPodInfo(extraInfo)
		} else {
			_ = changed.RemovePod(logger, extra)
		}
		i++
	}
	return pl, list, change
}

// BenchmarkPreFilter measures PreFilter in the steady state: the cache is
// warm except for one node (the previous cycle's pod landed there). The
// pod change itself (AddPodInfo/RemovePod, about 1µs) is included.
func BenchmarkPreFilter(b *testing.B) {
	for _, nodes := range []int{500, 5000} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			ctx := quietContext(b)
			pl, list, change := clusterWithOneChange(ctx, b, nodes, 10)
			pod := podOn("p", "kata-qemu", "512Mi", "")
			pl.PreFilter(ctx, framework.NewCycleState(), pod, list)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				change()
				pl.PreFilter(ctx, framework.NewCycleState(), pod, list)
			}
		})
	}
}

// BenchmarkCycle measures what one scheduling cycle costs the plugin:
// PreFilter, then Filter and Score on every node (serially, so the figure
// is CPU time), with one node changed since the previous cycle. The
// first cycle (cold cache) is not measured.
func BenchmarkCycle(b *testing.B) {
	for _, nodes := range []int{500, 5000} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			ctx := quietContext(b)
			pl, list, change := clusterWithOneChange(ctx, b, nodes, 10)
			pod := podOn("p", "kata-qemu", "512Mi", "")
			cycle := func() {
				cs := framework.NewCycleState()
				if _, s := pl.PreFilter(ctx, cs, pod, list); !s.IsSuccess() {
					b.Fatal(s)
				}
				for _, ni := range list {
					if s := pl.Filter(ctx, cs, pod, ni); !s.IsSuccess() {
						b.Fatal(s)
					}
					pl.Score(ctx, cs, pod, ni)
				}
			}
			cycle()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				change()
				cycle()
			}
		})
	}
}

// BenchmarkFilterPreemptionCopy measures Filter on the NodeInfo copy that
// preemption builds (one victim removed, recorded by RemovePod in a clone
// of the state): the summary RemovePod recorded for the copy, so the
// cost must not grow with the pods on the node.
func BenchmarkFilterPreemptionCopy(b *testing.B) {
	for _, podsPerNode := range []int{10, 110, 500} {
		b.Run(fmt.Sprintf("pods=%d", podsPerNode), func(b *testing.B) {
			ctx := quietContext(b)
			existing := mixedPods(podsPerNode, "n")
			pl, snap := setup(ctx, b, nil, existing, []*v1.Node{makeNode("n", "4Ti", nil, nil)})
			pod := podOn("p", "kata-qemu", "512Mi", "")
			cs := framework.NewCycleState()
			if _, s := pl.PreFilter(ctx, cs, pod, nodeInfos(b, snap)); !s.IsSuccess() {
				b.Fatal(s)
			}
			victim, err := framework.NewPodInfo(existing[0])
			if err != nil {
				b.Fatal(err)
			}
			nodeCopy, stateCopy := nodeInfo(b, snap, "n").Snapshot(), cs.Clone()
			if err := nodeCopy.RemovePod(klog.FromContext(ctx), existing[0]); err != nil {
				b.Fatal(err)
			}
			if s := pl.RemovePod(ctx, stateCopy, pod, victim, nodeCopy); !s.IsSuccess() {
				b.Fatal(s)
			}
			if s := pl.Filter(ctx, stateCopy, pod, nodeCopy); !s.IsSuccess() {
				b.Fatal(s)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				pl.Filter(ctx, stateCopy, pod, nodeCopy)
			}
		})
	}
}
