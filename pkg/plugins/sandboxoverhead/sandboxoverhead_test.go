package sandboxoverhead

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	plugintesting "k8s.io/kubernetes/pkg/scheduler/framework/plugins/testing"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/vmsize"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// runtimeClasses as kata-deploy ships them (overhead.podFixed), plus gVisor.
var runtimeClasses = []*nodev1.RuntimeClass{
	rc("kata-qemu", "kata-qemu", "320Mi"),
	rc("kata-qemu-runtime-rs", "kata-qemu-runtime-rs", "320Mi"),
	rc("kata-clh", "kata-clh", "130Mi"),
	rc("kata-remote", "kata-remote", "120Mi"),
	rc("gvisor", "runsc", ""),
}

func rc(name, handler, overhead string) *nodev1.RuntimeClass {
	r := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Handler: handler}
	if overhead != "" {
		r.Overhead = &nodev1.Overhead{PodFixed: v1.ResourceList{v1.ResourceMemory: resource.MustParse(overhead)}}
	}
	return r
}

func mem(s string) map[v1.ResourceName]string {
	return map[v1.ResourceName]string{v1.ResourceMemory: s}
}

// podOn builds a pod the way the RuntimeClass admission controller leaves
// it: runtimeClassName set and the class's overhead copied into the spec.
func podOn(name, runtimeClass, limit, node string) *v1.Pod {
	w := st.MakePod().Name(name).Namespace("t1").UID(name).Node(node)
	if limit != "" {
		w = w.Res(mem(limit))
	}
	p := w.Obj()
	if runtimeClass != "" {
		p.Spec.RuntimeClassName = &runtimeClass
		for _, r := range runtimeClasses {
			if r.Name == runtimeClass && r.Overhead != nil {
				p.Spec.Overhead = r.Overhead.PodFixed
			}
		}
	}
	return p
}

func pods(n int, runtimeClass, limit, node string) []*v1.Pod {
	var out []*v1.Pod
	for i := range n {
		out = append(out, podOn(fmt.Sprintf("%s-%s-%d", node, runtimeClass, i), runtimeClass, limit, node))
	}
	return out
}

func makeNode(name, memory string, extra map[v1.ResourceName]string, labels map[string]string) *v1.Node {
	c := map[v1.ResourceName]string{v1.ResourceMemory: memory, v1.ResourceCPU: "16", v1.ResourcePods: "110"}
	for k, v := range extra {
		c[k] = v
	}
	n := st.MakeNode().Name(name).Capacity(c).Obj()
	n.Labels = labels
	return n
}

func defaultArgs(t testing.TB) *config.SandboxOverheadArgs {
	t.Helper()
	args, err := vmsize.DefaultArgs()
	if err != nil {
		t.Fatal(err)
	}
	return args
}

func setup(ctx context.Context, t testing.TB, args *config.SandboxOverheadArgs, existing []*v1.Pod, nodes []*v1.Node) (*SandboxOverhead, *cache.Snapshot) {
	t.Helper()
	if args == nil {
		args = defaultArgs(t)
	}
	snap := cache.NewSnapshot(existing, nodes)
	var objs []apiruntime.Object
	for _, r := range runtimeClasses {
		objs = append(objs, r)
	}
	p := plugintesting.SetupPluginWithInformers(ctx, t, New, args, snap, objs)
	return p.(*SandboxOverhead), snap
}

