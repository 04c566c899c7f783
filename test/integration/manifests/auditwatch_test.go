package manifests

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mtscn/mtscn/test/integration/harness"
)

const auditSA = "system:serviceaccount:mtscn-system:mtscn-audit"

// TestAuditWatchComponent installs the default install plus
// components/audit-watch on the real apiserver and checks what a cluster
// admin relies on: the audit reads the scheduler's own configuration (the
// generated ConfigMap, not a copy that could drift), and its
// ServiceAccount can list and watch what audit reads and change nothing.
func TestAuditWatchComponent(t *testing.T) {
	objs := render(t, componentOverlay(t, "components/audit-watch"))
	dep := find(objs, "Deployment", "mtscn-system", "mtscn-audit")
	if dep == nil {
		t.Fatal("components/audit-watch renders no Deployment mtscn-system/mtscn-audit")
	}
	auditCM := configMapOf(t, dep)
	schedCM := configMapOf(t, find(objs, "Deployment", "mtscn-system", "mtscn-scheduler"))
	if auditCM == "" || auditCM != schedCM {
		t.Errorf("the audit mounts ConfigMap %q, the scheduler %q: want the scheduler's (generated, hashed) configuration", auditCM, schedCM)
	}
	containers, _, _ := unstructured.NestedFieldNoCopy(dep.Object, "spec", "template", "spec", "containers")
	joined := strings.Join(stringsOf(containers.([]any)[0].(map[string]any)["args"]), " ")
	for _, want := range []string{"audit", "--watch", "--metrics-addr=:9090", "--scheduler-config=/etc/mtscn/scheduler-config.yaml"} {
		if !strings.Contains(joined, want) {
			t.Errorf("audit args %q lack %q", joined, want)
		}
	}

	cp := harness.StartFullControlPlane(t)
	cp.InstallCRDs(t, nfdCRDs(t))
	applier, err := NewApplier(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := applier.Apply(cp.Ctx, objs, false); err != nil {
		t.Fatalf("manifests/ + components/audit-watch: %v", err)
	}
	_, client := as(t, cp, serviceAccount(auditSA, nil))
	ctx := cp.Ctx
	list := metav1.ListOptions{Limit: 1}
	_, err = client.CoreV1().Nodes().List(ctx, list)
	checkErr(t, err, "")
	_, err = client.CoreV1().Pods("").List(ctx, list)
	checkErr(t, err, "")
	_, err = client.CoreV1().Namespaces().List(ctx, list)
	checkErr(t, err, "")
	_, err = client.NodeV1().RuntimeClasses().List(ctx, list)
	checkErr(t, err, "")
	w, err := client.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
	checkErr(t, err, "")
	if w != nil {
		w.Stop()
	}
	// Read-only, and nothing secret.
	_, err = client.CoreV1().Secrets("mtscn-system").List(ctx, list)
	checkErr(t, err, "cannot list resource \"secrets\"")
	_, err = client.CoreV1().Pods("default").Create(ctx, &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "audit-may-not"},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "i"}}},
	}, metav1.CreateOptions{})
	checkErr(t, err, "cannot create resource \"pods\"")
	_, err = client.CoreV1().Namespaces().Patch(ctx, "default", types.MergePatchType, []byte(`{"metadata":{"labels":{"mtscn.io/tenant":"x"}}}`), metav1.PatchOptions{})
	checkErr(t, err, "cannot patch resource \"namespaces\"")
	_, err = client.CoreV1().Pods("").Get(ctx, "x", metav1.GetOptions{})
	if err == nil {
		t.Errorf("the audit ServiceAccount may get single pods: it only needs list and watch")
	}
}

// configMapOf returns the ConfigMap the Deployment mounts as volume config.
func configMapOf(t *testing.T, dep *unstructured.Unstructured) string {
	t.Helper()
	if dep == nil {
		t.Fatal("no Deployment")
	}
	vols, _, _ := unstructured.NestedFieldNoCopy(dep.Object, "spec", "template", "spec", "volumes")
	for _, v := range vols.([]any) {
		m := v.(map[string]any)
		if m["name"] == "config" {
			name, _, _ := unstructured.NestedFieldNoCopy(m, "configMap", "name")
			s, _ := name.(string)
			return s
		}
	}
	return ""
}

func stringsOf(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}
