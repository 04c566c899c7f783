package sandboxoverhead

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	schedcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/mtscn/mtscn/pkg/plugins/internal/plugintest"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// TestIsSchedulableAfterRuntimeClassUpdate: only an update that makes a
// class's pods stop counting as on-node sandboxes requeues a pod; the
// scheduler delivers the objects unstructured (its dynamic informer).
func TestIsSchedulableAfterRuntimeClassUpdate(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	pl, _ := setup(ctx, t, nil, nil, nil)
	base := rc("kata-clh", "kata-clh", "130Mi")
	with := func(f func(*nodev1.RuntimeClass)) *nodev1.RuntimeClass {
		c := base.DeepCopy()
		f(c)
		return c
	}
	label := func(k, v string) func(*nodev1.RuntimeClass) {
		return func(c *nodev1.RuntimeClass) { c.Labels = map[string]string{k: v} }
	}
	tests := []struct {
		name     string
		old, new *nodev1.RuntimeClass
		want     fwk.QueueingHint
	}{
		{"another label", base, with(label("team", "platform")), fwk.QueueSkip},
		{"an annotation", base, with(func(c *nodev1.RuntimeClass) { c.Annotations = map[string]string{"note": "x"} }), fwk.QueueSkip},
		// Copied into pods at creation: no pod the scheduler knows changes.
		{"overhead lowered", base, with(func(c *nodev1.RuntimeClass) {
			c.Overhead.PodFixed[v1.ResourceMemory] = resource.MustParse("64Mi")
		}), fwk.QueueSkip},
		{"scheduling", base, with(func(c *nodev1.RuntimeClass) {
			c.Scheduling = &nodev1.Scheduling{NodeSelector: map[string]string{"pool": "vm"}}
		}), fwk.QueueSkip},
		{"labelled sandboxed=true, as its handler already says", base, with(label(wellknown.LabelSandboxed, "true")), fwk.QueueSkip},
		{"labelled sandboxed=false: its pods commit only requests + overhead", base, with(label(wellknown.LabelSandboxed, "false")), fwk.Queue},
		{"labelled sandboxed=true again: its pods commit more", with(label(wellknown.LabelSandboxed, "false")), base, fwk.QueueSkip},
		{"gVisor class no longer sandboxed", rc("gvisor", "runsc", ""), func() *nodev1.RuntimeClass {
			c := rc("gvisor", "runsc", "")
			c.Labels = map[string]string{wellknown.LabelSandboxed: "false"}
			return c
		}(), fwk.Queue},
		{"an off-node class no longer sandboxed: it held no VM on a node", rc("kata-remote", "kata-remote", "120Mi"), func() *nodev1.RuntimeClass {
			c := rc("kata-remote", "kata-remote", "120Mi")
			c.Labels = map[string]string{wellknown.LabelSandboxed: "false"}
			return c
		}(), fwk.QueueSkip},
	}
	unstructuredOf := func(c *nodev1.RuntimeClass) *unstructured.Unstructured {
		m, err := apiruntime.DefaultUnstructuredConverter.ToUnstructured(c)
		if err != nil {
			t.Fatal(err)
		}
		return &unstructured.Unstructured{Object: m}
	}
	pod := podOn("p", "kata-qemu", "512Mi", "")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pl.isSchedulableAfterRuntimeClassUpdate(logger, pod, unstructuredOf(tc.old), unstructuredOf(tc.new))
			if err != nil || got != tc.want {
				t.Errorf("hint = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestRuntimeClassUpdatesThatChangeSizing runs the plugin on a real
// informer: RuntimeClass updates that change nothing a footprint reads
// (another label, an annotation, the overhead, the scheduling) neither
// rebuild its View (every node summary stays cached) nor requeue or
// activate a pending pod; relabelling a class sandboxed=false does all
// three, and the pending pod then fits.
func TestRuntimeClassUpdatesThatChangeSizing(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pending := podOn("pending", "kata-qemu", "512Mi", "")
	var objs []apiruntime.Object
	for _, r := range runtimeClasses {
		objs = append(objs, r)
	}
	objs = append(objs, pending)
	client := fake.NewClientset(objs...)
	informerFactory := informers.NewSharedInformerFactory(client, 0)
	// Two kata-clh VMs fill an 8Gi node (2 × (2048 + 1024 + 64)Mi leave
	// 1920Mi): the pending kata-qemu VM (2656Mi) waits.
	snap := schedcache.NewSnapshot(pods(2, "kata-clh", "1Gi", "n"), []*v1.Node{makeNode("n", "8Gi", nil, nil)})
	act := &plugintest.Activations{}
	pl := newOnInformers(ctx, t, snap, informerFactory, frameworkruntime.WithPodActivator(act))
	// The scheduler calls the plugin's hint for each update its informer
	// delivers; this handler does the same on the same informer.
	events, err := pl.EventsToRegister(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var updateHint fwk.QueueingHintFn
	for _, e := range events {
		if e.Event.Resource == "runtimeclasses.v1.node.k8s.io" && e.Event.ActionType == fwk.Update {
			updateHint = e.QueueingHintFn
		}
	}
	var mu sync.Mutex
	var hints []string
	logger := klog.FromContext(ctx)
	if _, err := informerFactory.Node().V1().RuntimeClasses().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			h, err := updateHint(logger, pending, oldObj, newObj)
			mu.Lock()
			defer mu.Unlock()
			hints = append(hints, fmt.Sprintf("%s:%v:%v", newObj.(*nodev1.RuntimeClass).Name, h, err))
		},
	}); err != nil {
		t.Fatal(err)
	}
	informerFactory.Start(ctx.Done())
	informerFactory.WaitForCacheSync(ctx.Done())
	if err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return pl.views.Invalidations() == uint64(len(runtimeClasses)), nil
	}); err != nil {
		t.Fatalf("initial list: %d invalidations, want %d (one Add per RuntimeClass)", pl.views.Invalidations(), len(runtimeClasses))
	}
	filter := func() *fwk.Status {
		cs := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, cs, pending, nodeInfos(t, snap)); !s.IsSuccess() {
			t.Fatal(s)
		}
		return pl.Filter(ctx, cs, pending, nodeInfo(t, snap, "n"))
	}
	if s := filter(); s.IsSuccess() {
		t.Fatal("the kata-qemu VM fits next to two 1Gi kata-clh VMs on 8Gi; the test needs it not to")
	}
	view := pl.views.Current()
	epoch := pl.views.Invalidations()
	// The initial Add of kata-qemu activated the pod (classify.ActivateOnRuntimeClassAdd).
	activated := act.Count()

	update := func(name string, f func(*nodev1.RuntimeClass)) {
		t.Helper()
		c, err := client.NodeV1().RuntimeClasses().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f(c)
		if _, err := client.NodeV1().RuntimeClasses().Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	update("kata-clh", func(c *nodev1.RuntimeClass) { c.Labels = map[string]string{"team": "platform"} })
	update("kata-clh", func(c *nodev1.RuntimeClass) { c.Annotations = map[string]string{"note": "x"} })
	update("kata-clh", func(c *nodev1.RuntimeClass) { c.Overhead.PodFixed[v1.ResourceMemory] = resource.MustParse("256Mi") })
	update("kata-qemu", func(c *nodev1.RuntimeClass) {
		c.Scheduling = &nodev1.Scheduling{NodeSelector: map[string]string{"pool": "vm"}}
	})
	// The informer delivers in order: once the next update is seen, the
	// ones above were.
	update("kata-clh", func(c *nodev1.RuntimeClass) { c.Labels[wellknown.LabelSandboxed] = "false" })
	if err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(hints) == 5 && pl.views.Invalidations() != epoch, nil
	}); err != nil {
		t.Fatalf("the sandboxed=false relabel was not seen: hints %v, %d invalidations", hints, pl.views.Invalidations()-epoch)
	}
	if got := pl.views.Invalidations() - epoch; got != 1 {
		t.Errorf("View rebuilt %d times after four updates that change no footprint and a sandboxed=false relabel; want 1", got)
	}
	want := []string{"kata-clh:QueueSkip:<nil>", "kata-clh:QueueSkip:<nil>", "kata-clh:QueueSkip:<nil>", "kata-qemu:QueueSkip:<nil>", "kata-clh:Queue:<nil>"}
	if fmt.Sprint(hints) != fmt.Sprint(want) {
		t.Errorf("queueing hints for the five updates %v, want %v", hints, want)
	}
	if err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return act.Count() == activated+1, nil
	}); err != nil {
		t.Errorf("pending pods activated %d times after the updates, want once (for the relabel)", act.Count()-activated)
	}
	if pl.views.Current() == view {
		t.Error("the View was not rebuilt after the relabel")
	}
	// The kata-clh pods now count as requests + overhead (1Gi + 130Mi
	// each): the VM fits.
	if s := filter(); !s.IsSuccess() {
		t.Errorf("after kata-clh was relabelled not sandboxed, Filter = %v, want success", s)
	}
}
