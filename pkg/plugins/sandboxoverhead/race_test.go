package sandboxoverhead

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// TestRuntimeClassRelabelWindow drives the window between the RuntimeClass
// informer updating its store and calling the plugin's handler (handlers
// run asynchronously, after the store): a cycle in that window must size
// the incoming pod and the pods on the node from the same RuntimeClasses.
//
// The node (3.5Gi) runs a 1Gi pod of r1 (mtscn.io/sandboxed=false: 1Gi
// committed); the incoming 1Gi pod uses r2 (sandboxed=true: a VM of about
// 3.2Gi). An admin marks r1 sandboxed, then r2 not sandboxed, and both
// updates reach the store before the handler ran. Before them the
// incoming VM does not fit next to the 1Gi pod; after them the 1Gi pod is
// a 3.2Gi VM and the incoming 1Gi pod does not fit either. Sizing the
// incoming pod on r2's new label and the node on the summary cached before
// the updates (2Gi in all) would overcommit the node.
func TestRuntimeClassRelabelWindow(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	sandboxed := func(name, handler, value string) *nodev1.RuntimeClass {
		return &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{wellknown.LabelSandboxed: value}}, Handler: handler}
	}
	client := fake.NewClientset(sandboxed("r1", "kata-qemu", "false"), sandboxed("r2", "kata-clh", "true"))
	factory := informers.NewSharedInformerFactory(client, 0)
	snap := cache.NewSnapshot([]*v1.Pod{podOn("running", "r1", "1Gi", "n")}, []*v1.Node{makeNode("n", "3584Mi", nil, nil)})
	pl := newOnInformers(ctx, t, snap, factory)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())

	ni := nodeInfo(t, snap, "n")
	incoming := podOn("incoming", "r2", "1Gi", "")
	cycle := func() fwk.Code {
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, incoming, []fwk.NodeInfo{ni}); !s.IsSuccess() {
			t.Fatalf("PreFilter: %v", s)
		}
		return pl.Filter(ctx, cs, incoming, ni).Code()
	}
	before := cycle() // caches the node's summary

	// The informer applied both updates; the handler has not run.
	store := factory.Node().V1().RuntimeClasses().Informer().GetIndexer()
	for _, rc := range []*nodev1.RuntimeClass{sandboxed("r1", "kata-qemu", "true"), sandboxed("r2", "kata-clh", "false")} {
		if err := store.Update(rc); err != nil {
			t.Fatal(err)
		}
	}
	window := cycle()

	want := []fwk.Code{fwk.Unschedulable, fwk.Unschedulable}
	if diff := cmp.Diff(want, []fwk.Code{before, window}); diff != "" {
		t.Errorf("Filter of the incoming pod: before the relabels, after both reached the store but before the handler ran (-want,+got):\n%s", diff)
	}

	// Once the handler has run, the cycle sizes both pods on the new
	// labels: the running pod is a VM now.
	pl.views.Invalidate()
	if got := cycle(); got != fwk.Unschedulable {
		t.Errorf("Filter after the handler ran: %v, want Unschedulable", got)
	}
}

// TestResizeDownKeepsGuest: a running kata-qemu VM with a 4Gi memory limit
// is resized in place to 1Gi (KEP-1287: the spec first, the status once
// the kubelet applied it). Kata hot-plugged 4Gi into the guest and cannot
// unplug it, so the VM still commits 2Gi + 4Gi + 96Mi on the 8Gi node and
// a 1Gi kata pod (3.1Gi) no longer fits. Sizing the running VM by its new
// limits (3.1Gi) would admit it and overcommit the node.
func TestResizeDownKeepsGuest(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	running := podOn("vm", "kata-qemu", "4Gi", "n")
	running.Spec.Containers[0].Name = "c"
	running.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "c", Resources: running.Spec.Containers[0].Resources.DeepCopy()}}
	var objs []apiruntime.Object
	for _, r := range runtimeClasses {
		objs = append(objs, r)
	}
	client := fake.NewClientset(append(objs, running)...)
	factory := informers.NewSharedInformerFactory(client, 0)

	// The scheduler's snapshot holds the pod as it is after the resize.
	resized := running.DeepCopy()
	resized.Spec.Containers[0].Resources = podOn("x", "", "1Gi", "").Spec.Containers[0].Resources
	resized.Status.ContainerStatuses[0].Resources = resized.Spec.Containers[0].Resources.DeepCopy()
	snap := cache.NewSnapshot([]*v1.Pod{resized}, []*v1.Node{makeNode("n", "8Gi", nil, nil)})
	pl := newOnInformers(ctx, t, snap, factory)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())

	// The resize as the API server sees it: the spec, then the status.
	specOnly := running.DeepCopy()
	specOnly.Spec = resized.Spec
	if _, err := client.CoreV1().Pods(running.Namespace).Update(ctx, specOnly, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods(running.Namespace).UpdateStatus(ctx, resized, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	ni := nodeInfo(t, snap, "n")
	incoming := podOn("incoming", "kata-qemu", "1Gi", "")
	var got *fwk.Status
	// The plugin learns of the resize from its pod informer.
	_ = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, incoming, []fwk.NodeInfo{ni}); !s.IsSuccess() {
			t.Fatalf("PreFilter: %v", s)
		}
		got = pl.Filter(ctx, cs, incoming, ni)
		return got.Code() == fwk.Unschedulable, nil
	})
	if got.Code() != fwk.Unschedulable {
		t.Errorf("Filter of a 1Gi kata pod next to a 4Gi VM resized to 1Gi: %v, want Unschedulable (the guest keeps 4Gi)", got)
	}
}
