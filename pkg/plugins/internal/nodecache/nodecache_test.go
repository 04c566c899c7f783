package nodecache

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

// counter computes a summary (the number of pods) and counts the calls.
type counter struct{ calls int }

func (c *counter) compute(ni fwk.NodeInfo) int {
	c.calls++
	return len(ni.GetPods())
}

func newNode(name string, pods int) fwk.NodeInfo {
	ni := framework.NewNodeInfo()
	ni.SetNode(st.MakeNode().Name(name).Obj())
	for i := range pods {
		ni.AddPod(testPod(name+"-"+string(rune('a'+i)), name))
	}
	return ni
}

// TestRealNodeSurvivesCopies checks the replacement policy: the copies a
// preemption dry run makes of a node, each with its own generation, do not
// evict the summary of the real node, which the next cycle reads again.
func TestRealNodeSurvivesCopies(t *testing.T) {
	var c Cache[int]
	var n counter
	real := newNode("n", 3)
	c.Get(real, c.Begin(0), n.compute)
	cy := c.Begin(0)
	if got := c.Get(real, cy, n.compute); got != 3 || n.calls != 1 {
		t.Fatalf("second cycle: summary %d after %d computations, want 3 after 1", got, n.calls)
	}
	for i := range 5 {
		cp := real.Snapshot()
		pi, err := framework.NewPodInfo(testPod("nominated", "n"))
		if err != nil {
			t.Fatal(err)
		}
		cp.AddPodInfo(pi)
		if got := c.Get(cp, cy, n.compute); got != 4 {
			t.Errorf("copy %d: summary %d, want 4 (its own pods)", i, got)
		}
	}
	calls := n.calls
	if got := c.Get(real, c.Begin(0), n.compute); got != 3 || n.calls != calls {
		t.Errorf("real node after copies: summary %d, %d more computations; want 3, none", got, n.calls-calls)
	}
	if s, nodes := c.Len(); s > SlotsPerNode || nodes != 1 {
		t.Errorf("Len() = %d summaries on %d nodes, want at most %d on 1", s, nodes, SlotsPerNode)
	}
}

// TestEpochs checks that a new epoch makes every summary stale, and
// that a NodeInfo of generation 0 (not made by the framework) is computed
// every time and never cached.
func TestEpochs(t *testing.T) {
	var c Cache[int]
	var n counter
	ni := newNode("n", 1)
	c.Get(ni, c.Begin(1), n.compute)
	c.Get(ni, c.Begin(1), n.compute)
	c.Get(ni, c.Begin(2), n.compute)
	if n.calls != 2 {
		t.Errorf("%d computations, want 2 (one per epoch)", n.calls)
	}
	zero := &framework.NodeInfo{}
	zero.SetNode(st.MakeNode().Name("z").Obj())
	zero.Generation = 0
	calls := n.calls
	c.Get(zero, c.Begin(0), n.compute)
	c.Get(zero, c.Begin(0), n.compute)
	if n.calls != calls+2 {
		t.Errorf("generation 0: %d computations, want 2", n.calls-calls)
	}
	if _, nodes := c.Len(); nodes != 1 {
		t.Errorf("%d nodes cached, want 1 (generation 0 is not cached)", nodes)
	}
}

// TestForgetAndSweep checks that a deleted node is dropped at once, and a
// node nobody asks for during SweepEvery to 2*SweepEvery cycles by a sweep.
func TestForgetAndSweep(t *testing.T) {
	var c Cache[int]
	var n counter
	cy := c.Begin(0)
	for _, name := range []string{"n1", "n2", "n3"} {
		c.Get(newNode(name, 1), cy, n.compute)
	}
	c.Forget("n1")
	type size struct{ Summaries, Nodes int }
	var got []size
	s, nodes := c.Len()
	got = append(got, size{s, nodes})
	n3 := newNode("n3", 1)
	for range 2 * SweepEvery {
		c.Get(n3, c.Begin(0), n.compute)
	}
	s, nodes = c.Len()
	got = append(got, size{s, nodes})
	if diff := cmp.Diff([]size{{2, 2}, {2, 1}}, got); diff != "" {
		t.Errorf("cache size after Forget(n1), after 2*SweepEvery cycles using only n3 (-want,+got):\n%s", diff)
	}
}
