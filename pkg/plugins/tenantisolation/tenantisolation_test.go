package tenantisolation

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/plugins/internal/nodecache"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

func TestPreFilter(t *testing.T) {
	tests := []struct {
		name string
		pod  *v1.Pod
		want *fwk.Status
	}{
		{name: "shared-kernel tenant pod is filtered", pod: pod("a1", "p", "", "")},
		{name: "sandboxed tenant pod is filtered", pod: pod("a1", "p", "kata", "")},
		{name: "kube-system pod is infrastructure", pod: pod("kube-system", "p", "", ""), want: fwk.NewStatus(fwk.Skip)},
		{name: "namespace labelled infrastructure", pod: pod("monitoring", "p", "", ""), want: fwk.NewStatus(fwk.Skip)},
		{name: "infrastructure namespace not yet in the lister", pod: pod("kube-node-lease", "p", "", ""), want: fwk.NewStatus(fwk.Skip)},
		{name: "sandbox required, default runtime (I3)", pod: pod("req", "p", "", ""),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonSandboxRequired)},
		{name: "sandbox required, runc runtime class (I3)", pod: pod("req", "p", "runc", ""),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonSandboxRequired)},
		{name: "sandbox required, kata labelled sandboxed=false (I3)", pod: pod("req", "p", "kata-not", ""),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonSandboxRequired)},
		{name: "sandbox required, kata", pod: pod("req", "p", "kata", "")},
		{name: "sandbox required, runtime class labelled sandboxed=true", pod: pod("req", "p", "custom-vm", "")},
		{name: "sandbox required, peer pods count as sandboxed", pod: pod("req", "p", "remote", "")},
		{name: "missing runtime class", pod: pod("a1", "p", "nope", ""),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, `runtime class "nope" not found`)},
		{name: "missing namespace", pod: pod("ghost", "p", "", ""),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, `namespace "ghost" not found`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			pl, infos := setup(ctx, t, defaultArgs(t), nil, []*v1.Node{safeNode("n1")})
			_, got := pl.PreFilter(ctx, framework.NewCycleState(), tc.pod, infos)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("PreFilter status (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	unsafe := map[string]string{wellknown.LabelCotenancySafe: "false"}
	unschedulable := func(reason string) *fwk.Status { return fwk.NewStatus(fwk.Unschedulable, reason) }
	tests := []struct {
		name       string
		pod        *v1.Pod
		existing   []*v1.Pod // on node n1
		nodeLabels map[string]string
		ignoreSC   bool
		want       *fwk.Status
	}{
		{name: "empty node", pod: pod("a1", "p", "", "")},
		{name: "shared-kernel pod joins its own tenant from another namespace",
			pod: pod("a1", "p", "", ""), existing: []*v1.Pod{pod("a2", "e", "", "n1")}},
		{name: "capsule old and new labels name one tenant",
			pod: pod("b", "p", "", ""), existing: []*v1.Pod{pod("b2", "e", "", "n1")}},
		{name: "I1: new shared-kernel pod, other tenant's VM on the node",
			pod: pod("a1", "p", "", ""), existing: []*v1.Pod{pod("b", "e", "kata", "n1")},
			want: unschedulable(ErrReasonSharedKernelNeedsOwnNode)},
		{name: "I1: new VM, other tenant's shared-kernel pod on the node",
			pod: pod("a1", "p", "kata", ""), existing: []*v1.Pod{pod("b", "e", "", "n1")},
			want: unschedulable(ErrReasonSharedKernelOtherTenant)},
		{name: "I1: both shared-kernel, different tenants",
			pod: pod("c", "p", "runc", ""), existing: []*v1.Pod{pod("a1", "e", "runc", "n1")},
			want: unschedulable(ErrReasonSharedKernelOtherTenant)},
		{name: "VMs of two tenants share a node",
			pod: pod("a1", "p", "kata", ""), existing: []*v1.Pod{pod("b", "e", "custom-vm", "n1"), pod("c", "f", "remote", "n1")}},
		{name: "runtime class labelled sandboxed=false is shared-kernel although its handler is kata*",
			pod: pod("a1", "p", "kata", ""), existing: []*v1.Pod{pod("b", "e", "kata-not", "n1")},
			want: unschedulable(ErrReasonSharedKernelOtherTenant)},
		{name: "I2: node runs an exclusive tenant's VM",
			pod: pod("a1", "p", "kata", ""), existing: []*v1.Pod{pod("ex", "e", "kata", "n1")},
			want: unschedulable(ErrReasonExclusiveOtherTenant)},
		{name: "I2: exclusive tenant's VM, another tenant's VM on the node",
			pod: pod("ex", "p", "kata", ""), existing: []*v1.Pod{pod("a1", "e", "kata", "n1")},
			want: unschedulable(ErrReasonExclusiveNeedsOwnNode)},
		{name: "exclusive tenant joins its own pods",
			pod: pod("ex", "p", "kata", ""), existing: []*v1.Pod{pod("ex", "e", "", "n1")}},
		{name: "I4: VMs of two tenants on a cotenancy-unsafe node",
			pod: pod("a1", "p", "kata", ""), existing: []*v1.Pod{pod("b", "e", "kata", "n1")}, nodeLabels: unsafe,
			want: unschedulable(ErrReasonCotenancyUnsafe)},
		{name: "I4 fails closed: VMs of two tenants on a node without the agent's cotenancy-safe=true",
			pod: pod("a1", "p", "kata", ""), existing: []*v1.Pod{pod("b", "e", "kata", "n1")}, nodeLabels: map[string]string{},
			want: unschedulable(ErrReasonCotenancyUnsafe)},
		{name: "I4 with sideChannelPolicy Ignore",
			pod: pod("a1", "p", "kata", ""), existing: []*v1.Pod{pod("b", "e", "kata", "n1")}, nodeLabels: unsafe, ignoreSC: true},
		{name: "I4: one tenant alone on a cotenancy-unsafe node",
			pod: pod("a1", "p", "kata", ""), existing: []*v1.Pod{pod("a2", "e", "kata", "n1")}, nodeLabels: unsafe},
		{name: "infrastructure pods neither block nor count",
			pod: pod("a1", "p", "", ""), existing: []*v1.Pod{pod("kube-system", "e", "", "n1"), pod("monitoring", "f", "", "n1")}, nodeLabels: unsafe},
		{name: "terminal pods of another tenant do not count",
			pod: pod("a1", "p", "", ""), existing: []*v1.Pod{
				st.MakePod().Namespace("b").Name("done").Node("n1").Phase(v1.PodSucceeded).Obj(),
				st.MakePod().Namespace("c").Name("failed").Node("n1").Phase(v1.PodFailed).Obj(),
			}},
		{name: "existing pod whose runtime class is gone counts as shared-kernel",
			pod: pod("a1", "p", "kata", ""), existing: []*v1.Pod{pod("b", "e", "deleted-rc", "n1")},
			want: unschedulable(ErrReasonSharedKernelOtherTenant)},
		{name: "existing pod whose namespace is gone is its own tenant",
			pod: pod("a1", "p", "", ""), existing: []*v1.Pod{pod("ghost", "e", "kata", "n1")},
			want: unschedulable(ErrReasonSharedKernelNeedsOwnNode)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			args := defaultArgs(t)
			if tc.ignoreSC {
				args.SideChannelPolicy = config.SideChannelIgnore
			}
			node := safeNode("n1")
			if tc.nodeLabels != nil {
				node.Labels = tc.nodeLabels
			}
			pl, infos := setup(ctx, t, args, tc.existing, []*v1.Node{node, safeNode("n2")})
			cs := framework.NewCycleState()
			if _, s := pl.PreFilter(ctx, cs, tc.pod, infos); !s.IsSuccess() {
				t.Fatalf("PreFilter: %v", s)
			}
			got := pl.Filter(ctx, cs, tc.pod, nodeInfo(t, infos, "n1"))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Filter status (-want,+got):\n%s", diff)
			}
			if s := pl.Filter(ctx, cs, tc.pod, nodeInfo(t, infos, "n2")); s != nil {
				t.Errorf("Filter on the empty node n2: %v, want success", s)
			}
		})
	}
}

