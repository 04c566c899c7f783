package tenantisolation

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mtscn/mtscn/pkg/plugins/internal/nodecache"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	plugintesting "k8s.io/kubernetes/pkg/scheduler/framework/plugins/testing"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/scheme"
	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// defaultArgs returns the args the shipped configuration decodes to.
func defaultArgs(t testing.TB) *config.TenantIsolationArgs {
	t.Helper()
	var v1args configv1.TenantIsolationArgs
	scheme.Scheme.Default(&v1args)
	var args config.TenantIsolationArgs
	if err := scheme.Scheme.Convert(&v1args, &args, nil); err != nil {
		t.Fatalf("converting default args: %v", err)
	}
	return &args
}

func ns(name string, labels map[string]string) *v1.Namespace {
	return &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func rc(name, handler string, labels map[string]string) *nodev1.RuntimeClass {
	return &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Handler: handler}
}

// The test cluster's Namespaces and RuntimeClasses.
func fixtures() []runtime.Object {
	return []runtime.Object{
		ns("a1", map[string]string{wellknown.LabelTenant: "A"}),
		ns("a2", map[string]string{wellknown.LabelTenant: "A"}),
		ns("b", map[string]string{"capsule.clastix.io/tenant": "B"}),
		ns("b2", map[string]string{"projectcapsule.dev/tenant": "B"}),
		ns("c", nil),
		ns("ex", map[string]string{wellknown.LabelTenant: "X", wellknown.LabelNodeSharing: wellknown.NodeSharingExclusive}),
		ns("req", map[string]string{wellknown.LabelTenant: "R", wellknown.LabelSandboxPolicy: wellknown.SandboxRequired}),
		ns("kube-system", nil),
		ns("monitoring", map[string]string{wellknown.LabelInfrastructure: "true"}),
		rc("kata", "kata-qemu", nil),
		rc("runc", "runc", nil),
		rc("custom-vm", "custom", map[string]string{wellknown.LabelSandboxed: "true"}),
		rc("kata-not", "kata-debug", map[string]string{wellknown.LabelSandboxed: "false"}),
		rc("remote", "kata-remote", nil),
	}
}

// pod returns a pod of namespace/name with the runtime class ("" for the
// default runtime), bound to node when node != "".
func pod(namespace, name, runtimeClass, node string) *v1.Pod {
	p := st.MakePod().Namespace(namespace).Name(name).UID(namespace + "/" + name).Node(node).Obj()
	if runtimeClass != "" {
		p.Spec.RuntimeClassName = &runtimeClass
	}
	return p
}

func withLabel(p *v1.Pod, k, v string) *v1.Pod {
	p.Labels = map[string]string{k: v}
	return p
}

func setup(ctx context.Context, t testing.TB, args *config.TenantIsolationArgs, pods []*v1.Pod, nodes []*v1.Node) (*TenantIsolation, []fwk.NodeInfo) {
	t.Helper()
	snapshot := cache.NewSnapshot(pods, nodes)
	p := plugintesting.SetupPluginWithInformers(ctx, t, New, args, snapshot, fixtures())
	infos, err := snapshot.NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	return p.(*TenantIsolation), infos
}

// safeNode returns a node the node agent found safe for co-tenancy
// (mtscn.io/cotenancy-safe=true): without that label I4 keeps tenants apart.
func safeNode(name string) *v1.Node {
	return st.MakeNode().Name(name).Label(wellknown.LabelCotenancySafe, wellknown.ValueTrue).Obj()
}

func nodeInfo(t *testing.T, infos []fwk.NodeInfo, name string) fwk.NodeInfo {
	t.Helper()
	for _, ni := range infos {
		if ni.Node().Name == name {
			return ni
		}
	}
	t.Fatalf("node %q not in snapshot", name)
	return nil
}

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

