package metrics

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
)

func TestMain(m *testing.M) {
	Register()
	m.Run()
}

// TestRejected is the only user of Rejections in this package: Rejected
// keeps the counters it resolved, so the vector is not Reset.
func TestRejected(t *testing.T) {
	Rejected("TenantIsolation", "node runs shared-kernel pods of another tenant")
	Rejected("TenantIsolation", "node runs shared-kernel pods of another tenant")
	Rejected("SandboxOverhead", "insufficient committed memory")
	Rejected("SandboxFeatures", "node lacks: ")
	want := `
# HELP mtscn_scheduler_rejections_total [ALPHA] Rejections by mtscn's plugins, by plugin and constant reason (the rule: docs/design.md), counted per pod in PreFilter and per node in Filter.
# TYPE mtscn_scheduler_rejections_total counter
mtscn_scheduler_rejections_total{plugin="SandboxFeatures",reason="node lacks"} 1
mtscn_scheduler_rejections_total{plugin="SandboxOverhead",reason="insufficient committed memory"} 1
mtscn_scheduler_rejections_total{plugin="TenantIsolation",reason="node runs shared-kernel pods of another tenant"} 2
`
	if err := testutil.GatherAndCompare(legacyregistry.DefaultGatherer, strings.NewReader(want), "mtscn_scheduler_rejections_total"); err != nil {
		t.Error(err)
	}
}

func TestCountRequeues(t *testing.T) {
	Requeues.Reset()
	logger, _ := ktesting.NewTestContext(t)
	hint := func(h fwk.QueueingHint) fwk.QueueingHintFn {
		return func(klog.Logger, *v1.Pod, interface{}, interface{}) (fwk.QueueingHint, error) { return h, nil }
	}
	nodeEvent := fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel}
	podEvent := fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Delete}
	events := CountRequeues("TenantIsolation", []fwk.ClusterEventWithHint{
		{Event: nodeEvent, QueueingHintFn: hint(fwk.Queue)},
		{Event: podEvent, QueueingHintFn: hint(fwk.QueueSkip)},
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Delete}},
	})
	if len(events) != 3 || events[2].QueueingHintFn != nil || events[0].Event != nodeEvent {
		t.Fatalf("CountRequeues changed the events: %+v", events)
	}
	node := &v1.Node{}
	for _, objs := range [][2]interface{}{{nil, node}, {node, node}, {nil, node}} {
		if h, err := events[0].QueueingHintFn(logger, &v1.Pod{}, objs[0], objs[1]); h != fwk.Queue || err != nil {
			t.Fatalf("wrapped hint returned %v, %v; want Queue", h, err)
		}
	}
	if h, _ := events[1].QueueingHintFn(logger, &v1.Pod{}, &v1.Pod{}, nil); h != fwk.QueueSkip {
		t.Fatalf("wrapped hint returned %v, want QueueSkip", h)
	}
	want := `
# HELP mtscn_scheduler_requeues_total [ALPHA] Queueing hints of mtscn's plugins that requeued a pod they had rejected (fwk.Queue), by plugin and cluster event.
# TYPE mtscn_scheduler_requeues_total counter
mtscn_scheduler_requeues_total{event="NodeAdd",plugin="TenantIsolation"} 2
mtscn_scheduler_requeues_total{event="NodeUpdate",plugin="TenantIsolation"} 1
`
	if err := testutil.GatherAndCompare(legacyregistry.DefaultGatherer, strings.NewReader(want), "mtscn_scheduler_requeues_total"); err != nil {
		t.Error(err)
	}
}

func TestCacheCounters(t *testing.T) {
	NodeCacheLookups.Reset()
	c := NewCacheCounters("SandboxOverhead")
	c.Lookup(true)
	c.Lookup(true)
	c.Lookup(false)
	var none *CacheCounters
	none.Lookup(true)
	want := `
# HELP mtscn_scheduler_node_cache_lookups_total [ALPHA] Lookups of mtscn's per-node summary caches, by plugin and result (hit, miss: the node changed and its pods were summarized again).
# TYPE mtscn_scheduler_node_cache_lookups_total counter
mtscn_scheduler_node_cache_lookups_total{plugin="SandboxOverhead",result="hit"} 2
mtscn_scheduler_node_cache_lookups_total{plugin="SandboxOverhead",result="miss"} 1
`
	if err := testutil.GatherAndCompare(legacyregistry.DefaultGatherer, strings.NewReader(want), "mtscn_scheduler_node_cache_lookups_total"); err != nil {
		t.Error(err)
	}
}

// TestCommittedMemory: two profiles of one scheduler (packing and
// spreading, say) size the same node differently, and each keeps its own
// series; a deleted node's series go, per profile.
func TestCommittedMemory(t *testing.T) {
	NodeCommittedMemory.Reset()
	SetCommittedMemory("mtscn-scheduler", "node-a", 3<<30)
	SetCommittedMemory("mtscn-scheduler", "node-b", 1<<30)
	SetCommittedMemory("mtscn-scheduler-overcommit", "node-a", 1<<30)
	SetCommittedMemory("mtscn-scheduler-overcommit", "node-b", 1<<29)
	SetCommittedMemory("mtscn-scheduler", "node-a", 2<<30)
	ForgetNode("mtscn-scheduler")("node-b")
	ForgetNode("mtscn-scheduler-overcommit")("node-b")
	ForgetNode("mtscn-scheduler")("never-seen")
	want := `
# HELP mtscn_scheduler_node_committed_memory_bytes [ALPHA] Memory the pods on each node commit as SandboxOverhead counts it (VM footprints included; docs/vm-footprint.md), by scheduler profile and node, updated when the profile's SandboxOverhead summarizes the node.
# TYPE mtscn_scheduler_node_committed_memory_bytes gauge
mtscn_scheduler_node_committed_memory_bytes{node="node-a",profile="mtscn-scheduler"} 2.147483648e+09
mtscn_scheduler_node_committed_memory_bytes{node="node-a",profile="mtscn-scheduler-overcommit"} 1.073741824e+09
`
	if err := testutil.GatherAndCompare(legacyregistry.DefaultGatherer, strings.NewReader(want), "mtscn_scheduler_node_committed_memory_bytes"); err != nil {
		t.Error(err)
	}
}

func BenchmarkRejected(b *testing.B) {
	for b.Loop() {
		Rejected("BenchmarkPlugin", "node runs shared-kernel pods of another tenant")
	}
}

func BenchmarkCacheLookup(b *testing.B) {
	c := NewCacheCounters("BenchmarkPlugin")
	for b.Loop() {
		c.Lookup(true)
	}
}
