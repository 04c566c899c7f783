package schedulermetrics

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/pkg/plugins/names"
	"github.com/mtscn/mtscn/pkg/plugins/sandboxoverhead"
	"github.com/mtscn/mtscn/pkg/plugins/tenantisolation"
	"github.com/mtscn/mtscn/pkg/wellknown"
	"github.com/mtscn/mtscn/test/integration/harness"
)

const schedulerName = "mtscn-scheduler"

// writeConfig writes the shipped scheduler configuration with its
// clientConnection pointed at kubeconfig and no leader election (one
// replica); profiles and args are as shipped.
func writeConfig(t *testing.T, kubeconfig string) string {
	t.Helper()
	return harness.WriteSchedulerConfig(t, kubeconfig, func(cfg map[string]any) {
		cfg["leaderElection"] = map[string]any{"leaderElect": false}
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startScheduler runs the binary serving HTTPS on 127.0.0.1 (a self-signed
// certificate in a temporary --cert-dir) with /metrics readable without
// credentials, as a Prometheus scrape through an authorizing proxy would
// read it. It returns the base URL; the process is stopped at t.Cleanup.
func startScheduler(t *testing.T, config string) string {
	t.Helper()
	port := freePort(t)
	logPath := filepath.Join(t.TempDir(), "mtscn-scheduler.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(schedulerBin, "--config="+config, "--v=2",
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port), "--cert-dir="+t.TempDir(),
		"--authentication-skip-lookup", "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting mtscn-scheduler: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			if data, err := os.ReadFile(logPath); err == nil {
				t.Logf("mtscn-scheduler log (last 8 KiB):\n%s", tail(data, 8<<10))
			}
		}
	})
	return fmt.Sprintf("https://127.0.0.1:%d", port)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// httpClient trusts the scheduler's self-signed serving certificate: the
// test started the process and talks to it on loopback.
var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the test's own child process on 127.0.0.1
}}

func get(url string) (int, string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// series returns the value of the series whose line starts with prefix
// (metric name and labels, as Prometheus' text format prints them), or
// false.
func series(body, prefix string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// waitForMetrics scrapes /metrics until check accepts it.
func waitForMetrics(t *testing.T, ctx context.Context, base, what string, check func(body string) bool) string {
	t.Helper()
	var body string
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		var code int
		code, body, lastErr = get(base + "/metrics")
		return lastErr == nil && code == http.StatusOK && check(body), nil
	})
	if err != nil {
		t.Fatalf("/metrics never showed %s (last error %v); mtscn_ series:\n%s", what, lastErr, grepMtscn(body))
	}
	return body
}

func grepMtscn(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "mtscn_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func createNode(t *testing.T, ctx context.Context, c kubernetes.Interface, name, memory string) {
	t.Helper()
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		wellknown.LabelKVM: wellknown.ValueTrue, wellknown.RuntimeLabel("kata-qemu"): wellknown.ValueTrue,
		wellknown.LabelCotenancySafe: wellknown.ValueTrue, v1.LabelHostname: name,
	}}}
	created, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating node %s: %v", name, err)
	}
	capacity := v1.ResourceList{v1.ResourceCPU: resource.MustParse("16"), v1.ResourceMemory: resource.MustParse(memory), v1.ResourcePods: resource.MustParse("110")}
	now := metav1.Now()
	created.Status = v1.NodeStatus{Capacity: capacity, Allocatable: capacity,
		Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting the status of node %s: %v", name, err)
	}
}

func pod(ns, name, runtimeClass, node string) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.PodSpec{SchedulerName: schedulerName, NodeName: node, Containers: []v1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10",
			Resources: v1.ResourceRequirements{
				Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("256Mi")},
				Limits:   v1.ResourceList{v1.ResourceMemory: resource.MustParse("1Gi")},
			}}}},
	}
	if runtimeClass != "" {
		p.Spec.RuntimeClassName = ptr.To(runtimeClass)
	}
	return p
}

