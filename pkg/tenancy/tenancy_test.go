package tenancy

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	nodelisters "k8s.io/client-go/listers/node/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

func testClassifier() *Classifier {
	cfg := Config{
		TenantLabelKeys:          []string{wellknown.LabelTenant, "capsule.clastix.io/tenant", "projectcapsule.dev/tenant"},
		InfrastructureNamespaces: []string{"kube-system", "mtscn-system"},
		SandboxedHandlers:        []string{"kata*", "runsc*"},
		OffNodeHandlers:          []string{"kata-remote*"},
	}
	ns := func(name string, labels map[string]string) *v1.Namespace {
		return &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	rc := func(name, handler string, labels map[string]string) *nodev1.RuntimeClass {
		return &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Handler: handler}
	}
	return NewStatic(cfg,
		[]*v1.Namespace{
			ns("plain", nil),
			ns("both", map[string]string{"capsule.clastix.io/tenant": "capsule", wellknown.LabelTenant: "mtscn"}),
			ns("capsule-new", map[string]string{"projectcapsule.dev/tenant": "acme"}),
			ns("empty-key", map[string]string{wellknown.LabelTenant: "", "capsule.clastix.io/tenant": "fallback"}),
			ns("strict", map[string]string{wellknown.LabelTenant: "s", wellknown.LabelNodeSharing: wellknown.NodeSharingExclusive, wellknown.LabelSandboxPolicy: wellknown.SandboxRequired}),
			ns("loose", map[string]string{wellknown.LabelNodeSharing: "bogus", wellknown.LabelSandboxPolicy: wellknown.SandboxOptional}),
			ns("kube-system", nil),
			ns("monitoring", map[string]string{wellknown.LabelInfrastructure: "true"}),
			ns("not-infra", map[string]string{wellknown.LabelInfrastructure: "yes"}),
		},
		[]*nodev1.RuntimeClass{
			rc("kata", "kata-qemu", nil),
			rc("gvisor", "runsc", nil),
			rc("runc", "runc", nil),
			rc("remote", "kata-remote", nil),
			rc("vm", "custom", map[string]string{wellknown.LabelSandboxed: "true"}),
			rc("kata-debug", "kata-qemu", map[string]string{wellknown.LabelSandboxed: "false"}),
		})
}

