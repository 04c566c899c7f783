package manifests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/test/integration/harness"
)

const (
	schedulerSA    = "system:serviceaccount:mtscn-system:mtscn-scheduler"
	nodeAgentSA    = "system:serviceaccount:mtscn-system:mtscn-node"
	nodeNameExtra  = "authentication.kubernetes.io/node-name"
	startupTaint   = "mtscn.io/sandbox-not-ready"
	kataRuntimeKey = "katacontainers.io/kata-runtime"
)

// dryRun patches run admission without persisting: probing whether a
// policy is in force must not change the object when it is not yet.
var dryRun = metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}

// installDefault starts a control plane with NFD's CRDs and the default
// install (manifests/) applied for real.
func installDefault(t *testing.T) *harness.ControlPlane {
	t.Helper()
	cp := harness.StartFullControlPlane(t)
	cp.InstallCRDs(t, nfdCRDs(t))
	applier, err := NewApplier(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := applier.Apply(cp.Ctx, render(t, manifestsDir()), false); err != nil {
		t.Fatalf("default install (manifests/): %v", err)
	}
	return cp
}

// as returns a client config and clientset that impersonate user (the
// superuser loopback config may impersonate anyone, as an authenticating
// proxy would).
func as(t *testing.T, cp *harness.ControlPlane, user rest.ImpersonationConfig) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = user
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, client
}

func serviceAccount(user string, extra map[string][]string) rest.ImpersonationConfig {
	ns := strings.Split(user, ":")[2]
	return rest.ImpersonationConfig{
		UserName: user,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		Extra:    extra,
	}
}

// errText returns err's message, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// checkErr compares an API call's outcome with the wanted one: want ""
// means success; otherwise the call must fail with 403 Forbidden and a
// message containing want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("want success, got: %v", err)
	case want != "" && err == nil:
		t.Errorf("want a denial containing %q, got success", want)
	case want != "" && !apierrors.IsForbidden(err):
		t.Errorf("want 403 Forbidden containing %q, got: %v", want, err)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("denial message (-want substring,+got):\n-%s\n+%s", want, err.Error())
	}
}

// TestSchedulerServiceAccount runs the real scheduler (mtscn's plugins
// included, shipped configuration) as the mtscn-scheduler ServiceAccount
// and checks that the shipped RBAC lets it bind pods and read what its
// plugins need, its leader-election lease, and nothing secret.
func TestSchedulerServiceAccount(t *testing.T) {
	cp := installDefault(t)
	saConfig, sa := as(t, cp, serviceAccount(schedulerSA, nil))

	t.Run("schedules a pod with the shipped RBAC", func(t *testing.T) {
		cp.CreateNamespace(t, "plain", nil)
		cp.CreateNode(t, st.MakeNode().Name("node-1").Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "4", v1.ResourceMemory: "16Gi"}).Obj())
		// If the ServiceAccount misses a permission, informers never sync
		// and the pod is never bound: bound the wait.
		ctx, cancel := context.WithTimeout(cp.Ctx, 90*time.Second)
		defer cancel()
		asScheduler := &harness.ControlPlane{Client: sa, Config: saConfig, Ctx: ctx}
		asScheduler.StartScheduler(t)
		cp.CreatePod(t, st.MakePod().Name("p").Namespace("plain").Req(map[v1.ResourceName]string{v1.ResourceCPU: "100m"}).Obj())
		if got := cp.WaitForBound(t, "plain", "p", 60*time.Second); got != "node-1" {
			t.Errorf("pod bound to %q, want node-1", got)
		}
	})

	t.Run("reads what the plugins read", func(t *testing.T) {
		_, err := sa.CoreV1().Namespaces().List(cp.Ctx, metav1.ListOptions{})
		checkErr(t, err, "")
		_, err = sa.NodeV1().RuntimeClasses().List(cp.Ctx, metav1.ListOptions{})
		checkErr(t, err, "")
		// Delegated authentication of the secure port.
		_, err = sa.CoreV1().ConfigMaps("kube-system").Get(cp.Ctx, "extension-apiserver-authentication", metav1.GetOptions{})
		if apierrors.IsForbidden(err) {
			t.Errorf("reading kube-system/extension-apiserver-authentication: %v", err)
		}
	})

	t.Run("cannot read Secrets", func(t *testing.T) {
		_, err := sa.CoreV1().Secrets("").List(cp.Ctx, metav1.ListOptions{})
		checkErr(t, err, `cannot list resource "secrets"`)
		_, err = sa.CoreV1().Secrets("mtscn-system").Get(cp.Ctx, "anything", metav1.GetOptions{})
		checkErr(t, err, `cannot get resource "secrets"`)
		_, err = sa.CoreV1().ConfigMaps("kube-system").Get(cp.Ctx, "kubeadm-config", metav1.GetOptions{})
		checkErr(t, err, `cannot get resource "configmaps"`)
	})

	t.Run("leader election on its own lease only", func(t *testing.T) {
		le := harness.LoadConfig(t, harness.ShippedConfig()).LeaderElection
		if !le.LeaderElect {
			t.Fatal("the shipped configuration does not elect a leader; the Deployment runs 2 replicas")
		}
		leases := sa.CoordinationV1().Leases(le.ResourceNamespace)
		lease, err := leases.Create(cp.Ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: le.ResourceName},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("replica-1")},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating lease %s/%s: %v", le.ResourceNamespace, le.ResourceName, err)
		}
		lease.Spec.HolderIdentity = ptr.To("replica-2")
		_, err = leases.Update(cp.Ctx, lease, metav1.UpdateOptions{})
		checkErr(t, err, "")
		other, err := cp.Client.CoordinationV1().Leases(le.ResourceNamespace).Create(cp.Ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "someone-else"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		other.Spec.HolderIdentity = ptr.To("mtscn-scheduler")
		_, err = leases.Update(cp.Ctx, other, metav1.UpdateOptions{})
		checkErr(t, err, `cannot update resource "leases"`)
	})
}

