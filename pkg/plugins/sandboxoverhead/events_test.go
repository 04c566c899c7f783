package sandboxoverhead

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

func TestEventsToRegister(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, _ := setup(ctx, t, nil, nil, nil)
	got, err := pl.EventsToRegister(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Delete | fwk.UpdatePodScaleDown}},
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeAllocatable | fwk.UpdateNodeLabel}},
		{Event: fwk.ClusterEvent{Resource: "runtimeclasses.v1.node.k8s.io", ActionType: fwk.Add}},
		{Event: fwk.ClusterEvent{Resource: "runtimeclasses.v1.node.k8s.io", ActionType: fwk.Update}},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(fwk.ClusterEventWithHint{}, "QueueingHintFn")); diff != "" {
		t.Errorf("events (-want,+got):\n%s", diff)
	}
	for _, e := range got {
		if e.QueueingHintFn == nil {
			t.Errorf("event %v has no QueueingHint", e.Event)
		}
	}
}

func TestIsSchedulableAfterPodEvent(t *testing.T) {
	target := podOn("target", "kata-qemu", "512Mi", "")
	scaledDown := func(p *v1.Pod, limit string) *v1.Pod {
		c := podOn(p.Name, "", limit, p.Spec.NodeName)
		q := p.DeepCopy()
		q.Spec.Containers = c.Spec.Containers
		return q
	}
	assignedVM := podOn("vm", "kata-qemu", "1Gi", "n")
	tests := []struct {
		name     string
		old, new *v1.Pod
		want     fwk.QueueingHint
	}{
		{"deleted pod was never on a node", podOn("x", "kata-qemu", "1Gi", ""), nil, fwk.QueueSkip},
		{"deleted VM frees memory", assignedVM, nil, fwk.Queue},
		{"deleted best-effort pod frees nothing", podOn("be", "", "", "n"), nil, fwk.QueueSkip},
		// Kata does not give hot-plugged guest memory back to the host.
		{"assigned VM scaled down keeps its guest", assignedVM, scaledDown(assignedVM, "512Mi"), fwk.QueueSkip},
		{"assigned runc pod scaled down", podOn("r", "", "1Gi", "n"), scaledDown(podOn("r", "", "1Gi", "n"), "512Mi"), fwk.Queue},
		{"assigned pod update that does not lower memory", assignedVM, scaledDown(assignedVM, "1Gi"), fwk.QueueSkip},
		{"unassigned pod scaled down", podOn("u", "", "1Gi", ""), podOn("u", "", "512Mi", ""), fwk.QueueSkip},
		{"the target itself scaled down", target, scaledDown(target, "256Mi"), fwk.Queue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			pl, _ := setup(ctx, t, nil, nil, nil)
			var newObj any
			if tc.new != nil {
				newObj = tc.new
			}
			got, err := pl.isSchedulableAfterPodEvent(logger, target, tc.old, newObj)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("hint = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIsSchedulableAfterNodeChange(t *testing.T) {
	target := podOn("target", "kata-qemu", "512Mi", "") // commits 2656Mi, 2560Mi of it shm
	withLabels := func(n *v1.Node, l map[string]string) *v1.Node { n.Labels = l; return n }
	shm := func(s string) map[v1.ResourceName]string {
		return map[v1.ResourceName]string{wellknown.ResourceSandboxMemory: s}
	}
	tests := []struct {
		name     string
		old, new *v1.Node
		want     fwk.QueueingHint
	}{
		{"new node large enough", nil, makeNode("n", "8Gi", nil, nil), fwk.Queue},
		{"new node too small for the VM", nil, makeNode("n", "2Gi", nil, nil), fwk.QueueSkip},
		{"new node whose /dev/shm is too small", nil, makeNode("n", "8Gi", shm("2Gi"), nil), fwk.QueueSkip},
		{"new node with no VM slots", nil, makeNode("n", "8Gi", map[v1.ResourceName]string{wellknown.ResourceSandboxes: "0"}, nil), fwk.QueueSkip},
		{"allocatable memory grew", makeNode("n", "8Gi", nil, nil), makeNode("n", "16Gi", nil, nil), fwk.Queue},
		{"allocatable memory shrank", makeNode("n", "16Gi", nil, nil), makeNode("n", "8Gi", nil, nil), fwk.QueueSkip},
		{"sandbox-memory grew", makeNode("n", "16Gi", shm("4Gi"), nil), makeNode("n", "16Gi", shm("8Gi"), nil), fwk.Queue},
		{"VM slots grew", makeNode("n", "16Gi", map[v1.ResourceName]string{wellknown.ResourceSandboxes: "2"}, nil),
			makeNode("n", "16Gi", map[v1.ResourceName]string{wellknown.ResourceSandboxes: "4"}, nil), fwk.Queue},
		{"unrelated label", makeNode("n", "8Gi", nil, nil), withLabels(makeNode("n", "8Gi", nil, nil), map[string]string{"zone": "a"}), fwk.QueueSkip},
		{"node's kata-qemu default_memory lowered", makeNode("n", "8Gi", nil, nil),
			withLabels(makeNode("n", "8Gi", nil, nil), map[string]string{wellknown.DefaultMemoryLabel("kata-qemu"): "1024"}), fwk.Queue},
		{"node's kata-clh values do not concern a kata-qemu pod", makeNode("n", "8Gi", nil, nil),
			withLabels(makeNode("n", "8Gi", nil, nil), map[string]string{wellknown.DefaultMemoryLabel("kata-clh"): "1024"}), fwk.QueueSkip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			pl, _ := setup(ctx, t, nil, nil, nil)
			var oldObj any
			if tc.old != nil {
				oldObj = tc.old
			}
			got, err := pl.isSchedulableAfterNodeChange(logger, target, oldObj, tc.new)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("hint = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("pod whose RuntimeClass is missing waits for its creation, not for nodes", func(t *testing.T) {
		logger, ctx := ktesting.NewTestContext(t)
		pl, _ := setup(ctx, t, nil, nil, nil)
		got, err := pl.isSchedulableAfterNodeChange(logger, podOn("p", "kata-nope", "512Mi", ""), nil, makeNode("n", "8Gi", nil, nil))
		if err != nil || got != fwk.QueueSkip {
			t.Errorf("hint = %v, %v; want QueueSkip, nil", got, err)
		}
	})
}
