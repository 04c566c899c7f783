package sandboxoverhead

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

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
