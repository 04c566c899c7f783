package tenantisolation

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	schedcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/plugins/internal/plugintest"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

func TestEventsToRegister(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, _ := setup(ctx, t, defaultArgs(t), nil, nil)
	events, err := pl.EventsToRegister(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []fwk.ClusterEvent
	for _, e := range events {
		if e.QueueingHintFn == nil {
			t.Errorf("event %v has no QueueingHint", e.Event)
		}
		got = append(got, e.Event)
	}
	want := []fwk.ClusterEvent{
		{Resource: fwk.Pod, ActionType: fwk.Delete},
		{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel},
		{Resource: "namespaces.v1.", ActionType: fwk.Add | fwk.Update},
		{Resource: "runtimeclasses.v1.node.k8s.io", ActionType: fwk.Add | fwk.Update},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want,+got):\n%s", diff)
	}
}

func nominated(p *v1.Pod, node string) *v1.Pod {
	p.Status.NominatedNodeName = node
	return p
}

func TestIsSchedulableAfterPodDelete(t *testing.T) {
	waiting := pod("a1", "waiting", "kata", "")
	tests := []struct {
		name    string
		deleted interface{}
		want    fwk.QueueingHint
	}{
		{"another tenant's bound pod", pod("b", "e", "", "n1"), fwk.Queue},
		{"another tenant's VM (I2/I4 conflicts)", pod("ex", "e", "kata", "n1"), fwk.Queue},
		{"another tenant's pod that finished", st.MakePod().Namespace("c").Name("e").Node("n1").Phase(v1.PodSucceeded).Obj(), fwk.Queue},
		{"tombstone of another tenant's pod", cache.DeletedFinalStateUnknown{Key: "b/e", Obj: pod("b", "e", "", "n1")}, fwk.Queue},
		{"unbound pod", pod("b", "e", "", ""), fwk.QueueSkip},
		{"another tenant's nominated pod (deleted, or its nomination moved)", nominated(pod("b", "e", "", ""), "n1"), fwk.Queue},
		{"nominated pod of the same tenant", nominated(pod("a2", "e", "", ""), "n1"), fwk.QueueSkip},
		{"same namespace", pod("a1", "e", "", "n1"), fwk.QueueSkip},
		{"same tenant, other namespace", pod("a2", "e", "", "n1"), fwk.QueueSkip},
		{"infrastructure pod", pod("kube-system", "e", "", "n1"), fwk.QueueSkip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			pl, _ := setup(ctx, t, defaultArgs(t), nil, nil)
			got, err := pl.isSchedulableAfterPodDelete(logger, waiting, tc.deleted, nil)
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
	node := func(labels map[string]string) *v1.Node {
		n := st.MakeNode().Name("n1").Obj()
		n.Labels = labels
		return n
	}
	unsafe := map[string]string{wellknown.LabelCotenancySafe: "false"}
	safe := map[string]string{wellknown.LabelCotenancySafe: "true"}
	tests := []struct {
		name     string
		old, new *v1.Node
		ignoreSC bool
		want     fwk.QueueingHint
	}{
		{name: "node added", new: node(nil), want: fwk.Queue},
		{name: "unsafe node added", new: node(unsafe), want: fwk.Queue},
		{name: "cotenancy-safe=false set to true", old: node(unsafe), new: node(safe), want: fwk.Queue},
		{name: "agent published cotenancy-safe=true on a node without it", old: node(nil), new: node(safe), want: fwk.Queue},
		{name: "cotenancy-safe=false removed: no state is still unsafe", old: node(unsafe), new: node(nil), want: fwk.QueueSkip},
		{name: "cotenancy-safe=false set to true, side channels ignored", old: node(unsafe), new: node(safe), ignoreSC: true, want: fwk.QueueSkip},
		{name: "node became unsafe", old: node(safe), new: node(unsafe), want: fwk.QueueSkip},
		{name: "unrelated label", old: node(safe), new: node(map[string]string{wellknown.LabelCotenancySafe: "true", "zone": "a"}), want: fwk.QueueSkip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			args := defaultArgs(t)
			if tc.ignoreSC {
				args.SideChannelPolicy = "Ignore"
			}
			pl, _ := setup(ctx, t, args, nil, nil)
			var old interface{}
			if tc.old != nil {
				old = tc.old
			}
			got, err := pl.isSchedulableAfterNodeChange(logger, pod("a1", "p", "kata", ""), old, tc.new)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("hint = %v, want %v", got, tc.want)
			}
		})
	}
}

