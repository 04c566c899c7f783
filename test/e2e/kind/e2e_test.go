package kind

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

const (
	kataClass     = "kata-qemu"
	mtscnSched    = "mtscn-scheduler"
	defaultSched  = "default-scheduler"
	pauseImage    = "registry.k8s.io/pause:3.10"
	e2eLabel      = "mtscn.io/e2e"
	podStartLimit = 10 * time.Minute
)

// cluster returns a client for the cluster under test, or skips.
func cluster(t *testing.T) (kubernetes.Interface, string) {
	t.Helper()
	kubeconfig := os.Getenv("MTSCN_E2E_KUBECONFIG")
	if kubeconfig == "" {
		t.Skip("MTSCN_E2E_KUBECONFIG is not set: run hack/kind-e2e.sh (needs Docker, kind and nested virtualization)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("loading %s: %v", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client, kubeconfig
}

// namespace creates a namespace with labels, deleted at the end of the test.
func namespace(t *testing.T, ctx context.Context, client kubernetes.Interface, name string, labels map[string]string) {
	t.Helper()
	labels[e2eLabel] = "true"
	_, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
		// Wait for the pods to go: the next test must find free nodes.
		_ = wait.PollUntilContextTimeout(context.Background(), 2*time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})
}

// pod returns a small pod; runtimeClass "" runs runc.
func pod(ns, name, runtimeClass, scheduler string) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{e2eLabel: "true"}},
		Spec: v1.PodSpec{
			SchedulerName:                 scheduler,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			AutomountServiceAccountToken:  ptr.To(false),
			Containers: []v1.Container{{
				Name:  "pause",
				Image: pauseImage,
				Resources: v1.ResourceRequirements{
					Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("10m"), v1.ResourceMemory: resource.MustParse("16Mi")},
					Limits:   v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi")},
				},
			}},
		},
	}
	if runtimeClass != "" {
		p.Spec.RuntimeClassName = ptr.To(runtimeClass)
	}
	return p
}

func ready(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady && c.Status == v1.ConditionTrue {
			return true
		}
	}
	return false
}

// waitReady waits until every pod in ns is Ready and returns them.
func waitReady(t *testing.T, ctx context.Context, client kubernetes.Interface, ns string, want int) []v1.Pod {
	t.Helper()
	var pods []v1.Pod
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, podStartLimit, true, func(ctx context.Context) (bool, error) {
		list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		pods = list.Items
		n := 0
		for i := range pods {
			if ready(&pods[i]) {
				n++
			}
		}
		return n == want, nil
	})
	if err != nil {
		for _, p := range pods {
			t.Logf("pod %s/%s node=%q phase=%s conditions=%v", p.Namespace, p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
		}
		t.Fatalf("pods in %s not all Ready within %v", ns, podStartLimit)
	}
	return pods
}

// TestKataTenants runs Kata pods of three tenants (two sandbox=required,
// one optional with a runc pod) through mtscn-scheduler and checks the
// result with `mtscnctl audit`, which exits 1 on any isolation violation
// or memory overcommit.
func TestKataTenants(t *testing.T) {
	client, kubeconfig := cluster(t)
	ctx := context.Background()
	namespace(t, ctx, client, "e2e-team-a", map[string]string{"mtscn.io/tenant": "team-a", "mtscn.io/sandbox": "required"})
	namespace(t, ctx, client, "e2e-team-b", map[string]string{"mtscn.io/tenant": "team-b", "mtscn.io/sandbox": "required"})
	namespace(t, ctx, client, "e2e-team-c", map[string]string{"mtscn.io/tenant": "team-c"})

	// Five Kata VMs (~2.2Gi committed each) and one runc pod fit a 16Gi laptop.
	counts := map[string]int{"e2e-team-a": 2, "e2e-team-b": 2, "e2e-team-c": 1}
	for ns, n := range counts {
		for i := range n {
			if _, err := client.CoreV1().Pods(ns).Create(ctx, pod(ns, fmt.Sprintf("kata-%d", i), kataClass, mtscnSched), metav1.CreateOptions{}); err != nil {
				t.Fatalf("creating Kata pod in %s: %v", ns, err)
			}
		}
	}
	// A shared-kernel pod of team-c: TenantIsolation must give it a node
	// without other tenants' pods.
	if _, err := client.CoreV1().Pods("e2e-team-c").Create(ctx, pod("e2e-team-c", "runc-0", "", mtscnSched), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating runc pod: %v", err)
	}
	counts["e2e-team-c"]++

	tenantsOn := map[string][]string{}
	for ns, n := range counts {
		for _, p := range waitReady(t, ctx, client, ns, n) {
			if !slices.Contains(tenantsOn[p.Spec.NodeName], ns) {
				tenantsOn[p.Spec.NodeName] = append(tenantsOn[p.Spec.NodeName], ns)
			}
		}
	}
	t.Logf("tenants per node: %v", tenantsOn)

	out, err := exec.CommandContext(ctx, mtscnctl(t), "audit", "--kubeconfig", kubeconfig).CombinedOutput()
	t.Logf("mtscnctl audit:\n%s", out)
	if err != nil {
		t.Fatalf("mtscnctl audit found violations (or failed): %v", err)
	}
}

