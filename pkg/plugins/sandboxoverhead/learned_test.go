package sandboxoverhead

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// TestLearnedOverhead: on a node whose agent published an observed
// overhead, SandboxOverhead sizes the incoming pod and the pods already
// there with it, within learnedOverhead's bounds, and the reason says
// which figure it used.
func TestLearnedOverhead(t *testing.T) {
	observed := func(handler, memory, samples string) map[string]string {
		return map[string]string{wellknown.ObservedMemoryLabel(handler): memory, wellknown.ObservedSamplesLabel(handler): samples}
	}
	// Two 512Mi kata-qemu VMs and a third: 3 × 2656Mi = 7968Mi fits 8Gi by
	// the model (96Mi VMM); with 200Mi observed, 3 × 2760Mi does not.
	tests := []struct {
		name string
		args func(*config.LearnedOverhead)
		node *v1.Node
		pod  *v1.Pod
		want *fwk.Status
	}{
		{
			name: "gVisor without an observation: 64Mi + 42Mi fits",
			node: makeNode("n", "5432Mi", nil, nil),
			pod:  podOn("p", "gvisor", "64Mi", ""),
		},
		{
			name: "no observation: the model fits",
			node: makeNode("n", "8Gi", nil, nil),
			pod:  podOn("p", "kata-qemu", "512Mi", ""),
		},
		{
			name: "observed 200Mi VMM: the third VM no longer fits, and the reason says so",
			node: makeNode("n", "8Gi", nil, observed("kata-qemu", "200Mi", "40")),
			pod:  podOn("p", "kata-qemu", "512Mi", ""),
			want: fwk.NewStatus(fwk.Unschedulable,
				"insufficient committed memory: VM needs 2.7Gi (2Gi default guest memory + 512Mi limits + 200Mi VMM, observed)"),
		},
		{
			name: "too few samples: the model, which fits",
			node: makeNode("n", "8Gi", nil, observed("kata-qemu", "200Mi", "19")),
			pod:  podOn("p", "kata-qemu", "512Mi", ""),
		},
		{
			name: "learned overhead disabled: the model, which fits",
			args: func(l *config.LearnedOverhead) { l.Enabled = false },
			node: makeNode("n", "8Gi", nil, observed("kata-qemu", "200Mi", "40")),
			pod:  podOn("p", "kata-qemu", "512Mi", ""),
		},
		{
			name: "an observation above maxFactor × model is capped",
			args: func(l *config.LearnedOverhead) { l.MaxFactor = 1.5 },
			node: makeNode("n", "8Gi", nil, observed("kata-qemu", "4Gi", "40")),
			pod:  podOn("p", "kata-qemu", "512Mi", ""),
			// 3 × (2560 + 144) = 8112Mi fits 8192Mi.
		},
		{
			name: "a node cannot make its VMs smaller than the model by default",
			node: makeNode("n", "7968Mi", nil, observed("kata-qemu", "10Mi", "40")),
			pod:  podOn("p", "kata-qemu", "1Gi", ""),
			want: fwk.NewStatus(fwk.Unschedulable,
				"insufficient committed memory: VM needs 3.1Gi (2Gi default guest memory + 1Gi limits + 96Mi VMM, model)"),
		},
		{
			name: "unless the operator allows it",
			args: func(l *config.LearnedOverhead) { l.AllowBelowModel = true },
			node: makeNode("n", "7968Mi", nil, observed("kata-qemu", "10Mi", "40")),
			// 2 × 2570 + 3082 = 8222Mi > 7968Mi: still too big, now by the observed figure.
			pod: podOn("p", "kata-qemu", "1Gi", ""),
			want: fwk.NewStatus(fwk.Unschedulable,
				"insufficient committed memory: VM needs 3.1Gi (2Gi default guest memory + 1Gi limits + 10Mi VMM, observed)"),
		},
		{
			name: "gVisor: the observed sandbox replaces the 42Mi model",
			// 2 × 2656Mi of VMs leave 120Mi: 64Mi + 42Mi (the default, from the e2e measurement: docs/vm-footprint.md "gVisor") fits, 64Mi + 73Mi does not.
			node: makeNode("n", "5432Mi", nil, observed("runsc", "73Mi", "25")),
			pod:  podOn("p", "gvisor", "64Mi", ""),
			want: fwk.NewStatus(fwk.Unschedulable,
				"insufficient committed memory: pod needs 137Mi (64Mi requests + 73Mi gVisor sandbox, observed)"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			args := defaultArgs(t)
			if tc.args != nil {
				tc.args(&args.LearnedOverhead)
			}
			pl, snap := setup(ctx, t, args, pods(2, "kata-qemu", "512Mi", "n"), []*v1.Node{tc.node})
			cs := framework.NewCycleState()
			if _, status := pl.PreFilter(ctx, cs, tc.pod, nodeInfos(t, snap)); !status.IsSuccess() {
				t.Fatalf("PreFilter: %v", status)
			}
			got := pl.Filter(ctx, cs, tc.pod, nodeInfo(t, snap, tc.node.Name))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Filter status (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestRequeueWhenObservedOverheadDrops: a runc pod rejected on a node full
// of gVisor sandboxes is queued when the node's observed gVisor overhead
// goes down or away (the sandboxes there commit less), not when it grows.
func TestRequeueWhenObservedOverheadDrops(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	pl, _ := setup(ctx, t, nil, nil, nil)
	node := func(memory string) *v1.Node {
		labels := map[string]string{wellknown.ObservedSamplesLabel("runsc"): "40"}
		if memory != "" {
			labels[wellknown.ObservedMemoryLabel("runsc")] = memory
		}
		return makeNode("n", "8Gi", nil, labels)
	}
	runc := podOn("p", "", "1Gi", "")
	for _, tc := range []struct {
		name     string
		old, new *v1.Node
		want     fwk.QueueingHint
	}{
		{"observed overhead dropped", node("120Mi"), node("80Mi"), fwk.Queue},
		{"observed overhead gone", node("120Mi"), node(""), fwk.Queue},
		{"observed overhead grew", node("80Mi"), node("120Mi"), fwk.QueueSkip},
		{"observed overhead appeared", node(""), node("80Mi"), fwk.QueueSkip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pl.isSchedulableAfterNodeChange(logger, runc, tc.old, tc.new)
			if err != nil || got != tc.want {
				t.Errorf("hint = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