func TestFilterWithoutPreFilter(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, infos := setup(ctx, t, defaultArgs(t), nil, []*v1.Node{safeNode("n1")})
	got := pl.Filter(ctx, framework.NewCycleState(), pod("a1", "p", "", ""), infos[0])
	if got.Code() != fwk.Error {
		t.Errorf("Filter without PreFilter state: %v, want code Error", got)
	}
}

// TestNominatedAndPreemptionCopies checks the NodeInfo copies the framework
// filters for preemption victims (RemovePod on a Snapshot) and nominated
// pods (AddPodInfo on a Snapshot): each copy is judged by its own pods, and
// the real NodeInfo keeps its verdict and its cached summary.
func TestNominatedAndPreemptionCopies(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	victim := pod("b", "victim", "", "n1")
	pl, infos := setup(ctx, t, defaultArgs(t), []*v1.Pod{victim}, []*v1.Node{safeNode("n1")})
	incoming := pod("a1", "p", "kata", "")
	cs := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, cs, incoming, infos); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	live := infos[0]
	// Preemption filters with a clone of the cycle state.
	clone := cs.Clone()
	filter := func(cs fwk.CycleState, ni fwk.NodeInfo) string { return pl.Filter(ctx, cs, incoming, ni).Message() }
	mustPodInfo := func(p *v1.Pod) fwk.PodInfo {
		pi, err := framework.NewPodInfo(p)
		if err != nil {
			t.Fatal(err)
		}
		return pi
	}
	state, err := getPreFilterState(cs)
	if err != nil {
		t.Fatal(err)
	}
	liveSummary := pl.summary(state, live)

	type step struct{ name, got, want string }
	steps := []step{{"real node before any copy", filter(cs, live), ErrReasonSharedKernelOtherTenant}}

	withoutVictim := live.Snapshot()
	if err := withoutVictim.RemovePod(logger, victim); err != nil {
		t.Fatal(err)
	}
	steps = append(steps,
		step{"copy without the shared-kernel victim", filter(clone, withoutVictim), ""},
		step{"real node after the copy", filter(cs, live), ErrReasonSharedKernelOtherTenant},
	)
	withNominated := withoutVictim.Snapshot()
	nominated := pod("ex", "nominated", "kata", "n1")
	withNominated.AddPodInfo(mustPodInfo(nominated))
	withNominated.AddPodInfo(mustPodInfo(pod("kube-system", "infra", "", "n1")))
	reprieved := withoutVictim.Snapshot()
	reprieved.AddPodInfo(mustPodInfo(victim))
	steps = append(steps,
		step{"copy with an exclusive tenant's nominated pod", filter(clone, withNominated), ErrReasonExclusiveOtherTenant},
		step{"copy without the victim, again", filter(clone, withoutVictim), ""},
		step{"copy with the victim reprieved", filter(clone, reprieved), ErrReasonSharedKernelOtherTenant},
		step{"real node, still", filter(cs, live), ErrReasonSharedKernelOtherTenant},
	)
	for _, s := range steps {
		if s.got != s.want {
			t.Errorf("%s: Filter reason %q, want %q", s.name, s.got, s.want)
		}
	}
	if pl.summary(state, live) != liveSummary {
		t.Errorf("the real node's summary was recomputed after filtering copies of it, want it kept")
	}
	if got, _ := pl.summaries.Len(); got > nodecache.SlotsPerNode {
		t.Errorf("%d summaries cached for one node, want at most %d", got, nodecache.SlotsPerNode)
	}
}

