package sandboxoverhead

import (
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/klog/v2/ktesting"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/mtscn/mtscn/pkg/plugins/internal/metrics"
)

// TestCommittedMemoryPerProfile: one scheduler with two profiles whose
// SandboxOverhead args differ (overcommitRatio 1 and 2) sizes the same node
// differently, and /metrics shows both figures, one series per profile,
// instead of whichever profile summarized the node last.
func TestCommittedMemoryPerProfile(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	// Two 512Mi kata-qemu VMs: 2 × (2048 + 512 + 96)Mi, or 2 × (1280 + 96)Mi
	// with the guests halved.
	snap := cache.NewSnapshot(pods(2, "kata-qemu", "512Mi", "n"), []*v1.Node{makeNode("n", "16Gi", nil, nil)})
	var objs []apiruntime.Object
	for _, r := range runtimeClasses {
		objs = append(objs, r)
	}
	informerFactory := informers.NewSharedInformerFactory(fake.NewClientset(objs...), 0)
	ratios := map[string]float64{"mtscn-packing": 1, "mtscn-overcommit": 2}
	plugins := map[string]*SandboxOverhead{}
	for profile, ratio := range ratios {
		fh, err := frameworkruntime.NewFramework(ctx, nil, &schedconfig.KubeSchedulerProfile{SchedulerName: profile},
			frameworkruntime.WithSnapshotSharedLister(snap), frameworkruntime.WithInformerFactory(informerFactory))
		if err != nil {
			t.Fatal(err)
		}
		args := defaultArgs(t)
		args.OvercommitRatio = ratio
		p, err := New(ctx, args, fh)
		if err != nil {
			t.Fatal(err)
		}
		plugins[profile] = p.(*SandboxOverhead)
	}
	informerFactory.Start(ctx.Done())
	informerFactory.WaitForCacheSync(ctx.Done())
	t.Cleanup(func() {
		for profile := range ratios {
			metrics.ForgetNode(profile)("n")
		}
	})

	// The package's other tests summarized their nodes for profile "" (a
	// framework without a profile); none runs in parallel with this one.
	metrics.NodeCommittedMemory.Reset()
	for profile, pl := range plugins {
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, podOn("p", "kata-qemu", "512Mi", ""), nodeInfos(t, snap)); !s.IsSuccess() {
			t.Fatalf("%s: PreFilter: %v", profile, s)
		}
		if s := pl.Filter(ctx, cs, podOn("p", "kata-qemu", "512Mi", ""), nodeInfo(t, snap, "n")); !s.IsSuccess() {
			t.Fatalf("%s: Filter: %v", profile, s)
		}
	}
	var want strings.Builder
	want.WriteString(`
# HELP mtscn_scheduler_node_committed_memory_bytes [ALPHA] Memory the pods on each node commit as SandboxOverhead counts it (VM footprints included; docs/vm-footprint.md), by scheduler profile and node, updated when the profile's SandboxOverhead summarizes the node.
# TYPE mtscn_scheduler_node_committed_memory_bytes gauge
`)
	fmt.Fprintf(&want, "mtscn_scheduler_node_committed_memory_bytes{node=\"n\",profile=\"mtscn-overcommit\"} %g\n", float64(2*(1280+96)<<20))
	fmt.Fprintf(&want, "mtscn_scheduler_node_committed_memory_bytes{node=\"n\",profile=\"mtscn-packing\"} %g\n", float64(2*(2048+512+96)<<20))
	if err := testutil.GatherAndCompare(legacyregistry.DefaultGatherer, strings.NewReader(want.String()), "mtscn_scheduler_node_committed_memory_bytes"); err != nil {
		t.Error(err)
	}
}