// TestSummaryCacheNominatedSteadyState checks the pattern of a node with a
// nominated pod: every cycle the framework filters a fresh copy with the
// nominated pod, then the real NodeInfo. The copies must not evict the real
// node's summary.
func TestSummaryCacheNominatedSteadyState(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, infos := setup(ctx, t, defaultArgs(t), []*v1.Pod{pod("a2", "e", "kata", "n1")}, []*v1.Node{safeNode("n1")})
	incoming := pod("a1", "p", "kata", "")
	nominated, err := framework.NewPodInfo(pod("b", "nominated", "", "n1"))
	if err != nil {
		t.Fatal(err)
	}
	live := infos[0]
	var first *nodeSummary
	for cycle := range 5 {
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, incoming, infos); !s.IsSuccess() {
			t.Fatalf("PreFilter: %v", s)
		}
		copied := live.Snapshot()
		copied.AddPodInfo(nominated)
		if got := pl.Filter(ctx, cs, incoming, copied).Message(); got != ErrReasonSharedKernelOtherTenant {
			t.Errorf("cycle %d: Filter on the copy with the nominated pod: %q, want %q", cycle, got, ErrReasonSharedKernelOtherTenant)
		}
		if s := pl.Filter(ctx, cs, incoming, live); s != nil {
			t.Errorf("cycle %d: Filter on the real node: %v, want success", cycle, s)
		}
		state, err := getPreFilterState(cs)
		if err != nil {
			t.Fatal(err)
		}
		sum := pl.summary(state, live)
		if first == nil {
			first = sum
		} else if sum != first {
			t.Errorf("cycle %d: the real node's summary was recomputed, want it cached", cycle)
		}
	}
}

