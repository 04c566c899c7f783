package sandboxfeatures

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// set of NFD labels (~60).
func BenchmarkFilter(b *testing.B) {
	ctx := b.Context() // the global logger: V(4) and up disabled, as in production
	labels := []string{labelKVM, "true", labelVirtMode, wellknown.VirtModeHardware, labelIOMMU, "true", labelQATVFIO, "true",
		runtimeLabel("kata-qemu"), "true", runtimeLabel("kata-qemu-tdx"), "true", labelTDX, "true"}
	for i := 0; i < 50; i++ {
		labels = append(labels, fmt.Sprintf("feature.node.kubernetes.io/cpu-cpuid.FLAG%d", i), "true")
	}
	n := node("bench", labels...)
	nodeInfo := framework.NewNodeInfo()
	nodeInfo.SetNode(n)
	pl := newPlugin(ctx, b, defaultArgs(b), []*v1.Node{n})
	for _, bc := range []struct {
		name string
		pod  *v1.Pod
	}{
		{name: "kata-qemu/2-requirements", pod: pod("p", "kata-qemu").Obj()},
		{name: "kata-qemu-tdx+QAT/5-requirements", pod: withQAT(pod("p", "kata-qemu-tdx"), qatCy).Obj()},
		{name: "kata-qemu-snp+QAT/rejected", pod: withQAT(pod("p", "kata-qemu-snp"), qatCy).Obj()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			state := framework.NewCycleState()
			if _, status := pl.PreFilter(ctx, state, bc.pod, nil); !status.IsSuccess() {
				b.Fatalf("PreFilter: %v", status)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_ = pl.Filter(ctx, state, bc.pod, nodeInfo)
			}
		})
	}
}

// BenchmarkPreFilter measures deriving a pod's requirements (RuntimeClass
// lookup, handler templating, device matching).
func BenchmarkPreFilter(b *testing.B) {
	ctx := b.Context() // the global logger: V(4) and up disabled, as in production
	pl := newPlugin(ctx, b, defaultArgs(b), nil)
	p := withQAT(pod("p", "kata-qemu-tdx"), qatCy).Obj()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, _ = pl.PreFilter(ctx, framework.NewCycleState(), p, nil)
	}
}

// BenchmarkPreFilterCandidates measures PreFilter on the bench's 5 000-node
// cluster shape (bench/README.md): a TDX pod, whose candidates are the 250
// TDX hosts, and a plain Kata pod, met by most nodes, which skips the scan
// most of the time.
func BenchmarkPreFilterCandidates(b *testing.B) {
	ctx := b.Context()
	kata := []string{labelKVM, "true", labelVirtMode, wellknown.VirtModeHardware, labelIOMMU, "true", runtimeLabel("kata-qemu"), "true"}
	for i := 0; i < 40; i++ {
		kata = append(kata, fmt.Sprintf("feature.node.kubernetes.io/cpu-cpuid.FLAG%d", i), "true")
	}
	var nodes []*v1.Node
	for i := range 5000 {
		labels := kata
		if i%20 == 0 {
			labels = append([]string{runtimeLabel("kata-qemu-tdx"), "true", labelTDX, "true"}, kata...)
		}
		nodes = append(nodes, node(fmt.Sprintf("node-%d", i), labels...))
	}
	infos := nodeInfos(nodes)
	pl := newPlugin(ctx, b, defaultArgs(b), nil)
	for _, bc := range []struct {
		name string
		pod  *v1.Pod
	}{
		{name: "kata-qemu-tdx/250-of-5000", pod: pod("p", "kata-qemu-tdx").Obj()},
		{name: "kata-qemu/broad", pod: pod("p", "kata-qemu").Obj()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = pl.PreFilter(ctx, framework.NewCycleState(), bc.pod, infos)
			}
		})
	}
}