// TestDecisionMetrics runs mtscn-scheduler and reads its /metrics while it
// rejects a Kata pod of tenant bravo on both nodes: on n-shared because
// tenant alpha runs a shared-kernel pod there (TenantIsolation, I1), on
// n-small because the VM's committed memory does not fit (SandboxOverhead,
// F1). Then alpha's pod is deleted (a hint requeues the pod on that
// PodDelete event and it binds to n-shared), and n-small is
// deleted (its committed-memory series goes away). A second VM makes
// SandboxOverhead sum n-shared again: its series then holds the first VM's
// footprint.
func TestDecisionMetrics(t *testing.T) {
	ctx, cluster := harness.StartDevCluster(t)
	c := cluster.Client
	if _, err := c.NodeV1().RuntimeClasses().Create(ctx, &nodev1.RuntimeClass{
		ObjectMeta: metav1.ObjectMeta{Name: "kata-qemu"}, Handler: "kata-qemu",
		Overhead: &nodev1.Overhead{PodFixed: v1.ResourceList{v1.ResourceMemory: resource.MustParse("160Mi"), v1.ResourceCPU: resource.MustParse("250m")}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"alpha", "bravo"} {
		if _, err := c.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tenant, Labels: map[string]string{wellknown.LabelTenant: tenant}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	createNode(t, ctx, c, "n-shared", "32Gi")
	// Room for the pod's requests and overhead (416Mi), not for its VM
	// (2Gi default memory + 1Gi limit + the VMM).
	createNode(t, ctx, c, "n-small", "2Gi")
	// Bound around the scheduler, as a kubelet would report it.
	if _, err := c.CoreV1().Pods("alpha").Create(ctx, pod("alpha", "runc-1", "", "n-shared"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	base := startScheduler(t, writeConfig(t, cluster.KubeconfigPath))
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		code, _, err := get(base + "/healthz")
		return err == nil && code == http.StatusOK, nil
	}); err != nil {
		t.Fatalf("mtscn-scheduler's /healthz never answered 200: %v", err)
	}

	if _, err := c.CoreV1().Pods("bravo").Create(ctx, pod("bravo", "vm-1", "kata-qemu", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rejected := func(plugin, reason string) string {
		return fmt.Sprintf(`mtscn_scheduler_rejections_total{plugin="%s",reason="%s"}`, plugin, reason)
	}
	committed := func(node string) string {
		return fmt.Sprintf(`mtscn_scheduler_node_committed_memory_bytes{node="%s",profile="%s"}`, node, schedulerName)
	}
	cache := func(plugin, result string) string {
		return fmt.Sprintf(`mtscn_scheduler_node_cache_lookups_total{plugin="%s",result="%s"}`, plugin, result)
	}
	body := waitForMetrics(t, ctx, base, "both rejections", func(body string) bool {
		i1, ok1 := series(body, rejected(names.TenantIsolation, tenantisolation.ErrReasonSharedKernelOtherTenant))
		f1, ok2 := series(body, rejected(names.SandboxOverhead, sandboxoverhead.ErrReasonMemory))
		return ok1 && ok2 && i1 >= 1 && f1 >= 1
	})
	// kube-scheduler's own series are on the same endpoint.
	if _, ok := series(body, fmt.Sprintf(`scheduler_unschedulable_pods{plugin="%s",profile="%s"}`, names.TenantIsolation, schedulerName)); !ok {
		t.Errorf("/metrics lacks kube-scheduler's scheduler_unschedulable_pods for TenantIsolation:\n%s", grepMtscn(body))
	}
	if v, ok := series(body, committed("n-small")); !ok || v != 0 {
		t.Errorf("committed memory of the empty n-small = %v (present %v), want 0", v, ok)
	}
	if v, ok := series(body, cache(names.SandboxOverhead, "miss")); !ok || v < 1 {
		t.Errorf("SandboxOverhead cache misses = %v (present %v), want at least 1 (its first look at each node)", v, ok)
	}
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "mtscn_scheduler_rejections_total{") && regexp.MustCompile(`[0-9]Gi|[0-9]Mi`).MatchString(l) {
			t.Errorf("a rejection reason carries numbers (unbounded label values): %s", l)
		}
	}

	// alpha's pod goes away: the hint of Pod/Delete requeues bravo's pod,
	// which now fits n-shared.
	if err := c.CoreV1().Pods("alpha").Delete(ctx, "runc-1", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods("bravo").Get(ctx, "vm-1", metav1.GetOptions{})
		return err == nil && p.Spec.NodeName == "n-shared", err
	}); err != nil {
		t.Fatalf("bravo/vm-1 was not bound to n-shared after alpha's pod left: %v", err)
	}
	// TenantIsolation's or SandboxOverhead's hint (both rejected the pod;
	// the first that answers Queue moves it) counted the Pod delete.
	body = waitForMetrics(t, ctx, base, "the requeue and n-shared's committed memory", func(body string) bool {
		ti, _ := series(body, fmt.Sprintf(`mtscn_scheduler_requeues_total{event="PodDelete",plugin="%s"}`, names.TenantIsolation))
		so, _ := series(body, fmt.Sprintf(`mtscn_scheduler_requeues_total{event="PodDelete",plugin="%s"}`, names.SandboxOverhead))
		_, shared := series(body, committed("n-shared"))
		return ti+so >= 1 && shared
	})

	// A second VM of bravo: placing it, SandboxOverhead sums n-shared again,
	// now with vm-1's VM: 2Gi default guest memory + 1Gi limit + 96Mi VMM
	// (the figure its rejection message gave).
	if _, err := c.CoreV1().Pods("bravo").Create(ctx, pod("bravo", "vm-2", "kata-qemu", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const vm1 = (2048 + 1024 + 96) << 20
	waitForMetrics(t, ctx, base, "n-shared's committed memory with vm-1", func(body string) bool {
		v, ok := series(body, committed("n-shared"))
		return ok && v == vm1
	})

	// n-small is deleted: its series goes.
	if err := c.CoreV1().Nodes().Delete(ctx, "n-small", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	body = waitForMetrics(t, ctx, base, "n-small's committed memory removed", func(body string) bool {
		_, small := series(body, committed("n-small"))
		_, shared := series(body, committed("n-shared"))
		return !small && shared
	})
	t.Logf("mtscn_ series at the end:\n%s", grepMtscn(body))
}