func TestNamespace(t *testing.T) {
	c := testClassifier()
	tests := []struct {
		ns      string
		want    NamespacePolicy
		wantErr error
	}{
		{ns: "plain", want: NamespacePolicy{Tenant: "namespace/plain"}},
		{ns: "both", want: NamespacePolicy{Tenant: "mtscn"}},
		{ns: "capsule-new", want: NamespacePolicy{Tenant: "acme"}},
		{ns: "empty-key", want: NamespacePolicy{Tenant: "fallback"}},
		{ns: "strict", want: NamespacePolicy{Tenant: "s", Exclusive: true, SandboxRequired: true}},
		{ns: "loose", want: NamespacePolicy{Tenant: "namespace/loose"}},
		{ns: "kube-system", want: NamespacePolicy{Tenant: "namespace/kube-system", Infrastructure: true}},
		{ns: "mtscn-system", want: NamespacePolicy{Tenant: "namespace/mtscn-system", Infrastructure: true}},
		{ns: "monitoring", want: NamespacePolicy{Tenant: "namespace/monitoring", Infrastructure: true}},
		{ns: "not-infra", want: NamespacePolicy{Tenant: "namespace/not-infra"}},
		{ns: "ghost", wantErr: ErrNamespaceNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.ns, func(t *testing.T) {
			got, err := c.Namespace(tc.ns)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("policy (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestRuntime(t *testing.T) {
	c := testClassifier()
	tests := []struct {
		name    string
		rc      *string
		want    Runtime
		wantErr error
	}{
		{name: "no runtime class", want: Runtime{}},
		{name: "empty runtime class", rc: ptr.To(""), want: Runtime{}},
		{name: "kata glob", rc: ptr.To("kata"), want: Runtime{RuntimeClassName: "kata", Handler: "kata-qemu", Sandboxed: true}},
		{name: "runsc glob", rc: ptr.To("gvisor"), want: Runtime{RuntimeClassName: "gvisor", Handler: "runsc", Sandboxed: true}},
		{name: "runc", rc: ptr.To("runc"), want: Runtime{RuntimeClassName: "runc", Handler: "runc"}},
		{name: "peer pods", rc: ptr.To("remote"), want: Runtime{RuntimeClassName: "remote", Handler: "kata-remote", Sandboxed: true, OffNode: true}},
		{name: "label true beats handler", rc: ptr.To("vm"), want: Runtime{RuntimeClassName: "vm", Handler: "custom", Sandboxed: true}},
		{name: "label false beats handler", rc: ptr.To("kata-debug"), want: Runtime{RuntimeClassName: "kata-debug", Handler: "kata-qemu"}},
		{name: "missing", rc: ptr.To("nope"), want: Runtime{RuntimeClassName: "nope"}, wantErr: ErrRuntimeClassNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Runtime(tc.rc)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("runtime (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	c := testClassifier()
	pod := func(ns string, rc *string) *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p", Labels: map[string]string{wellknown.LabelTenant: "spoofed"}}, Spec: v1.PodSpec{RuntimeClassName: rc}}
	}
	tests := []struct {
		name             string
		pod              *v1.Pod
		wantTenant       string
		wantSharedKernel bool
		wantErr          error
	}{
		{name: "pod labels never name the tenant", pod: pod("both", nil), wantTenant: "mtscn", wantSharedKernel: true},
		{name: "sandboxed pod", pod: pod("plain", ptr.To("kata")), wantTenant: "namespace/plain"},
		{name: "infrastructure pod is not shared-kernel", pod: pod("kube-system", nil), wantTenant: "namespace/kube-system"},
		{name: "missing namespace", pod: pod("ghost", nil), wantErr: ErrNamespaceNotFound},
		{name: "missing runtime class", pod: pod("plain", ptr.To("nope")), wantTenant: "namespace/plain", wantErr: ErrRuntimeClassNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Classify(tc.pod)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if got.Tenant != tc.wantTenant {
				t.Errorf("tenant = %q, want %q", got.Tenant, tc.wantTenant)
			}
			if err == nil && got.SharedKernel() != tc.wantSharedKernel {
				t.Errorf("SharedKernel() = %v, want %v", got.SharedKernel(), tc.wantSharedKernel)
			}
		})
	}
}

func TestIsTerminal(t *testing.T) {
	for phase, want := range map[v1.PodPhase]bool{
		v1.PodPending: false, v1.PodRunning: false, v1.PodUnknown: false, v1.PodSucceeded: true, v1.PodFailed: true,
	} {
		if got := IsTerminal(&v1.Pod{Status: v1.PodStatus{Phase: phase}}); got != want {
			t.Errorf("IsTerminal(%s) = %v, want %v", phase, got, want)
		}
	}
}

// TestUnlabelledNamespaceIsItsOwnTenant: a namespace without tenant labels
// is its own tenant in a space no label value can name, so an unlabelled
// namespace "acme" cannot borrow the identity of tenant "acme" (or lend its
// own) by a label.
func TestUnlabelledNamespaceIsItsOwnTenant(t *testing.T) {
	cfg := Config{TenantLabelKeys: []string{wellknown.LabelTenant, wellknown.LabelCapsuleTenant}}
	c := NewStatic(cfg, []*v1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "acme"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "intruder", Labels: map[string]string{wellknown.LabelTenant: "acme"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "capsule", Labels: map[string]string{wellknown.LabelCapsuleTenant: "acme"}}},
	}, nil)
	plain, _ := c.Namespace("acme")
	labelled, _ := c.Namespace("intruder")
	capsule, _ := c.Namespace("capsule")
	if plain.Tenant == labelled.Tenant {
		t.Errorf("unlabelled namespace acme and a namespace labelled %s=acme are both tenant %q, want two tenants", wellknown.LabelTenant, plain.Tenant)
	}
	if labelled.Tenant != capsule.Tenant {
		t.Errorf("tenant labels naming acme give %q and %q, want one tenant", labelled.Tenant, capsule.Tenant)
	}
	if gone := c.BoundNamespace("acme-deleted"); gone.Tenant == "acme-deleted" || gone.Tenant == plain.Tenant {
		t.Errorf("a deleted namespace's pods are tenant %q, want their own namespace tenant", gone.Tenant)
	}
}

// TestClassifyBound: pods already on nodes are classified even when their
// Namespace or RuntimeClass is gone, and a RuntimeClass the classifier saw
// keeps its classification after deletion (a running VM stays a VM).
func TestClassifyBound(t *testing.T) {
	cfg := Config{SandboxedHandlers: []string{"kata*"}, OffNodeHandlers: []string{"kata-remote*"}}
	kata := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "vm"}, Handler: "kata-clh"}
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	_ = idx.Add(kata)
	c := New(cfg, corelisters.NewNamespaceLister(cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})), nodelisters.NewRuntimeClassLister(idx))
	pod := func(ns, rc string) *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"}, Spec: v1.PodSpec{RuntimeClassName: &rc}}
	}
	if got := c.ClassifyBound(pod("ns", "vm")); got.Handler != "kata-clh" || !got.Sandboxed || got.SharedKernel() {
		t.Fatalf("running VM: %+v, want sandboxed kata-clh", got)
	}
	_ = idx.Delete(kata)
	if got := c.ClassifyBound(pod("ns", "vm")); got.Handler != "kata-clh" || !got.Sandboxed || got.Missing || got.SharedKernel() {
		t.Errorf("running VM after its RuntimeClass was deleted: %+v, want the classification seen before", got)
	}
	got := c.ClassifyBound(pod("gone-ns", "kata-qemu"))
	if got.Tenant != NamespaceTenant("gone-ns") || got.Handler != "kata-qemu" || !got.Sandboxed || !got.Missing || !got.SharedKernel() {
		t.Errorf("pod of a never-seen RuntimeClass and a missing Namespace: %+v, want its namespace's tenant, sized as kata-qemu, shared-kernel for isolation", got)
	}
}

