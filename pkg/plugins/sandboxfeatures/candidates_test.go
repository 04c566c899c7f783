package sandboxfeatures

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// nodeInfos wraps nodes the way the scheduler's snapshot does.
func nodeInfos(nodes []*v1.Node) []fwk.NodeInfo {
	out := make([]fwk.NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		ni := framework.NewNodeInfo()
		ni.SetNode(n)
		out = append(out, ni)
	}
	return out
}

// scarceCluster is 200 nodes: 10 with TDX, 10 with QAT VFs on vfio-pci,
// 170 plain Kata hosts, one SEV-SNP host without usable KVM and 9 nodes
// without any label.
func scarceCluster() []*v1.Node {
	kata := []string{labelKVM, "true", runtimeLabel("kata-qemu"), "true"}
	var nodes []*v1.Node
	for i := range 10 {
		nodes = append(nodes, node(fmt.Sprintf("tdx-%d", i), append([]string{runtimeLabel("kata-qemu-tdx"), "true", labelTDX, "true"}, kata...)...))
		nodes = append(nodes, node(fmt.Sprintf("qat-%d", i), append([]string{labelIOMMU, "true", labelQATVFIO, "true"}, kata...)...))
	}
	for i := range 170 {
		nodes = append(nodes, node(fmt.Sprintf("hw-%d", i), kata...))
	}
	nodes = append(nodes, node("snp-no-kvm", labelKVM, "false", runtimeLabel("kata-qemu-snp"), "true", labelSNP, "true"))
	for i := range 9 {
		nodes = append(nodes, node(fmt.Sprintf("plain-%d", i)))
	}
	return nodes
}

// TestPreFilterNamesScarceCandidates checks that PreFilter's result holds
// exactly the nodes on which Filter succeeds when they are few, and names
// no node (every node stays a candidate) otherwise.
func TestPreFilterNamesScarceCandidates(t *testing.T) {
	cluster := scarceCluster()
	named := func(prefix string) []string {
		var out []string
		for _, n := range cluster {
			if len(n.Name) > len(prefix) && n.Name[:len(prefix)] == prefix {
				out = append(out, n.Name)
			}
		}
		return out
	}
	tests := []struct {
		name  string
		pod   *v1.Pod
		nodes []*v1.Node
		// want is nil when every node stays a candidate.
		want []string
	}{
		{name: "TDX pod: the TDX hosts", pod: pod("p", "kata-qemu-tdx").Obj(), nodes: cluster, want: named("tdx-")},
		{name: "Kata QAT pod: the vfio-pci QAT hosts", pod: withQAT(pod("p", "kata-qemu"), qatCy).Obj(), nodes: cluster, want: named("qat-")},
		{name: "plain Kata pod: 190 of 200 nodes fit, not narrowed", pod: pod("p", "kata-qemu").Obj(), nodes: cluster},
		{name: "SEV-SNP pod: no node fits, Filter gives the reasons", pod: pod("p", "kata-qemu-snp").Obj(), nodes: cluster},
		{name: "TDX pod on a small cluster: not narrowed", pod: pod("p", "kata-qemu-tdx").Obj(), nodes: cluster[:minNodesToNarrow-1]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			pl := newPlugin(ctx, t, defaultArgs(t), nil)
			infos := nodeInfos(tc.nodes)
			state := framework.NewCycleState()
			res, status := pl.PreFilter(ctx, state, tc.pod, infos)
			if !status.IsSuccess() {
				t.Fatalf("PreFilter: %v", status)
			}
			if tc.want == nil {
				if !res.AllNodes() {
					t.Fatalf("PreFilter named %d nodes, want every node to stay a candidate", res.NodeNames.Len())
				}
				return
			}
			if res.AllNodes() {
				t.Fatalf("PreFilter named no nodes, want %v", tc.want)
			}
			if diff := cmp.Diff(tc.want, sets.List(res.NodeNames)); diff != "" {
				t.Errorf("candidate nodes (-want,+got):\n%s", diff)
			}
			// The result only narrows: Filter accepts exactly these nodes.
			for _, ni := range infos {
				fits := pl.Filter(ctx, state, tc.pod, ni).IsSuccess()
				if fits != res.NodeNames.Has(ni.Node().Name) {
					t.Errorf("node %s: Filter fits=%v, named by PreFilter=%v", ni.Node().Name, fits, !fits)
				}
			}
		})
	}
}

