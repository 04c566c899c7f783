package manifests

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/test/integration/harness"
)

// shippedIsolation decodes the shipped scheduler configuration as the
// scheduler does and returns its TenantIsolation classification.
func shippedIsolation(t *testing.T) audit.IsolationOptions {
	t.Helper()
	p, err := audit.LoadPolicy(harness.ShippedConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	return p.Isolation
}

// celStringList reads a CEL list literal of single-quoted strings, the
// form the policies use for lists they must keep in step with the
// scheduler configuration.
func celStringList(t *testing.T, expr string) []string {
	t.Helper()
	if !regexp.MustCompile(`^\[\s*('[^']*'\s*,\s*)*'[^']*'\s*\]$`).MatchString(expr) {
		t.Fatalf("%q is not a CEL list of string literals", expr)
	}
	var out []string
	for _, m := range regexp.MustCompile(`'([^']*)'`).FindAllStringSubmatch(expr, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestPoliciesMatchSchedulerConfig: the lists the admission policies
// spell out are the ones the scheduler decodes from its shipped
// configuration (issue 15 items 7 and 8): the protected tenant label keys
// are its tenantLabelKeys, and the namespaces where spec.nodeName is
// allowed are its infrastructureNamespaces.
func TestPoliciesMatchSchedulerConfig(t *testing.T) {
	iso := shippedIsolation(t)
	objs := render(t, manifestsDir())

	vap := find(objs, "ValidatingAdmissionPolicy", "", "mtscn-namespace-labels")
	if vap == nil {
		t.Fatal("no ValidatingAdmissionPolicy mtscn-namespace-labels")
	}
	var keys []string
	for _, v := range convert[admissionv1.ValidatingAdmissionPolicy](t, vap).Spec.Variables {
		if v.Name == "tenantLabelKeys" {
			keys = celStringList(t, v.Expression)
		}
	}
	if diff := cmp.Diff(iso.Tenancy.TenantLabelKeys, keys); diff != "" {
		t.Errorf("mtscn-namespace-labels protects tenant label keys (-scheduler's tenantLabelKeys,+policy's):\n%s", diff)
	}

	binding := find(objs, "ValidatingAdmissionPolicyBinding", "", "mtscn-pod-node-name")
	if binding == nil {
		t.Fatal("no ValidatingAdmissionPolicyBinding mtscn-pod-node-name")
	}
	var exempt []string
	sel := convert[admissionv1.ValidatingAdmissionPolicyBinding](t, binding).Spec.MatchResources.NamespaceSelector
	for _, e := range sel.MatchExpressions {
		if e.Key == "kubernetes.io/metadata.name" && e.Operator == metav1.LabelSelectorOpNotIn {
			exempt = e.Values
		}
	}
	if diff := cmp.Diff(iso.Tenancy.InfrastructureNamespaces, exempt); diff != "" {
		t.Errorf("mtscn-pod-node-name exempts namespaces (-scheduler's infrastructureNamespaces,+binding's):\n%s", diff)
	}
}

// TestTenantCannotChangeAnyTenantLabel: for every tenant label key the
// scheduler trusts (decoded from the shipped configuration), a tenant who
// may edit its namespace can neither add, change nor remove it, nor create
// a namespace carrying it; a holder of mtscn-namespace-policy-admin can.
func TestTenantCannotChangeAnyTenantLabel(t *testing.T) {
	cp := installDefault(t)
	keys := shippedIsolation(t).Tenancy.TenantLabelKeys
	rbac := cp.Client.RbacV1()
	if _, err := rbac.ClusterRoles().Create(cp.Ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "namespace-editor"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "create", "update", "patch"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, b := range [][2]string{{"dana", "namespace-editor"}, {"erin", "namespace-editor"}, {"erin", "mtscn-namespace-policy-admin"}} {
		if _, err := rbac.ClusterRoleBindings().Create(cp.Ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: b[0] + "-" + b[1]},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: b[1]},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: b[0]}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, dana := as(t, cp, rest.ImpersonationConfig{UserName: "dana"})
	_, erin := as(t, cp, rest.ImpersonationConfig{UserName: "erin"})
	setLabel := func(c kubernetes.Interface, ns, key string, value any, opts metav1.PatchOptions) error {
		_, err := c.CoreV1().Namespaces().Patch(cp.Ctx, ns, types.MergePatchType,
			mergePatch(t, map[string]any{"metadata": map[string]any{"labels": map[string]any{key: value}}}), opts)
		return err
	}
	cp.CreateNamespace(t, "probe-labels", nil)
	waitForDenial(t, cp.Ctx, "mtscn-namespace-labels", func(context.Context) error {
		return setLabel(dana, "probe-labels", keys[0], "x", dryRun)
	})

	for i, key := range keys {
		t.Run(key, func(t *testing.T) {
			ns := fmt.Sprintf("labelled-%d", i)
			cp.CreateNamespace(t, ns, map[string]string{key: "blue"})
			needs := func(ns string) string { return "changing the " + key + " label(s) of namespace " + ns }
			checkErr(t, setLabel(dana, ns, key, "red", metav1.PatchOptions{}), needs(ns))
			checkErr(t, setLabel(dana, ns, key, nil, metav1.PatchOptions{}), needs(ns))
			checkErr(t, setLabel(dana, "probe-labels", key, "blue", metav1.PatchOptions{}), needs("probe-labels"))
			_, err := dana.CoreV1().Namespaces().Create(cp.Ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("claimed-%d", i), Labels: map[string]string{key: "blue"}}}, metav1.CreateOptions{})
			checkErr(t, err, needs(fmt.Sprintf("claimed-%d", i)))
			// The policy admin may.
			checkErr(t, setLabel(erin, ns, key, "red", metav1.PatchOptions{}), "")
		})
	}
}

// TestPodNodeNamePolicy checks mtscn-pod-node-name by impersonation: a
// tenant cannot create a pod with spec.nodeName preset (which would skip
// TenantIsolation), not even by claiming a DaemonSet owner; infrastructure
// namespaces and the DaemonSet controller can.
func TestPodNodeNamePolicy(t *testing.T) {
	cp := installDefault(t)
	cp.CreateNamespace(t, "tenant-a", map[string]string{"mtscn.io/tenant": "a"})
	cp.CreateNamespace(t, "unlabelled", nil)
	cp.CreateNamespace(t, "monitoring", map[string]string{"mtscn.io/infrastructure": "true"})
	rbac := cp.Client.RbacV1()
	if _, err := rbac.ClusterRoles().Create(cp.Ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-creator"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const dsController = "system:serviceaccount:kube-system:daemon-set-controller"
	if _, err := rbac.ClusterRoleBindings().Create(cp.Ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-creators"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "pod-creator"},
		Subjects: []rbacv1.Subject{
			{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "tina"},
			{Kind: rbacv1.ServiceAccountKind, Namespace: "kube-system", Name: "daemon-set-controller"},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, tina := as(t, cp, rest.ImpersonationConfig{UserName: "tina", Groups: []string{"system:authenticated"}})
	_, ds := as(t, cp, serviceAccount(dsController, nil))

	pod := func(ns, name, node string, dsOwned bool) *v1.Pod {
		p := st.MakePod().Namespace(ns).Name(name).Container("registry.k8s.io/pause:3.10").Obj()
		p.Spec.NodeName = node
		if dsOwned {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "0d2c5b1e-5c35-4b8c-9b53-8f2b6f0f0a11", Controller: ptr.To(true)}}
		}
		return p
	}
	create := func(c kubernetes.Interface, p *v1.Pod, opts metav1.CreateOptions) error {
		_, err := c.CoreV1().Pods(p.Namespace).Create(cp.Ctx, p, opts)
		return err
	}
	waitForDenial(t, cp.Ctx, "mtscn-pod-node-name", func(context.Context) error {
		return create(tina, pod("tenant-a", "probe", "n1", false), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	})
	bypass := func(ns, name string) string {
		return "pod " + ns + "/" + name + " sets spec.nodeName (n1), which bypasses the scheduler and its tenant isolation: remove spec.nodeName and pick nodes with a nodeSelector or node affinity"
	}
	tests := []struct {
		name    string
		client  kubernetes.Interface
		pod     *v1.Pod
		wantErr string
	}{
		{"tenant presets nodeName", tina, pod("tenant-a", "direct", "n1", false), bypass("tenant-a", "direct")},
		{"unlabelled namespace (its own tenant) presets nodeName", tina, pod("unlabelled", "direct", "n1", false), bypass("unlabelled", "direct")},
		{"tenant forges a DaemonSet owner", tina, pod("tenant-a", "forged", "n1", true), bypass("tenant-a", "forged")},
		{"admin presets nodeName in a tenant namespace", cp.Client, pod("tenant-a", "admin", "n1", false), bypass("tenant-a", "admin")},
		{"tenant leaves placement to the scheduler", tina, pod("tenant-a", "scheduled", "", false), ""},
		{"DaemonSet controller creates its pod", ds, pod("tenant-a", "agent-n1", "n1", true), ""},
		{"DaemonSet controller without a DaemonSet owner", ds, pod("tenant-a", "stray", "n1", false), bypass("tenant-a", "stray")},
		{"kube-system", cp.Client, pod("kube-system", "static", "n1", false), ""},
		{"namespace labelled infrastructure", tina, pod("monitoring", "exporter", "n1", false), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, create(tc.client, tc.pod, metav1.CreateOptions{}), tc.wantErr)
		})
	}
}