// TestSnapshot: a snapshot classifies from its own copy of the objects and
// shares the memory of RuntimeClasses with the classifier it was taken
// from; a lookup through an older snapshot does not overwrite what a newer
// one remembered.
func TestSnapshot(t *testing.T) {
	cfg := Config{TenantLabelKeys: []string{wellknown.LabelTenant}, SandboxedHandlers: []string{"kata*"}}
	base := New(cfg, nil, nil)
	rc := func(sandboxed string) *nodev1.RuntimeClass {
		return &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "vm", Labels: map[string]string{wellknown.LabelSandboxed: sandboxed}}, Handler: "custom"}
	}
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{wellknown.LabelTenant: "X"}}}
	older := base.Snapshot([]*v1.Namespace{ns}, []*nodev1.RuntimeClass{rc("false")})
	newer := base.Snapshot(nil, []*nodev1.RuntimeClass{rc("true")})
	if p, err := older.Namespace("b"); err != nil || p.Tenant != "X" {
		t.Errorf("older snapshot: namespace b = %+v, %v; want tenant X", p, err)
	}
	if _, err := newer.Namespace("b"); !errors.Is(err, ErrNamespaceNotFound) {
		t.Errorf("newer snapshot: namespace b: %v, want ErrNamespaceNotFound", err)
	}
	name := "vm"
	if rt, err := older.Runtime(&name); err != nil || rt.Sandboxed {
		t.Errorf("older snapshot: %+v, %v; want not sandboxed", rt, err)
	}
	gone := base.Snapshot(nil, nil)
	if rt := gone.BoundRuntime(&name); !rt.Sandboxed || rt.Missing {
		t.Errorf("after deletion: %+v, want the newest snapshot's classification (sandboxed)", rt)
	}
}