// TestPreFilterRescansBroadRequirements checks that requirements once met
// by too many nodes are scanned again after rescanEvery pods, so a cluster
// that changes gets narrowed again.
func TestPreFilterRescansBroadRequirements(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl := newPlugin(ctx, t, defaultArgs(t), nil)
	p := pod("p", "kata-qemu").Obj()
	broad := nodeInfos(scarceCluster())
	// The same number of nodes, of which only the ten QAT hosts run kata-qemu.
	var few []*v1.Node
	for _, n := range scarceCluster() {
		if n.Labels[labelQATVFIO] != "true" {
			n = node(n.Name)
		}
		few = append(few, n)
	}
	scarce := nodeInfos(few)
	if res, _ := pl.PreFilter(ctx, framework.NewCycleState(), p, broad); !res.AllNodes() {
		t.Fatalf("broad cluster: PreFilter named %d nodes", res.NodeNames.Len())
	}
	for i := 1; i < rescanEvery; i++ {
		if res, _ := pl.PreFilter(ctx, framework.NewCycleState(), p, scarce); !res.AllNodes() {
			t.Fatalf("pod %d after the broad scan was narrowed to %d nodes, want no scan", i, res.NodeNames.Len())
		}
	}
	res, _ := pl.PreFilter(ctx, framework.NewCycleState(), p, scarce)
	if res.AllNodes() || res.NodeNames.Len() != 10 {
		t.Errorf("rescan: PreFilter result %v, want the 10 QAT hosts", res)
	}
}

// TestPreFilterCandidatesFollowNodeChanges checks that a scan reuses a
// node's answer only while the node is the same object: a node relabelled
// (a new object, as the informer delivers it), replaced by another node or
// removed is looked at again.
func TestPreFilterCandidatesFollowNodeChanges(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl := newPlugin(ctx, t, defaultArgs(t), nil)
	p := pod("p", "kata-qemu-tdx").Obj()
	cluster := scarceCluster()
	candidates := func(nodes []*v1.Node) []string {
		t.Helper()
		res, status := pl.PreFilter(ctx, framework.NewCycleState(), p, nodeInfos(nodes))
		if !status.IsSuccess() {
			t.Fatalf("PreFilter: %v", status)
		}
		if res.AllNodes() {
			t.Fatal("PreFilter named no nodes")
		}
		return sets.List(res.NodeNames)
	}
	before := candidates(cluster)
	if len(before) != 10 {
		t.Fatalf("candidates %v, want the 10 TDX hosts", before)
	}

	// NFD enables TDX on hw-0 and tdx-0 loses it.
	var hw0, tdx0 int
	for i, n := range cluster {
		switch n.Name {
		case "hw-0":
			hw0 = i
		case "tdx-0":
			tdx0 = i
		}
	}
	gained := cluster[hw0].DeepCopy()
	gained.Labels[runtimeLabel("kata-qemu-tdx")] = "true"
	gained.Labels[labelTDX] = "true"
	lost := cluster[tdx0].DeepCopy()
	delete(lost.Labels, labelTDX)
	cluster[hw0], cluster[tdx0] = gained, lost
	want := sets.New(before...)
	want.Delete("tdx-0")
	want.Insert("hw-0")
	if diff := cmp.Diff(sets.List(want), candidates(cluster)); diff != "" {
		t.Errorf("after relabelling (-want,+got):\n%s", diff)
	}

	// tdx-1 is deleted: the list shrinks and every index may hold another
	// node.
	var shrunk []*v1.Node
	for _, n := range cluster {
		if n.Name != "tdx-1" {
			shrunk = append(shrunk, n)
		}
	}
	want.Delete("tdx-1")
	if diff := cmp.Diff(sets.List(want), candidates(shrunk)); diff != "" {
		t.Errorf("after deleting tdx-1 (-want,+got):\n%s", diff)
	}
	// The same nodes in another order.
	reversed := make([]*v1.Node, len(shrunk))
	for i, n := range shrunk {
		reversed[len(shrunk)-1-i] = n
	}
	if diff := cmp.Diff(sets.List(want), candidates(reversed)); diff != "" {
		t.Errorf("nodes in another order (-want,+got):\n%s", diff)
	}
}