// unstructuredOf converts a typed object the way the scheduler's dynamic
// informers deliver it.
func unstructuredOf(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func TestIsSchedulableAfterNamespaceChange(t *testing.T) {
	waiting := pod("a1", "p", "", "")
	tests := []struct {
		name     string
		old, new *v1.Namespace
		want     fwk.QueueingHint
	}{
		{name: "the pod's namespace added", new: ns("a1", nil), want: fwk.Queue},
		{name: "another namespace added", new: ns("z", nil), want: fwk.QueueSkip},
		{name: "tenant label changed", old: ns("b", map[string]string{wellknown.LabelTenant: "B"}), new: ns("b", map[string]string{wellknown.LabelTenant: "A"}), want: fwk.Queue},
		{name: "capsule tenant label changed", old: ns("b", nil), new: ns("b", map[string]string{"projectcapsule.dev/tenant": "A"}), want: fwk.Queue},
		{name: "exclusive removed", old: ns("ex", map[string]string{wellknown.LabelNodeSharing: "exclusive"}), new: ns("ex", nil), want: fwk.Queue},
		{name: "sandbox policy changed", old: ns("a1", map[string]string{wellknown.LabelSandboxPolicy: "required"}), new: ns("a1", nil), want: fwk.Queue},
		{name: "became infrastructure", old: ns("b", nil), new: ns("b", map[string]string{wellknown.LabelInfrastructure: "true"}), want: fwk.Queue},
		{name: "unrelated label", old: ns("b", nil), new: ns("b", map[string]string{"team": "x"}), want: fwk.QueueSkip},
	}
	for _, tc := range tests {
		for _, form := range []string{"typed", "unstructured"} {
			t.Run(tc.name+"/"+form, func(t *testing.T) {
				logger, ctx := ktesting.NewTestContext(t)
				pl, _ := setup(ctx, t, defaultArgs(t), nil, nil)
				var old, newObj interface{} = nil, tc.new
				if tc.old != nil {
					old = tc.old
				}
				if form == "unstructured" {
					newObj = unstructuredOf(t, tc.new)
					if tc.old != nil {
						old = unstructuredOf(t, tc.old)
					}
				}
				got, err := pl.isSchedulableAfterNamespaceChange(logger, waiting, old, newObj)
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Errorf("hint = %v, want %v", got, tc.want)
				}
			})
		}
	}
}