// TestSummaryCacheBounded checks that the cache keeps at most nodecache.SlotsPerNode
// summaries per node, forgets deleted nodes, and sweeps nodes nobody asked
// for in nodecache.SweepEvery cycles.
func TestSummaryCacheBounded(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	pl, client := setupWithClient(ctx, t, &recordingActivator{}, fixtures())
	nodes := []*v1.Node{safeNode("n1"), safeNode("n2")}
	for _, n := range nodes {
		if _, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := cache.NewSnapshot([]*v1.Pod{pod("b", "e", "kata", "n1")}, nodes).NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	incoming := pod("a1", "p", "kata", "")
	cs := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, cs, incoming, infos); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	extra, err := framework.NewPodInfo(pod("c", "x", "kata", ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, ni := range infos {
		pl.Filter(ctx, cs, incoming, ni)
		// A preemption dry run: many copies of the node.
		cp := ni.Snapshot()
		for range 10 {
			cp.AddPodInfo(extra)
			pl.Filter(ctx, cs, incoming, cp)
			if err := cp.RemovePod(logger, extra.GetPod()); err != nil {
				t.Fatal(err)
			}
			pl.Filter(ctx, cs, incoming, cp)
		}
	}
	type size struct{ Summaries, Nodes int }
	sizeNow := func() size {
		s, n := pl.summaries.Len()
		return size{s, n}
	}
	got := []size{sizeNow()}

	if err := client.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return sizeNow().Nodes == 1, nil
	}); err != nil {
		t.Errorf("deleted node n1 still cached: %+v", sizeNow())
	}
	got = append(got, sizeNow())

	// Nobody asks for n2 during the next 2*nodecache.SweepEvery cycles: a sweep
	// drops nodes unused since the previous sweep.
	for range 2 * nodecache.SweepEvery {
		if _, s := pl.PreFilter(ctx, framework.NewCycleState(), incoming, infos); !s.IsSuccess() {
			t.Fatalf("PreFilter: %v", s)
		}
	}
	got = append(got, sizeNow())
	want := []size{{2 * nodecache.SlotsPerNode, 2}, {nodecache.SlotsPerNode, 1}, {0, 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cache size after copies, after deleting n1, after a sweep (-want,+got):\n%s", diff)
	}
}

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		safeNode("own"),
		safeNode("shared"),
		safeNode("empty"),
		safeNode("infra-only"),
		safeNode("excl"),
	}
	existing := []*v1.Pod{
		pod("a2", "mine", "kata", "own"),
		pod("b", "theirs", "kata", "shared"),
		pod("c", "theirs", "kata", "shared"),
		pod("kube-system", "ds", "", "infra-only"),
		pod("ex", "mine", "kata", "excl"),
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]int64
	}{
		{name: "VM prefers its tenant, then shared nodes, then empty ones", pod: pod("a1", "p", "kata", ""),
			want: map[string]int64{"own": 100, "shared": 50, "empty": 0, "infra-only": 0}},
		{name: "shared-kernel pod prefers its tenant's nodes over empty ones", pod: pod("a1", "p", "", ""),
			want: map[string]int64{"own": 100, "empty": 0, "infra-only": 0}},
		{name: "VM of tenant B prefers B's node over A's", pod: pod("b2", "p", "kata", ""),
			want: map[string]int64{"shared": 100, "own": 50, "empty": 0, "infra-only": 0}},
		{name: "exclusive tenant's VM prefers its own nodes over empty ones", pod: pod("ex", "p", "kata", ""),
			want: map[string]int64{"excl": 100, "empty": 0, "infra-only": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			pl, infos := setup(ctx, t, defaultArgs(t), existing, nodes)
			cs := framework.NewCycleState()
			if _, s := pl.PreFilter(ctx, cs, tc.pod, infos); !s.IsSuccess() {
				t.Fatalf("PreFilter: %v", s)
			}
			if s := pl.PreScore(ctx, cs, tc.pod, infos); s != nil {
				t.Fatalf("PreScore: %v", s)
			}
			var scores fwk.NodeScoreList
			for _, ni := range infos {
				if pl.Filter(ctx, cs, tc.pod, ni) != nil {
					continue
				}
				s, status := pl.Score(ctx, cs, tc.pod, ni)
				if status != nil {
					t.Fatalf("Score: %v", status)
				}
				scores = append(scores, fwk.NodeScore{Name: ni.Node().Name, Score: s})
			}
			if s := pl.NormalizeScore(ctx, cs, tc.pod, scores); s != nil {
				t.Fatalf("NormalizeScore: %v", s)
			}
			got := map[string]int64{}
			for _, s := range scores {
				got[s.Name] = s.Score
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("normalized scores of feasible nodes (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestPreScoreSkipsInfrastructure(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, infos := setup(ctx, t, defaultArgs(t), nil, []*v1.Node{safeNode("n1")})
	cs := framework.NewCycleState()
	p := pod("kube-system", "p", "", "")
	if _, s := pl.PreFilter(ctx, cs, p, infos); s.Code() != fwk.Skip {
		t.Fatalf("PreFilter: %v, want Skip", s)
	}
	if s := pl.PreScore(ctx, cs, p, infos); s.Code() != fwk.Skip {
		t.Errorf("PreScore: %v, want Skip", s)
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

// TestSummaryCache checks that a node's summary is reused only while its
// NodeInfo generation and every Namespace and RuntimeClass are unchanged.
func TestSummaryCache(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, client := setupWithClient(ctx, t, &recordingActivator{}, fixtures())
	node := safeNode("n1")
	infosOf := func(pods ...*v1.Pod) []fwk.NodeInfo {
		infos, err := cache.NewSnapshot(pods, []*v1.Node{node}).NodeInfos().List()
		if err != nil {
			t.Fatal(err)
		}
		return infos
	}
	incoming := pod("a1", "p", "kata", "")
	run := func(infos []fwk.NodeInfo) (string, *nodeSummary) {
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, incoming, infos); !s.IsSuccess() {
			t.Fatalf("PreFilter: %v", s)
		}
		s, err := getPreFilterState(cs)
		if err != nil {
			t.Fatal(err)
		}
		return pl.Filter(ctx, cs, incoming, infos[0]).Message(), pl.summary(s, infos[0])
	}

	vmOfB := infosOf(pod("b", "vm", "kata", "n1"))
	got1, sum1 := run(vmOfB)
	got2, sum2 := run(vmOfB)
	if sum1 != sum2 {
		t.Errorf("unchanged node: summary recomputed, want it reused")
	}
	got3, _ := run(infosOf(pod("b", "vm", "kata", "n1"), pod("c", "runc", "", "n1")))
	got4, _ := run(vmOfB)

	ns, err := client.CoreV1().Namespaces().Get(ctx, "b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	version := pl.views.Current().Version
	ns.Labels = map[string]string{wellknown.LabelNodeSharing: wellknown.NodeSharingExclusive}
	if _, err := client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return pl.views.Current().Version != version, nil
	}); err != nil {
		t.Fatal("namespace update not seen by the plugin")
	}
	got5, _ := run(vmOfB)

	want := []string{"", "", ErrReasonSharedKernelOtherTenant, "", ErrReasonExclusiveOtherTenant}
	if diff := cmp.Diff(want, []string{got1, got2, got3, got4, got5}); diff != "" {
		t.Errorf("Filter reasons: 1st cycle, same node again, pod added, pod gone, namespace b made exclusive (-want,+got):\n%s", diff)
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
