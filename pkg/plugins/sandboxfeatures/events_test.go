package sandboxfeatures

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
)

func TestEventsToRegister(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl := newPlugin(ctx, t, defaultArgs(t), nil)
	events, err := pl.EventsToRegister(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []fwk.ClusterEvent
	for _, e := range events {
		if e.QueueingHintFn == nil {
			t.Errorf("event %v has no queueing hint", e.Event)
		}
		got = append(got, e.Event)
	}
	want := []fwk.ClusterEvent{
		{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel},
		{Resource: "runtimeclasses.v1.node.k8s.io", ActionType: fwk.Add},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want,+got):\n%s", diff)
	}
}

func Test_isSchedulableAfterNodeChange(t *testing.T) {
	kataReady := []string{labelKVM, "true", runtimeLabel("kata-qemu"), "true"}
	kataQAT := withQAT(pod("p", "kata-qemu"), qatCy).Obj()
	tests := []struct {
		name    string
		pod     *v1.Pod
		oldObj  interface{}
		newObj  interface{}
		want    fwk.QueueingHint
		wantErr bool
	}{
		{name: "added node with KVM and the handler", pod: pod("p", "kata-qemu").Obj(), newObj: node("n", kataReady...), want: fwk.Queue},
		{name: "added node without KVM", pod: pod("p", "kata-qemu").Obj(), newObj: node("n", runtimeLabel("kata-qemu"), "true"), want: fwk.QueueSkip},
		{name: "added KVM node without IOMMU for a Kata QAT pod", pod: kataQAT, newObj: node("n", kataReady...), want: fwk.QueueSkip},
		{name: "added vfio node for a Kata QAT pod", pod: kataQAT, newObj: node("n", append([]string{labelIOMMU, "true", labelQATVFIO, "true"}, kataReady...)...), want: fwk.Queue},
		{name: "NFD labels KVM on a node", pod: pod("p", "kata-qemu").Obj(),
			oldObj: node("n", runtimeLabel("kata-qemu"), "true"), newObj: node("n", kataReady...), want: fwk.Queue},
		{name: "label change that still leaves the handler missing", pod: pod("p", "kata-qemu").Obj(),
			oldObj: node("n"), newObj: node("n", labelKVM, "true"), want: fwk.QueueSkip},
		{name: "unrelated label change on a node that already fit", pod: pod("p", "kata-qemu").Obj(),
			oldObj: node("n", kataReady...), newObj: node("n", append([]string{"team", "a"}, kataReady...)...), want: fwk.QueueSkip},
		{name: "KVM label removed", pod: pod("p", "kata-qemu").Obj(),
			oldObj: node("n", kataReady...), newObj: node("n", runtimeLabel("kata-qemu"), "true"), want: fwk.QueueSkip},
		{name: "TDX enabled on a KVM node", pod: pod("p", "kata-qemu-tdx").Obj(),
			oldObj: node("n", labelKVM, "true", runtimeLabel("kata-qemu-tdx"), "true"),
			newObj: node("n", labelKVM, "true", runtimeLabel("kata-qemu-tdx"), "true", labelTDX, "true"), want: fwk.Queue},
		{name: "pod whose RuntimeClass is missing waits for its creation, not for nodes", pod: pod("p", "kata-nope").Obj(), newObj: node("n"), want: fwk.QueueSkip},
		{name: "not a node", pod: pod("p", "kata-qemu").Obj(), newObj: "node", want: fwk.Queue, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			pl := newPlugin(ctx, t, defaultArgs(t), nil)
			got, err := pl.isSchedulableAfterNodeChange(logger, tc.pod, tc.oldObj, tc.newObj)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("hint = %v, want %v", got, tc.want)
			}
		})
	}
}