func nodeInfos(t testing.TB, snap *cache.Snapshot) []fwk.NodeInfo {
	t.Helper()
	list, err := snap.NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func nodeInfo(t testing.TB, snap *cache.Snapshot, name string) fwk.NodeInfo {
	t.Helper()
	ni, err := snap.NodeInfos().Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return ni
}

func TestFilter(t *testing.T) {
	sandboxMemory := func(s string) map[v1.ResourceName]string {
		return map[v1.ResourceName]string{wellknown.ResourceSandboxMemory: s}
	}
	tests := []struct {
		name          string
		existing      []*v1.Pod
		node          *v1.Node
		pod           *v1.Pod
		args          func(*config.SandboxOverheadArgs)
		wantPreFilter *fwk.Status
		want          *fwk.Status
	}{
		{
			name: "kata-qemu VM fits an empty 8Gi node",
			node: makeNode("n", "8Gi", nil, nil),
			pod:  podOn("p", "kata-qemu", "512Mi", ""),
		},
		{
			name:     "fourth 2.6Gi VM does not fit 8Gi although requests + overhead would",
			existing: pods(3, "kata-qemu", "512Mi", "n"),
			node:     makeNode("n", "8Gi", nil, nil),
			pod:      podOn("p", "kata-qemu", "512Mi", ""),
			want: fwk.NewStatus(fwk.Unschedulable,
				"insufficient committed memory: VM needs 2.6Gi (2Gi default guest memory + 512Mi limits + 96Mi VMM)"),
		},
		{
			name:     "runc pod that fits by requests is rejected on a node full of VMs",
			existing: pods(3, "kata-qemu", "512Mi", "n"),
			node:     makeNode("n", "8Gi", nil, nil),
			pod:      podOn("p", "", "1Gi", ""),
			want: fwk.NewStatus(fwk.Unschedulable,
				"insufficient committed memory: pod needs 1Gi (1Gi requests + overhead)"),
		},
		{
			name:     "small runc pod still fits next to the VMs",
			existing: pods(3, "kata-qemu", "512Mi", "n"),
			node:     makeNode("n", "8Gi", nil, nil),
			pod:      podOn("p", "", "200Mi", ""),
		},
		{
			name: "VM larger than the empty node is unresolvable",
			node: makeNode("n", "8Gi", nil, nil),
			pod:  podOn("p", "kata-qemu", "6Gi", ""),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable,
				"insufficient committed memory: VM needs 8.1Gi (2Gi default guest memory + 6Gi limits + 96Mi VMM)"),
		},
		{
			name:     "node already overcommitted by pods of another scheduler",
			existing: pods(4, "kata-qemu", "512Mi", "n"),
			node:     makeNode("n", "8Gi", nil, nil),
			pod:      podOn("p", "", "64Mi", ""),
			want: fwk.NewStatus(fwk.Unschedulable,
				"insufficient committed memory: pod needs 64Mi (64Mi requests + overhead)"),
		},
		{
			name:     "the node's own smaller default_memory lets a fourth VM in",
			existing: pods(3, "kata-qemu", "512Mi", "n"),
			node:     makeNode("n", "8Gi", nil, map[string]string{wellknown.DefaultMemoryLabel("kata-qemu"): "1024"}),
			pod:      podOn("p", "kata-qemu", "512Mi", ""),
		},
		{
			name:     "runtime-rs static sizing: the pod's overhead is counted once, as the floor",
			existing: pods(8, "kata-qemu-runtime-rs", "512Mi", "n"),
			node:     makeNode("n", "8Gi", nil, nil),
			pod:      podOn("p", "kata-qemu-runtime-rs", "512Mi", ""),
			// 9 x 832Mi = 7488Mi <= 8192Mi: requests + overhead, not + 640Mi more.
		},
		{
			name:     "runtime-rs: tenth VM does not fit",
			existing: pods(9, "kata-qemu-runtime-rs", "512Mi", "n"),
			node:     makeNode("n", "8Gi", nil, nil),
			pod:      podOn("p", "kata-qemu-runtime-rs", "512Mi", ""),
			want: fwk.NewStatus(fwk.Unschedulable,
				"insufficient committed memory: VM needs 832Mi (requests + overhead, more than the VM's 640Mi: 512Mi limits + 32Mi overhead_memory + 96Mi VMM)"),
		},
		{
			name:     "peer pods commit only requests + overhead on the node",
			existing: pods(9, "kata-remote", "512Mi", "n"),
			node:     makeNode("n", "8Gi", nil, nil),
			pod:      podOn("p", "kata-remote", "512Mi", ""),
		},
		{
			name: "terminal pods commit nothing",
			existing: func() []*v1.Pod {
				ps := pods(3, "kata-qemu", "512Mi", "n")
				ps[0].Status.Phase = v1.PodSucceeded
				return ps
			}(),
			node: makeNode("n", "8Gi", nil, nil),
			pod:  podOn("p", "kata-qemu", "512Mi", ""),
		},
		{
			name:     "overcommitRatio 2 admits a fourth VM",
			existing: pods(3, "kata-qemu", "512Mi", "n"),
			node:     makeNode("n", "8Gi", nil, nil),
			pod:      podOn("p", "kata-qemu", "512Mi", ""),
			args:     func(a *config.SandboxOverheadArgs) { a.OvercommitRatio = 2 },
		},
		{
			name:     "F2: shm-backed QEMU guest does not fit the node's /dev/shm",
			existing: pods(2, "kata-qemu", "512Mi", "n"),
			node:     makeNode("n", "16Gi", sandboxMemory("6Gi"), nil),
			pod:      podOn("p", "kata-qemu", "512Mi", ""),
			want: fwk.NewStatus(fwk.Unschedulable,
				"insufficient sandbox memory: VM guest needs 2.5Gi of /dev/shm (mtscn.io/sandbox-memory)"),
		},
		{
			name:     "F2: a CLH guest (memfd) is not limited by /dev/shm",
			existing: pods(2, "kata-qemu", "512Mi", "n"),
			node:     makeNode("n", "16Gi", sandboxMemory("6Gi"), nil),
			pod:      podOn("p", "kata-clh", "512Mi", ""),
		},
		{
			name:     "F2: the node says its kata-qemu is not shm-backed",
			existing: pods(2, "kata-qemu", "512Mi", "n"),
			node:     makeNode("n", "16Gi", sandboxMemory("6Gi"), map[string]string{wellknown.SharedMemoryLabel("kata-qemu"): "false"}),
			pod:      podOn("p", "kata-qemu", "512Mi", ""),
		},
		{
			name:     "F3: no VM slot left",
			existing: append(pods(2, "kata-clh", "512Mi", "n"), pods(3, "", "512Mi", "n")...),
			node:     makeNode("n", "32Gi", map[v1.ResourceName]string{wellknown.ResourceSandboxes: "2"}, nil),
			pod:      podOn("p", "kata-clh", "512Mi", ""),
			want:     fwk.NewStatus(fwk.Unschedulable, "too many sandboxes: node runs as many VMs as its mtscn.io/sandboxes allow"),
		},
		{
			name:     "F3: a runc pod needs no VM slot",
			existing: pods(2, "kata-clh", "512Mi", "n"),
			node:     makeNode("n", "32Gi", map[v1.ResourceName]string{wellknown.ResourceSandboxes: "2"}, nil),
			pod:      podOn("p", "", "512Mi", ""),
		},
		{
			name:     "F3: peer pods take no VM slot on the node",
			existing: pods(2, "kata-remote", "512Mi", "n"),
			node:     makeNode("n", "32Gi", map[v1.ResourceName]string{wellknown.ResourceSandboxes: "2"}, nil),
			pod:      podOn("p", "kata-clh", "512Mi", ""),
		},
		{
			name:     "F1, F2 and F3 all reported",
			existing: pods(2, "kata-qemu", "1Gi", "n"),
			node:     makeNode("n", "8Gi", map[v1.ResourceName]string{wellknown.ResourceSandboxes: "2", wellknown.ResourceSandboxMemory: "6Gi"}, nil),
			pod:      podOn("p", "kata-qemu", "1Gi", ""),
			want: fwk.NewStatus(fwk.Unschedulable,
				"insufficient committed memory: VM needs 3.1Gi (2Gi default guest memory + 1Gi limits + 96Mi VMM)",
				"insufficient sandbox memory: VM guest needs 3Gi of /dev/shm (mtscn.io/sandbox-memory)",
				"too many sandboxes: node runs as many VMs as its mtscn.io/sandboxes allow"),
		},
		{
			name: "missing RuntimeClass is unresolvable",
			node: makeNode("n", "8Gi", nil, nil),
			pod: func() *v1.Pod {
				p := podOn("p", "", "512Mi", "")
				p.Spec.RuntimeClassName = ptrTo("kata-gone")
				return p
			}(),
			wantPreFilter: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, `runtime class "kata-gone" not found`),
		},
		{
			// podOn copies no overhead for an unknown class: the three
			// running VMs count as 2.6Gi each only if they are still sized
			// as VMs after their RuntimeClass was deleted.
			name: "running VMs whose RuntimeClass was deleted still count as VMs",
			existing: func() []*v1.Pod {
				ps := pods(3, "kata-qemu", "512Mi", "n")
				for _, p := range ps {
					p.Spec.RuntimeClassName = ptrTo("kata-qemu-deleted")
				}
				return ps
			}(),
			node: makeNode("n", "8Gi", nil, nil),
			pod:  podOn("p", "kata-qemu", "512Mi", ""),
			want: fwk.NewStatus(fwk.Unschedulable,
				"insufficient committed memory: VM needs 2.6Gi (2Gi default guest memory + 512Mi limits + 96Mi VMM)"),
		},
		{
			name:          "a best-effort runc pod is skipped",
			node:          makeNode("n", "8Gi", nil, nil),
			pod:           st.MakePod().Name("p").Namespace("t1").Obj(),
			wantPreFilter: fwk.NewStatus(fwk.Skip),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			args := defaultArgs(t)
			if tc.args != nil {
				tc.args(args)
			}
			pl, snap := setup(ctx, t, args, tc.existing, []*v1.Node{tc.node})
			cs := framework.NewCycleState()
			_, status := pl.PreFilter(ctx, cs, tc.pod, nodeInfos(t, snap))
			if diff := cmp.Diff(tc.wantPreFilter, status); diff != "" {
				t.Fatalf("PreFilter status (-want,+got):\n%s", diff)
			}
			if !status.IsSuccess() {
				return
			}
			got := pl.Filter(ctx, cs, tc.pod, nodeInfo(t, snap, tc.node.Name))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Filter status (-want,+got):\n%s", diff)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestNodeInfoCopies checks what preemption and nominated pods rely on.
// The framework copies the node (NodeInfo.Snapshot), removes victims or
// adds nominated pods to the copy and reports the same change to AddPod /
// RemovePod on a clone of the cycle state: Filter on the copy must see the
// change, through the summary the state keeps of the copy or, for a copy
// changed without it,
// from the copy's own pods. Neither may disturb the original state or the
// real node's cached summary.
func TestNodeInfoCopies(t *testing.T) {
	for _, withExtensions := range []bool{true, false} {
		t.Run(fmt.Sprintf("extensions=%v", withExtensions), func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			logger := klog.FromContext(ctx)
			existing := pods(3, "kata-qemu", "512Mi", "n")
			pl, snap := setup(ctx, t, nil, existing, []*v1.Node{makeNode("n", "8Gi", nil, nil)})
			pod := podOn("p", "kata-qemu", "512Mi", "")
			cs := framework.NewCycleState()
			if _, s := pl.PreFilter(ctx, cs, pod, nodeInfos(t, snap)); !s.IsSuccess() {
				t.Fatalf("PreFilter: %v", s)
			}
			ni := nodeInfo(t, snap, "n")
			if pl.Filter(ctx, cs, pod, ni).IsSuccess() {
				t.Fatalf("3 VMs + 1 on 8Gi: Filter should reject")
			}
			real := summaryIn(t, pl, cs, ni)
			victim, err := framework.NewPodInfo(existing[0])
			if err != nil {
				t.Fatal(err)
			}
			nominated, err := framework.NewPodInfo(podOn("nominated", "", "200Mi", "n"))
			if err != nil {
				t.Fatal(err)
			}

			// Each step changes a copy of the previous step's node and a
			// clone of its state.
			steps := []struct {
				name   string
				remove bool
				pi     fwk.PodInfo
				wantOK bool
			}{
				{"victim removed: fits", true, victim, true},
				{"nominated 200Mi runc pod added: 5312+200+2656 <= 8192, fits", false, nominated, true},
				{"victim added back: rejects", false, victim, false},
			}
			curNode, curState := ni, fwk.CycleState(cs)
			for _, step := range steps {
				curNode, curState = curNode.Snapshot(), curState.Clone()
				var status *fwk.Status
				if step.remove {
					if err := curNode.RemovePod(logger, step.pi.GetPod()); err != nil {
						t.Fatal(err)
					}
					if withExtensions {
						status = pl.RemovePod(ctx, curState, pod, step.pi, curNode)
					}
				} else {
					curNode.AddPodInfo(step.pi)
					if withExtensions {
						status = pl.AddPod(ctx, curState, pod, step.pi, curNode)
					}
				}
				if !status.IsSuccess() {
					t.Fatalf("%s: %v", step.name, status)
				}
				if got := pl.Filter(ctx, curState, pod, curNode).IsSuccess(); got != step.wantOK {
					t.Errorf("%s: Filter success = %v, want %v", step.name, got, step.wantOK)
				}
			}
			if got := summaryIn(t, pl, cs, ni); got != real {
				t.Errorf("the copies replaced the real node's cached summary")
			}
			if pl.Filter(ctx, cs, pod, ni).IsSuccess() {
				t.Errorf("the original state or node changed by the copies: Filter should still reject")
			}
		})
	}
}

// summaryIn returns the summary Filter and Score read for ni in the cycle
// state cs.
func summaryIn(t testing.TB, pl *SandboxOverhead, cs fwk.CycleState, ni fwk.NodeInfo) *nodeSummary {
	t.Helper()
	s, err := getPreFilterState(cs)
	if err != nil {
		t.Fatal(err)
	}
	_, ctx := ktesting.NewTestContext(t)
	return pl.summaryOf(klog.FromContext(ctx), s, ni)
}

// TestSummaryCache checks that a node's summary is reused while its
// generation is unchanged, recomputed when its pods change, and that a
// RuntimeClass event invalidates every summary.
func TestSummaryCache(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, snap := setup(ctx, t, nil, pods(1, "kata-qemu", "512Mi", "n"), []*v1.Node{makeNode("n", "8Gi", nil, nil)})
	ni := nodeInfo(t, snap, "n")
	cycle := func() fwk.CycleState {
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, podOn("p", "kata-qemu", "512Mi", ""), nodeInfos(t, snap)); !s.IsSuccess() {
			t.Fatal(s)
		}
		return cs
	}
	cs := cycle()
	first := summaryIn(t, pl, cs, ni)
	if got, want := first.committed, int64(2656)<<20; got != want {
		t.Fatalf("committed = %d, want %d", got, want)
	}
	if again := summaryIn(t, pl, cycle(), ni); again != first {
		t.Errorf("unchanged node was summarized again in the next cycle")
	}
	// The scheduler updates the snapshot's NodeInfo in place when a pod is
	// added to the node: a new generation.
	x, err := framework.NewPodInfo(podOn("x", "", "1Gi", "n"))
	if err != nil {
		t.Fatal(err)
	}
	ni.AddPodInfo(x)
	cs = cycle()
	second := summaryIn(t, pl, cs, ni)
	if got, want := second.committed, int64(2656+1024)<<20; got != want {
		t.Errorf("after adding a pod committed = %d, want %d", got, want)
	}
	if again := summaryIn(t, pl, cs, ni); again != second {
		t.Errorf("the changed node's new summary was not cached")
	}
	pl.views.Invalidate()
	if third := summaryIn(t, pl, cycle(), ni); third == second {
		t.Errorf("summary not recomputed after a RuntimeClass change")
	}
}

