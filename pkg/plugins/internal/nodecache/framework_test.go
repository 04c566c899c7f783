package nodecache

import (
	"fmt"
	"os"
	"regexp"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/metrics"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

// The tests in this file pin the framework behaviour the package doc lists
// (points 1 to 3) against the vendored k8s.io/kubernetes. If one fails
// after a Kubernetes bump, the node summaries of TenantIsolation and
// SandboxOverhead may be stale: fix the cache before anything else.

// pinnedVersion is the k8s.io/kubernetes version the contract was last
// checked against by reading its source.
const pinnedVersion = "v1.35.4"

// frameworkVersion returns the k8s.io/kubernetes version go.mod requires,
// for the failure messages.
func frameworkVersion() string {
	b, err := os.ReadFile("../../../../go.mod")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/kubernetes (v\S+)`).FindSubmatch(b)
	if m == nil {
		return "unknown"
	}
	return string(m[1])
}

func contractBroken(t *testing.T, point, format string, args ...any) {
	t.Helper()
	t.Errorf("framework contract %s (pkg/plugins/internal/nodecache/doc.go, checked against k8s.io/kubernetes %s) broken with %s: %s",
		point, pinnedVersion, frameworkVersion(), fmt.Sprintf(format, args...))
}

func testPod(name, node string) *v1.Pod {
	return st.MakePod().Name(name).Namespace("ns").UID(name).Node(node).Req(map[v1.ResourceName]string{v1.ResourceMemory: "1Gi"}).Obj()
}

func podNames(ni fwk.NodeInfo) map[string]bool {
	out := map[string]bool{}
	for _, pi := range ni.GetPods() {
		out[pi.GetPod().Name] = true
	}
	return out
}

// generations records the generations seen and fails on a reuse.
type generations struct {
	t    *testing.T
	seen map[int64]string
	last int64
}

func (g *generations) fresh(point, what string, gen int64) {
	g.t.Helper()
	if gen == 0 {
		contractBroken(g.t, point, "%s: generation 0", what)
	}
	if prev, ok := g.seen[gen]; ok {
		contractBroken(g.t, point, "%s: generation %d already seen after %s", what, gen, prev)
	}
	if gen <= g.last {
		contractBroken(g.t, point, "%s: generation %d not after %d", what, gen, g.last)
	}
	g.seen[gen], g.last = what, gen
}

// TestNodeInfoGenerations pins point 1: every change of a NodeInfo draws a
// generation never seen before, including a delete followed by a create.
func TestNodeInfoGenerations(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	g := &generations{t: t, seen: map[int64]string{}}
	ni := framework.NewNodeInfo()
	g.fresh("1", "NewNodeInfo", ni.GetGeneration())
	ni.SetNode(st.MakeNode().Name("n").Obj())
	g.fresh("1", "SetNode", ni.GetGeneration())
	ni.AddPod(testPod("a", "n"))
	g.fresh("1", "AddPod", ni.GetGeneration())
	if err := ni.RemovePod(logger, testPod("a", "n")); err != nil {
		t.Fatal(err)
	}
	g.fresh("1", "RemovePod", ni.GetGeneration())
	ni.AddPod(testPod("a", "n")) // the same pod again: same pods as two steps ago
	g.fresh("1", "AddPod of a pod removed before", ni.GetGeneration())
	ni.SetNode(st.MakeNode().Name("n").Label("x", "y").Obj())
	g.fresh("1", "SetNode (node update)", ni.GetGeneration())
	ni.RemoveNode()
	g.fresh("1", "RemoveNode", ni.GetGeneration())
	other := framework.NewNodeInfo(testPod("b", "n2"))
	g.fresh("1", "another NodeInfo", other.GetGeneration())
}

// TestSnapshotCopies pins point 3: a copy keeps the generation until it is
// changed, then gets one of its own; the original keeps its own.
func TestSnapshotCopies(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	ni := framework.NewNodeInfo(testPod("a", "n"), testPod("b", "n"))
	ni.SetNode(st.MakeNode().Name("n").Obj())
	orig := ni.GetGeneration()
	cp := ni.Snapshot()
	if cp.GetGeneration() != orig {
		contractBroken(t, "3", "Snapshot changed the generation %d to %d", orig, cp.GetGeneration())
	}
	g := &generations{t: t, seen: map[int64]string{orig: "original"}, last: orig}
	pi, err := framework.NewPodInfo(testPod("nominated", "n"))
	if err != nil {
		t.Fatal(err)
	}
	cp.AddPodInfo(pi)
	g.fresh("3", "AddPodInfo on a copy (nominated pod)", cp.GetGeneration())
	cp2 := ni.Snapshot()
	if err := cp2.RemovePod(logger, testPod("a", "n")); err != nil {
		t.Fatal(err)
	}
	g.fresh("3", "RemovePod on a copy (preemption victim)", cp2.GetGeneration())
	if ni.GetGeneration() != orig || len(ni.GetPods()) != 2 {
		contractBroken(t, "3", "changing copies changed the original: generation %d (was %d), %d pods (was 2)", ni.GetGeneration(), orig, len(ni.GetPods()))
	}
}

// TestSchedulerCacheSnapshots pins point 2 on the scheduler's own cache
// and snapshot: an unchanged node keeps its generation from one snapshot
// to the next; every pod or node change the scheduler makes (add, delete
// then create in one cycle, assume, forget, update, node re-created under
// its name) gives the snapshot's NodeInfo a generation not seen before; and
// a summary cached under the old generation is never returned for the new
// pods.
func TestSchedulerCacheSnapshots(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	metrics.Register() // the cache's background loop updates its gauges
	c := cache.New(ctx, 0, nil)
	snap := cache.NewEmptySnapshot()
	node := st.MakeNode().Name("n").Capacity(map[v1.ResourceName]string{v1.ResourceMemory: "64Gi", v1.ResourcePods: "110"}).Obj()
	c.AddNode(logger, node)
	var summaries Cache[map[string]bool]
	g := &generations{t: t, seen: map[int64]string{}}
	last := int64(0)
	step := func(what string, changed bool, want ...string) {
		t.Helper()
		if err := c.UpdateSnapshot(logger, snap); err != nil {
			t.Fatal(err)
		}
		ni, err := snap.NodeInfos().Get("n")
		if err != nil {
			t.Fatal(err)
		}
		if changed {
			g.fresh("2", what, ni.GetGeneration())
		} else if ni.GetGeneration() != last {
			contractBroken(t, "2", "%s: unchanged node's generation went from %d to %d", what, last, ni.GetGeneration())
		}
		last = ni.GetGeneration()
		got := summaries.Get(ni, summaries.Begin(0), podNames)
		wantSet := map[string]bool{}
		for _, p := range want {
			wantSet[p] = true
		}
		if fmt.Sprint(got) != fmt.Sprint(wantSet) {
			t.Errorf("%s: cached summary has pods %v, the node has %v", what, got, wantSet)
		}
	}
	step("node added", true)
	a, b := testPod("a", "n"), testPod("b", "n")
	if err := c.AddPod(logger, a); err != nil {
		t.Fatal(err)
	}
	step("pod a added", true, "a")
	step("nothing changed", false, "a")
	if err := c.RemovePod(logger, a); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPod(logger, b); err != nil {
		t.Fatal(err)
	}
	step("pod a deleted and pod b created between two cycles", true, "b")
	assumed := testPod("assumed", "n")
	if err := c.AssumePod(logger, assumed); err != nil {
		t.Fatal(err)
	}
	step("pod assumed", true, "assumed", "b")
	if err := c.ForgetPod(logger, assumed); err != nil {
		t.Fatal(err)
	}
	step("assumed pod forgotten (binding failed)", true, "b")
	if err := c.AssumePod(logger, assumed); err != nil {
		t.Fatal(err)
	}
	if err := c.FinishBinding(logger, assumed); err != nil {
		t.Fatal(err)
	}
	step("pod assumed again, binding finished", true, "assumed", "b")
	if err := c.AddPod(logger, assumed); err != nil { // the informer confirms the binding
		t.Fatal(err)
	}
	step("bound pod confirmed by the informer", true, "assumed", "b")
	if err := c.RemovePod(logger, assumed); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPod(logger, a); err != nil {
		t.Fatal(err)
	}
	step("delete and create again (same pod count)", true, "a", "b")
	bigger := b.DeepCopy()
	bigger.Spec.Containers[0].Resources.Requests[v1.ResourceMemory] = node.Status.Capacity[v1.ResourceMemory]
	if err := c.UpdatePod(logger, b, bigger); err != nil {
		t.Fatal(err)
	}
	step("pod updated (resized)", true, "a", "b")
	relabelled := node.DeepCopy()
	relabelled.Labels = map[string]string{"x": "y"}
	c.UpdateNode(logger, node, relabelled)
	step("node updated", true, "a", "b")
	if err := c.RemovePod(logger, a); err != nil {
		t.Fatal(err)
	}
	if err := c.RemovePod(logger, bigger); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveNode(logger, relabelled); err != nil {
		t.Fatal(err)
	}
	c.AddNode(logger, node)
	step("node deleted and re-created under its name", true)
}