func TestSignPod(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, _ := setup(ctx, t, defaultArgs(t), nil, nil)
	sign := func(p *v1.Pod) string {
		f, s := pl.SignPod(ctx, p)
		if s != nil {
			t.Fatalf("SignPod: %v", s)
		}
		return fmt.Sprint(f)
	}
	base := sign(pod("a1", "p1", "kata", ""))
	tests := []struct {
		name string
		pod  *v1.Pod
		same bool
	}{
		{"same namespace and runtime class, other name and labels", withLabel(pod("a1", "p2", "kata", ""), "app", "x"), true},
		{"default runtime", pod("a1", "p1", "", ""), false},
		{"other namespace of the same tenant", pod("a2", "p1", "kata", ""), false},
		{"other runtime class", pod("a1", "p1", "runc", ""), false},
	}
	for _, tc := range tests {
		if got := sign(tc.pod) == base; got != tc.same {
			t.Errorf("%s: signature equal to the base pod's = %v, want %v", tc.name, got, tc.same)
		}
	}
}

// TestFilterConcurrent filters many nodes from parallel workers, as the
// scheduler does, while another goroutine filters copies of the same nodes
// with a nominated pod added (as an asynchronous preemption would): every
// verdict must be that of the NodeInfo passed. Run with -race to check the
// cache's synchronization.
func TestFilterConcurrent(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	const numNodes, workers, cycles = 200, 4, 3
	var nodes []*v1.Node
	var pods []*v1.Pod
	want := map[string]string{}
	for i := range numNodes {
		name := fmt.Sprintf("n%d", i)
		nodes = append(nodes, safeNode(name))
		switch i % 3 {
		case 0:
			pods = append(pods, pod("b", "runc-"+name, "", name))
			want[name] = ErrReasonSharedKernelOtherTenant
		case 1:
			pods = append(pods, pod("b", "vm-"+name, "kata", name))
		}
	}
	pl, infos := setup(ctx, t, defaultArgs(t), pods, nodes)
	incoming := pod("a1", "p", "kata", "")
	nominated, err := framework.NewPodInfo(pod("c", "nominated", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var errs []string
	check := func(what string, ni fwk.NodeInfo, got *fwk.Status, want string) {
		if got.Message() != want {
			mu.Lock()
			errs = append(errs, fmt.Sprintf("%s %s: Filter reason %q, want %q", what, ni.Node().Name, got.Message(), want))
			mu.Unlock()
		}
	}
	for range cycles {
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, incoming, infos); !s.IsSuccess() {
			t.Fatalf("PreFilter: %v", s)
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < numNodes; i += workers {
					ni := infos[i]
					check("node", ni, pl.Filter(ctx, cs, incoming, ni), want[ni.Node().Name])
				}
			})
		}
		wg.Go(func() {
			clone := cs.Clone()
			for _, ni := range infos {
				cp := ni.Snapshot()
				cp.AddPodInfo(nominated)
				check("copy with a nominated shared-kernel pod of", cp, pl.Filter(ctx, clone, incoming, cp), ErrReasonSharedKernelOtherTenant)
			}
		})
		wg.Wait()
	}
	for _, e := range errs {
		t.Error(e)
	}
	if got, _ := pl.summaries.Len(); got > nodecache.SlotsPerNode*numNodes {
		t.Errorf("%d summaries cached for %d nodes, want at most %d", got, numNodes, nodecache.SlotsPerNode*numNodes)
	}
}