func TestScore(t *testing.T) {
	nodes := []*v1.Node{makeNode("empty", "8Gi", nil, nil), makeNode("one-vm", "8Gi", nil, nil), makeNode("small", "4Gi", nil, nil)}
	existing := pods(1, "kata-qemu", "512Mi", "one-vm")
	pod := podOn("p", "kata-qemu", "512Mi", "")
	// After placement: empty 2656/8192 -> 324, one-vm 5312/8192 -> 648,
	// small 2656/4096 -> 648 per mille committed.
	tests := []struct {
		strategy config.ScoringStrategyType
		want     fwk.NodeScoreList
	}{
		{config.LeastCommitted, fwk.NodeScoreList{{Name: "empty", Score: 100}, {Name: "one-vm", Score: 52}, {Name: "small", Score: 52}}},
		{config.MostCommitted, fwk.NodeScoreList{{Name: "empty", Score: 50}, {Name: "one-vm", Score: 100}, {Name: "small", Score: 100}}},
	}
	for _, tc := range tests {
		t.Run(string(tc.strategy), func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			args := defaultArgs(t)
			args.ScoringStrategy = tc.strategy
			pl, snap := setup(ctx, t, args, existing, nodes)
			cs := framework.NewCycleState()
			if _, s := pl.PreFilter(ctx, cs, pod, nodeInfos(t, snap)); !s.IsSuccess() {
				t.Fatal(s)
			}
			if s := pl.PreScore(ctx, cs, pod, nodeInfos(t, snap)); !s.IsSuccess() {
				t.Fatal(s)
			}
			var got fwk.NodeScoreList
			for _, n := range nodes {
				score, s := pl.Score(ctx, cs, pod, nodeInfo(t, snap, n.Name))
				if !s.IsSuccess() {
					t.Fatal(s)
				}
				got = append(got, fwk.NodeScore{Name: n.Name, Score: score})
			}
			if s := pl.ScoreExtensions().NormalizeScore(ctx, cs, pod, got); !s.IsSuccess() {
				t.Fatal(s)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("scores (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestPreScoreSkipsWhenPreFilterSkipped(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, snap := setup(ctx, t, nil, nil, []*v1.Node{makeNode("n", "8Gi", nil, nil)})
	pod := st.MakePod().Name("p").Namespace("t1").Obj()
	cs := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, cs, pod, nodeInfos(t, snap)); s.Code() != fwk.Skip {
		t.Fatalf("PreFilter = %v, want Skip", s)
	}
	if s := pl.PreScore(ctx, cs, pod, nodeInfos(t, snap)); s.Code() != fwk.Skip {
		t.Errorf("PreScore = %v, want Skip", s)
	}
}

func TestSignPod(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, _ := setup(ctx, t, nil, nil, nil)
	sign := func(p *v1.Pod) []fwk.SignFragment {
		f, s := pl.SignPod(ctx, p)
		if !s.IsSuccess() {
			t.Fatalf("SignPod: %v", s)
		}
		return f
	}
	a := sign(podOn("a", "kata-qemu", "512Mi", ""))
	if diff := cmp.Diff(a, sign(podOn("b", "kata-qemu", "512Mi", ""))); diff != "" {
		t.Errorf("pods with the same footprint inputs sign differently (-a,+b):\n%s", diff)
	}
	for name, other := range map[string]*v1.Pod{
		"runtime class": podOn("c", "kata-clh", "512Mi", ""),
		"limit":         podOn("d", "kata-qemu", "1Gi", ""),
		"vfio": st.MakePod().Name("e").Res(map[v1.ResourceName]string{v1.ResourceMemory: "512Mi", "qat.intel.com/cy": "1"}).
			Overhead(podOn("x", "kata-qemu", "", "").Spec.Overhead).Obj(),
	} {
		if other.Spec.RuntimeClassName == nil {
			other.Spec.RuntimeClassName = ptrTo("kata-qemu")
		}
		if cmp.Equal(a, sign(other)) {
			t.Errorf("pod differing in %s signs like the first one", name)
		}
	}
	want := []fwk.SignFragment{{Key: footprintSignerName, Value: footprintSignature{
		RuntimeClassName: "kata-qemu", Requests: 512 << 20, Overhead: 320 << 20, Limits: 512 << 20, AnyLimit: true}}}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("fragments (-want,+got):\n%s", diff)
	}
}

func TestNewRejectsBadArgs(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	args := defaultArgs(t)
	args.OvercommitRatio = 0.5
	snap := cache.NewSnapshot(nil, nil)
	fh, err := frameworkWithInformers(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(ctx, args, fh)
	if err == nil {
		t.Fatal("New accepted overcommitRatio 0.5")
	}
	if want := "pluginConfig[SandboxOverhead].args.overcommitRatio"; !contains(err.Error(), want) {
		t.Errorf("error %q does not name the field %s", err, want)
	}
	if _, err := New(ctx, &config.TenantIsolationArgs{}, fh); err == nil {
		t.Error("New accepted args of another plugin")
	}
}

// TestFilterParallel runs Filter and Score on every node from several
// goroutines at once, as the scheduler does, on a cold then a warm cache:
// every node's totals must be right.
func TestFilterParallel(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	var nodes []*v1.Node
	var existing []*v1.Pod
	for i := range 300 {
		name := fmt.Sprintf("n%d", i)
		nodes = append(nodes, makeNode(name, "8Gi", nil, nil))
		if i%2 == 0 {
			existing = append(existing, pods(3, "kata-qemu", "512Mi", name)...)
		}
	}
	pl, snap := setup(ctx, t, nil, existing, nodes)
	pod := podOn("p", "kata-qemu", "512Mi", "")
	for cycle := range 2 { // cold cache, then warm
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, pod, nodeInfos(t, snap)); !s.IsSuccess() {
			t.Fatal(s)
		}
		const workers = 8
		errs := make(chan string, len(nodes)*workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range nodes {
					n := nodes[(i+w*37)%len(nodes)]
					idx := (i + w*37) % len(nodes)
					ni := nodeInfo(t, snap, n.Name)
					full := idx%2 == 0
					if got := pl.Filter(ctx, cs, pod, ni).IsSuccess(); got == full {
						errs <- fmt.Sprintf("cycle %d node %s (3 VMs: %v): Filter success = %v", cycle, n.Name, full, got)
					}
					// LeastCommitted, 2656Mi VM: 1 VM -> 676, 4 VMs -> 0 per mille left.
					want := int64(676)
					if full {
						want = 0
					}
					if got, s := pl.Score(ctx, cs, pod, ni); !s.IsSuccess() || got != want {
						errs <- fmt.Sprintf("cycle %d node %s: Score = %d, %v, want %d", cycle, n.Name, got, s, want)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
	}
	if got, _ := pl.cache.Len(); got != len(nodes) {
		t.Errorf("%d summaries cached, want one per node (%d)", got, len(nodes))
	}
}