// TestSandboxPolicyOnCluster checks that the shipped admission policy
// rejects an unsandboxed pod in a sandbox=required namespace.
func TestSandboxPolicyOnCluster(t *testing.T) {
	client, _ := cluster(t)
	ctx := context.Background()
	namespace(t, ctx, client, "e2e-policy", map[string]string{"mtscn.io/tenant": "team-p", "mtscn.io/sandbox": "required"})
	_, err := client.CoreV1().Pods("e2e-policy").Create(ctx, pod("e2e-policy", "runc", "", mtscnSched), metav1.CreateOptions{})
	if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "requires a sandboxed runtime") {
		t.Fatalf("creating a runc pod in a sandbox=required namespace: want the mtscn-sandbox-required denial, got %v", err)
	}
}

func mtscnctl(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MTSCNCTL"); p != "" {
		return p
	}
	p, err := exec.LookPath("mtscnctl")
	if err != nil {
		t.Fatal("set MTSCNCTL to the mtscnctl binary (hack/kind-e2e.sh builds it)")
	}
	return p
}

// TestLatencyTable measures, for Kata and runc pods under mtscn-scheduler
// and the default scheduler, the scheduling latency (creation to binding)
// and the sandbox start latency (binding to Ready), as seen by a watch, and
// writes p50/p99 as a Markdown table. Pods are created in one burst per
// configuration; E2E_PODS sets how many (default 6, so that the Kata
// guests, 2Gi default_memory each, fit a laptop: mtscn-scheduler leaves
// pods pending rather than overcommit, and the measurement then fails). With
// fewer than 100 pods p99 is the maximum.
func TestLatencyTable(t *testing.T) {
	client, _ := cluster(t)
	ctx := context.Background()
	n := 6
	if s := os.Getenv("E2E_PODS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("E2E_PODS=%q: want a positive integer", s)
		}
		n = v
	}
	configs := []struct{ runtimeClass, scheduler string }{
		{kataClass, mtscnSched}, {kataClass, defaultSched}, {"", mtscnSched}, {"", defaultSched},
	}
	var rows []latencyRow
	for i, c := range configs {
		ns := fmt.Sprintf("e2e-latency-%d", i)
		t.Run(fmt.Sprintf("%s/%s", runtimeName(c.runtimeClass), c.scheduler), func(t *testing.T) {
			// One tenant per configuration; its namespace is deleted (and
			// its pods gone) before the next configuration starts.
			namespace(t, ctx, client, ns, map[string]string{"mtscn.io/tenant": "latency"})
			row, err := measure(ctx, client, ns, c.runtimeClass, c.scheduler, n)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, row)
		})
	}
	table := formatTable(rows)
	t.Logf("\n%s", table)
	if dir := os.Getenv("E2E_REPORT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "latency.md"), []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runtimeName(runtimeClass string) string {
	if runtimeClass == "" {
		return "runc"
	}
	return runtimeClass
}