func TestIsSchedulableAfterRuntimeClassChange(t *testing.T) {
	waiting := pod("a1", "p", "kata-new", "")
	tests := []struct {
		name string
		old  interface{}
		new  interface{}
		want fwk.QueueingHint
	}{
		{name: "the pod's runtime class added", new: rc("kata-new", "kata-qemu", nil), want: fwk.Queue},
		{name: "another shared-kernel runtime class added", new: rc("other", "runc", nil), want: fwk.QueueSkip},
		{name: "another sandboxed runtime class (re-)created: its running pods stop counting as shared-kernel", new: rc("other", "kata-qemu", nil), want: fwk.Queue},
		{name: "sandboxed label changed", old: rc("x", "custom", nil), new: rc("x", "custom", map[string]string{wellknown.LabelSandboxed: "true"}), want: fwk.Queue},
		{name: "unrelated label changed", old: rc("x", "custom", nil), new: rc("x", "custom", map[string]string{"a": "b"}), want: fwk.QueueSkip},
		{name: "wrong type", new: safeNode("n"), want: fwk.Queue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			pl, _ := setup(ctx, t, defaultArgs(t), nil, nil)
			newObj := tc.new
			if o, ok := tc.new.(runtime.Object); ok && tc.name != "wrong type" {
				newObj = unstructuredOf(t, o)
			}
			got, err := pl.isSchedulableAfterRuntimeClassChange(logger, waiting, tc.old, newObj)
			if (err != nil) != (tc.name == "wrong type") {
				t.Fatalf("error = %v", err)
			}
			if got != tc.want {
				t.Errorf("hint = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestActivationHandlers checks that pending pods are activated once the
// typed listers have seen a Namespace or RuntimeClass change.
func TestActivationHandlers(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	objs := append(fixtures(),
		pod("a1", "pending", "", ""),
		pod("b", "pending-vm", "kata-new", ""),
		pod("c", "bound", "", "n1"),
	)
	rec := &plugintest.Activations{}
	_, client := setupWithClient(ctx, t, rec, objs)
	rec.Take() // the initial list adds namespaces and runtime classes

	waitFor := func(step string, want []string) {
		t.Helper()
		var got []string
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
			got = append(got, rec.Take()...)
			slices.Sort(got)
			return cmp.Equal(want, got), nil
		})
		if err != nil {
			t.Errorf("%s: activated pods (-want,+got):\n%s", step, cmp.Diff(want, got))
		}
	}
	nsUpdate := func(name string, labels map[string]string) {
		ns, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ns.Labels = labels
		if _, err := client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	nsUpdate("c", map[string]string{"team": "x"})
	nsUpdate("c", map[string]string{"team": "x", wellknown.LabelTenant: "A"})
	waitFor("tenant label of namespace c changed", []string{"a1/pending", "b/pending-vm"})

	if _, err := client.NodeV1().RuntimeClasses().Create(ctx, rc("kata-new", "kata-qemu", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("runtime class kata-new created", []string{"b/pending-vm"})

	if _, err := client.CoreV1().Namespaces().Create(ctx, ns("d", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := rec.Take(); len(got) != 0 {
		t.Errorf("namespace d without pods created: activated %v, want none", got)
	}
}

// setupWithClient returns the plugin and the fake client its informers
// watch, so that a test can change Namespaces and RuntimeClasses.
func setupWithClient(ctx context.Context, t *testing.T, activator fwk.PodActivator, objs []runtime.Object) (*TenantIsolation, *fake.Clientset) {
	t.Helper()
	pl, client, _ := setupWithInformers(ctx, t, activator, objs)
	return pl, client
}

// setupWithInformers is setupWithClient that also returns the informer
// factory, so that a test can reach the informers' stores.
func setupWithInformers(ctx context.Context, t *testing.T, activator fwk.PodActivator, objs []runtime.Object) (*TenantIsolation, *fake.Clientset, informers.SharedInformerFactory) {
	t.Helper()
	client := fake.NewClientset(objs...)
	informerFactory := informers.NewSharedInformerFactory(client, 0)
	fh, err := frameworkruntime.NewFramework(ctx, nil, nil,
		frameworkruntime.WithSnapshotSharedLister(schedcache.NewSnapshot(nil, nil)),
		frameworkruntime.WithInformerFactory(informerFactory),
		frameworkruntime.WithPodActivator(activator))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := New(ctx, defaultArgs(t), fh)
	if err != nil {
		t.Fatal(err)
	}
	informerFactory.Start(ctx.Done())
	informerFactory.WaitForCacheSync(ctx.Done())
	return pl.(*TenantIsolation), client, informerFactory
}

// TestEpochOnlyForClassificationChanges: a Namespace or RuntimeClass update
// that changes nothing classification reads (an annotation, another label)
// keeps every cached node summary; a tenancy label change invalidates them.
func TestEpochOnlyForClassificationChanges(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl, client := setupWithClient(ctx, t, &plugintest.Activations{}, fixtures())
	// Every Namespace and RuntimeClass of the initial list is an Add.
	if err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return pl.views.Invalidations() == uint64(len(fixtures())), nil
	}); err != nil {
		t.Fatalf("initial list: %d invalidations, want %d", pl.views.Invalidations(), len(fixtures()))
	}
	epoch := pl.views.Invalidations()

	ns, err := client.CoreV1().Namespaces().Get(ctx, "b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Annotations = map[string]string{"owner": "team-b"}
	ns.Labels["team"] = "b"
	if _, err := client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, err := client.NodeV1().RuntimeClasses().Get(ctx, "kata", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc.Annotations = map[string]string{"note": "x"}
	if _, err := client.NodeV1().RuntimeClasses().Update(ctx, rc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A relevant change after them: informers deliver in order, so once
	// it is seen, the irrelevant ones were seen too.
	ns2, err := client.CoreV1().Namespaces().Get(ctx, "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns2.Labels = map[string]string{wellknown.LabelTenant: "A"}
	if _, err := client.CoreV1().Namespaces().Update(ctx, ns2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return pl.views.Invalidations() != epoch, nil
	}); err != nil {
		t.Fatal("tenant label change not seen by the plugin")
	}
	if got := pl.views.Invalidations(); got != epoch+1 {
		t.Errorf("views invalidated %d times after an annotation/label-only Namespace update, a RuntimeClass annotation and a tenant label change; want 1 (only the tenant label change)", got-epoch)
	}
}