func mergePatch(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSandboxRequiredPolicy checks mtscn-sandbox-required: in a namespace
// labelled mtscn.io/sandbox=required a pod must name a sandboxed
// RuntimeClass and mtscn-scheduler; elsewhere nothing changes.
func TestSandboxRequiredPolicy(t *testing.T) {
	cp := installDefault(t)
	cp.CreateNamespace(t, "tenant-x", map[string]string{"mtscn.io/tenant": "x", "mtscn.io/sandbox": "required"})
	cp.CreateNamespace(t, "free", map[string]string{"mtscn.io/tenant": "y"})
	cp.CreateRuntimeClass(t, "runc", "runc", nil, nil)
	waitForSandboxPolicy(t, cp)

	params, err := cp.Client.CoreV1().ConfigMaps("mtscn-system").Get(cp.Ctx, "mtscn-sandbox-policy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	oneOf := strings.ReplaceAll(params.Data["sandboxedRuntimeClasses"], ",", ", ")
	runtimeMsg := "namespace tenant-x requires a sandboxed runtime (label mtscn.io/sandbox=required): set spec.runtimeClassName to one of " + oneOf

	tests := []struct {
		name, namespace, runtimeClass, scheduler string
		wantErr                                  string
	}{
		{name: "no runtime class", namespace: "tenant-x", scheduler: "mtscn-scheduler", wantErr: runtimeMsg + " (it is not set)"},
		{name: "shared-kernel runtime class", namespace: "tenant-x", runtimeClass: "runc", scheduler: "mtscn-scheduler", wantErr: runtimeMsg + " instead of runc"},
		{name: "kata with the default scheduler", namespace: "tenant-x", runtimeClass: "kata-qemu", scheduler: "default-scheduler",
			wantErr: "namespace tenant-x requires pods to be placed by mtscn-scheduler (label mtscn.io/sandbox=required): set spec.schedulerName to mtscn-scheduler instead of default-scheduler"},
		{name: "kata with mtscn-scheduler", namespace: "tenant-x", runtimeClass: "kata-qemu", scheduler: "mtscn-scheduler"},
		{name: "tdx with mtscn-scheduler", namespace: "tenant-x", runtimeClass: "kata-qemu-tdx", scheduler: "mtscn-scheduler"},
		{name: "optional namespace: runc and the default scheduler", namespace: "free", runtimeClass: "runc", scheduler: "default-scheduler"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := st.MakePod().Name(fmt.Sprintf("p%d", i)).Namespace(tc.namespace).SchedulerName(tc.scheduler).Container("registry.k8s.io/pause:3.10").Obj()
			if tc.runtimeClass != "" {
				pod.Spec.RuntimeClassName = ptr.To(tc.runtimeClass)
			}
			_, err := cp.Client.CoreV1().Pods(tc.namespace).Create(cp.Ctx, pod, metav1.CreateOptions{})
			checkErr(t, err, tc.wantErr)
		})
	}
}

// TestTenantCannotRelabelNamespace checks mtscn-namespace-labels: a tenant
// allowed to edit its Namespace (as Capsule tenant owners are) cannot add,
// change or remove its mtscn.io/* labels, nor create a namespace that
// claims a tenant; a holder of mtscn-namespace-policy-admin can.
func TestTenantCannotRelabelNamespace(t *testing.T) {
	cp := installDefault(t)
	cp.CreateNamespace(t, "tenant-y", map[string]string{"mtscn.io/tenant": "y", "mtscn.io/sandbox": "required"})
	rbac := cp.Client.RbacV1()
	if _, err := rbac.ClusterRoles().Create(cp.Ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-y-namespace-editor"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{"tenant-y"}, Verbs: []string{"get", "update", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"create"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bind := func(name, user, role string) {
		if _, err := rbac.ClusterRoleBindings().Create(cp.Ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	bind("alice-edits-tenant-y", "alice", "tenant-y-namespace-editor")
	bind("bob-edits-tenant-y", "bob", "tenant-y-namespace-editor")
	bind("bob-sets-namespace-policy", "bob", "mtscn-namespace-policy-admin")
	_, alice := as(t, cp, rest.ImpersonationConfig{UserName: "alice", Groups: []string{"tenant-y-owners"}})
	_, bob := as(t, cp, rest.ImpersonationConfig{UserName: "bob"})

	setLabels := func(c kubernetes.Interface, ns string, l map[string]any, opts metav1.PatchOptions) error {
		_, err := c.CoreV1().Namespaces().Patch(cp.Ctx, ns, types.MergePatchType, mergePatch(t, map[string]any{"metadata": map[string]any{"labels": l}}), opts)
		return err
	}
	const needs = ` label(s) of namespace tenant-y needs the verb "label" on namespaces.mtscn.io (ClusterRole mtscn-namespace-policy-admin): ask a cluster administrator`
	waitForDenial(t, cp.Ctx, "mtscn-namespace-labels", func(context.Context) error {
		return setLabels(alice, "tenant-y", map[string]any{"mtscn.io/sandbox": "optional"}, dryRun)
	})

	tests := []struct {
		name    string
		client  kubernetes.Interface
		labels  map[string]any
		wantErr string
	}{
		{name: "tenant drops the sandbox requirement", client: alice, labels: map[string]any{"mtscn.io/sandbox": "optional"}, wantErr: "changing the mtscn.io/sandbox" + needs},
		{name: "tenant joins another tenant", client: alice, labels: map[string]any{"mtscn.io/tenant": "z"}, wantErr: "changing the mtscn.io/tenant" + needs},
		{name: "tenant removes its tenant label", client: alice, labels: map[string]any{"mtscn.io/tenant": nil}, wantErr: "changing the mtscn.io/tenant" + needs},
		{name: "tenant becomes infrastructure", client: alice, labels: map[string]any{"mtscn.io/infrastructure": "true", "mtscn.io/node-sharing": "exclusive"}, wantErr: "changing the mtscn.io/infrastructure, mtscn.io/node-sharing" + needs},
		{name: "tenant sets its own labels", client: alice, labels: map[string]any{"team": "blue"}},
		{name: "policy admin changes the sandbox policy", client: bob, labels: map[string]any{"mtscn.io/sandbox": "optional"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, setLabels(tc.client, "tenant-y", tc.labels, metav1.PatchOptions{}), tc.wantErr)
		})
	}

	t.Run("tenant creates a namespace claiming a tenant", func(t *testing.T) {
		_, err := alice.CoreV1().Namespaces().Create(cp.Ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "stolen", Labels: map[string]string{"mtscn.io/tenant": "x"}}}, metav1.CreateOptions{})
		checkErr(t, err, "changing the mtscn.io/tenant label(s) of namespace stolen")
		_, err = alice.CoreV1().Namespaces().Create(cp.Ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "alice-scratch"}}, metav1.CreateOptions{})
		checkErr(t, err, "")
	})
}
