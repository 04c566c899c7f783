package audit

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

var testOpts = IsolationOptions{Tenancy: tenancy.Config{
	TenantLabelKeys:          []string{wellknown.LabelTenant, "capsule.clastix.io/tenant"},
	InfrastructureNamespaces: []string{"kube-system"},
	SandboxedHandlers:        []string{"kata*"},
	OffNodeHandlers:          []string{"kata-remote*"},
}}

func ns(name string, labels map[string]string) *v1.Namespace {
	return &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func baseSnapshot() Snapshot {
	return Snapshot{
		Nodes: []*v1.Node{
			st.MakeNode().Name("n1").Label(wellknown.LabelCotenancySafe, wellknown.ValueTrue).Obj(),
			st.MakeNode().Name("unsafe").Label(wellknown.LabelCotenancySafe, "false").Obj(),
		},
		Namespaces: []*v1.Namespace{
			ns("a1", map[string]string{wellknown.LabelTenant: "A"}),
			ns("a2", map[string]string{"capsule.clastix.io/tenant": "A"}),
			ns("b", nil),
			ns("ex", map[string]string{wellknown.LabelNodeSharing: wellknown.NodeSharingExclusive}),
			ns("req", map[string]string{wellknown.LabelSandboxPolicy: wellknown.SandboxRequired}),
			ns("kube-system", nil),
			ns("mon", map[string]string{wellknown.LabelInfrastructure: "true"}),
		},
		RuntimeClasses: []*nodev1.RuntimeClass{
			{ObjectMeta: metav1.ObjectMeta{Name: "kata"}, Handler: "kata-qemu"},
			{ObjectMeta: metav1.ObjectMeta{Name: "runc"}, Handler: "runc"},
			{ObjectMeta: metav1.ObjectMeta{Name: "vm", Labels: map[string]string{wellknown.LabelSandboxed: "true"}}, Handler: "custom"},
		},
	}
}

func pod(namespace, name, runtimeClass, node string) *v1.Pod {
	p := st.MakePod().Namespace(namespace).Name(name).Node(node).Obj()
	if runtimeClass != "" {
		p.Spec.RuntimeClassName = &runtimeClass
	}
	return p
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name        string
		pods        []*v1.Pod
		ignoreSC    bool
		want        []Violation
		wantSummary []string // rule/node/pods when want is nil but rules matter
	}{
		{name: "one tenant's shared-kernel pods from two namespaces",
			pods: []*v1.Pod{pod("a1", "p", "", "n1"), pod("a2", "q", "runc", "n1")}},
		{name: "VMs of two tenants",
			pods: []*v1.Pod{pod("a1", "p", "kata", "n1"), pod("b", "q", "vm", "n1")}},
		{name: "I1: shared-kernel pod beside another tenant's VM",
			pods: []*v1.Pod{pod("a1", "p", "", "n1"), pod("b", "q", "kata", "n1")},
			want: []Violation{{Rule: RuleI1, Node: "n1", Tenants: []string{"A", "namespace/b"}, Pods: []string{"a1/p"},
				Message: "node n1 runs shared-kernel pods (a1/p) alongside pods of other tenants (tenants: A, namespace/b)"}}},
		{name: "I1: a pod whose runtime class is gone counts as shared-kernel",
			pods: []*v1.Pod{pod("a1", "p", "deleted", "n1"), pod("b", "q", "kata", "n1")},
			want: []Violation{{Rule: RuleI1, Node: "n1", Tenants: []string{"A", "namespace/b"}, Pods: []string{"a1/p"},
				Message: "node n1 runs shared-kernel pods (a1/p) alongside pods of other tenants (tenants: A, namespace/b)"}}},
		{name: "I2: exclusive tenant beside another tenant",
			pods: []*v1.Pod{pod("ex", "p", "kata", "n1"), pod("b", "q", "kata", "n1")},
			want: []Violation{{Rule: RuleI2, Node: "n1", Tenants: []string{"namespace/b", "namespace/ex"}, Pods: []string{"ex/p"},
				Message: "node n1 runs pods of an exclusive tenant (ex/p) alongside pods of other tenants (tenants: namespace/b, namespace/ex)"}}},
		{name: "I3: unsandboxed pod of a sandbox=required namespace",
			pods: []*v1.Pod{pod("req", "p", "runc", "n1"), pod("req", "vm", "kata", "n1")},
			want: []Violation{{Rule: RuleI3, Node: "n1", Tenants: []string{"namespace/req"}, Pods: []string{"req/p"},
				Message: "pod req/p of tenant namespace/req runs without a sandbox but its namespace requires one"}}},
		{name: "I4: two tenants on a cotenancy-unsafe node",
			pods: []*v1.Pod{pod("a1", "p", "kata", "unsafe"), pod("b", "q", "kata", "unsafe")},
			want: []Violation{{Rule: RuleI4, Node: "unsafe", Tenants: []string{"A", "namespace/b"}, Pods: []string{"a1/p", "b/q"},
				Message: "node unsafe is not labelled mtscn.io/cotenancy-safe=true but runs pods of tenants A, namespace/b"}}},
		{name: "I4 ignored", ignoreSC: true,
			pods: []*v1.Pod{pod("a1", "p", "kata", "unsafe"), pod("b", "q", "kata", "unsafe")}},
		{name: "infrastructure, terminal and pending pods do not count",
			pods: []*v1.Pod{
				pod("a1", "p", "", "unsafe"),
				pod("kube-system", "ds", "", "unsafe"),
				pod("mon", "agent", "", "unsafe"),
				st.MakePod().Namespace("b").Name("done").Node("unsafe").Phase(v1.PodSucceeded).Obj(),
				pod("b", "pending", "", ""),
			}},
		{name: "several rules on one node",
			pods:        []*v1.Pod{pod("ex", "p", "", "unsafe"), pod("b", "q", "kata", "unsafe")},
			wantSummary: []string{"I1/unsafe/[ex/p]", "I2/unsafe/[ex/p]", "I4/unsafe/[b/q ex/p]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snap := baseSnapshot()
			snap.Pods = tc.pods
			opts := testOpts
			opts.IgnoreSideChannel = tc.ignoreSC
			got := Check(snap, opts)
			if tc.wantSummary != nil {
				var summary []string
				for _, v := range got {
					summary = append(summary, string(v.Rule)+"/"+v.Node+"/"+cmpString(v.Pods))
				}
				if diff := cmp.Diff(tc.wantSummary, summary); diff != "" {
					t.Errorf("violations (-want,+got):\n%s", diff)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("violations (-want,+got):\n%s", diff)
			}
		})
	}
}

func cmpString(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}

func TestLegalNodes(t *testing.T) {
	snap := baseSnapshot()
	snap.Nodes = append(snap.Nodes, st.MakeNode().Name("empty").Obj())
	snap.Pods = []*v1.Pod{
		pod("b", "vm", "kata", "n1"),
		pod("a1", "vm", "kata", "unsafe"),
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want []string
	}{
		{"VM of tenant A", pod("a2", "new", "kata", ""), []string{"empty", "n1", "unsafe"}},
		{"VM of tenant b", pod("b", "new", "kata", ""), []string{"empty", "n1"}},
		{"shared-kernel pod of tenant A", pod("a1", "new", "", ""), []string{"empty", "unsafe"}},
		{"exclusive tenant", pod("ex", "new", "kata", ""), []string{"empty"}},
		{"sandbox required, runc", pod("req", "new", "runc", ""), nil},
		{"unknown runtime class", pod("a1", "new", "nope", ""), nil},
		{"unknown namespace", pod("ghost", "new", "", ""), nil},
		{"infrastructure", pod("kube-system", "new", "", ""), []string{"empty", "n1", "unsafe"}},
		{"a pending pod already listed is not counted twice", snap.Pods[0], []string{"empty", "n1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, LegalNodes(snap, testOpts, tc.pod)); diff != "" {
				t.Errorf("legal nodes (-want,+got):\n%s", diff)
			}
		})
	}
}
