//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/test/e2e/podcgroup"
)

const (
	scheduler    = "mtscn-scheduler"
	appImage     = "mtscn.test/app:e2e"
	gvisorClass  = "gvisor"
	gvisorHandle = "runsc"
	tenantLabel  = "mtscn.io/tenant"
	// How long a pod may take to start: gVisor's first sandbox on a cold
	// page cache takes a few seconds on 2 busy cores.
	startTimeout = 2 * time.Minute
	// How long a pod must stay Pending to count as "stays Pending": the
	// scheduler has retried it by then.
	pendingFor = 5 * time.Second
)

// env is what hack/e2e/run.sh exported.
type env struct {
	client     kubernetes.Interface
	kubeconfig string
	bin        string
	repo       string
	dir        string
	nodes      []string
	report     string
}

var e2e env

func TestMain(m *testing.M) {
	e2e.kubeconfig = os.Getenv("MTSCN_E2E_KUBECONFIG")
	if e2e.kubeconfig == "" {
		fmt.Println("MTSCN_E2E_KUBECONFIG is not set: these checks run under `make e2e` (hack/e2e/run.sh)")
		os.Exit(0)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", e2e.kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loading %s: %v\n", e2e.kubeconfig, err)
		os.Exit(1)
	}
	e2e.client = kubernetes.NewForConfigOrDie(cfg)
	e2e.bin = os.Getenv("MTSCN_E2E_BIN")
	e2e.dir = os.Getenv("MTSCN_E2E_DIR")
	e2e.nodes = strings.Fields(os.Getenv("MTSCN_E2E_NODES"))
	e2e.report = os.Getenv("MTSCN_E2E_REPORT")
	e2e.repo, _ = filepath.Abs(filepath.Join("..", ".."))
	os.Exit(m.Run())
}

// report appends a line to make e2e's measurement report and the test log.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	if e2e.report == "" {
		return
	}
	f, err := os.OpenFile(e2e.report, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("report: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

// tenant creates a namespace of tenant name, deleted with its pods at the
// end of the test (there is no namespace controller: the pods are deleted
// one by one and waited for).
func tenant(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	ns := "e2e-" + name
	_, err := e2e.client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{tenantLabel: name},
	}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
	t.Cleanup(func() { deleteAllPods(t, ns) })
	return ns
}

// pod is a test pod: the app image (prints /proc/version, then waits),
// mtscn-scheduler, never pulled, no ServiceAccount token (no
// controller-manager creates ServiceAccounts here). node pins it with a
// nodeSelector (the scheduler still places it); empty leaves the choice to
// the scheduler.
func pod(ns, name, runtimeClass, node string) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.PodSpec{
			SchedulerName:                 scheduler,
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			DNSPolicy:                     v1.DNSDefault,
			Containers: []v1.Container{{
				Name: "app", Image: appImage, ImagePullPolicy: v1.PullNever,
			}},
		},
	}
	if runtimeClass != "" {
		p.Spec.RuntimeClassName = ptr.To(runtimeClass)
	}
	if node != "" {
		p.Spec.NodeSelector = map[string]string{v1.LabelHostname: node}
	}
	return p
}

func create(t *testing.T, p *v1.Pod) *v1.Pod {
	t.Helper()
	got, err := e2e.client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", p.Namespace, p.Name, err)
	}
	return got
}

// waitRunning waits until the pod runs and returns it and the time from
// its creation (as the API server recorded it, to the millisecond by the
// client's clock) to the first poll that saw it Running.
func waitRunning(t *testing.T, p *v1.Pod, created time.Time) (*v1.Pod, time.Duration) {
	t.Helper()
	var last *v1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, startTimeout, true, func(ctx context.Context) (bool, error) {
		got, err := e2e.client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = got
		if got.Status.Phase == v1.PodFailed || got.Status.Phase == v1.PodSucceeded {
			return false, fmt.Errorf("pod ended: %s", got.Status.Phase)
		}
		return got.Status.Phase == v1.PodRunning, nil
	})
	took := time.Since(created)
	if err != nil {
		t.Fatalf("pod %s/%s not Running: %v\n%s", p.Namespace, p.Name, err, describe(last))
	}
	return last, took
}

// waitUnschedulable waits until the scheduler reports the pod
// unschedulable with a message containing one of reasons, checks it stays
// unbound for pendingFor, and returns the message.
func waitUnschedulable(t *testing.T, p *v1.Pod, reasons ...string) string {
	t.Helper()
	var msg string
	var last *v1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := e2e.client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = got
		if got.Spec.NodeName != "" {
			return false, fmt.Errorf("bound to %s", got.Spec.NodeName)
		}
		for _, c := range got.Status.Conditions {
			if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable {
				for _, r := range reasons {
					if strings.Contains(c.Message, r) {
						msg = c.Message
						return true, nil
					}
				}
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s: want Pending with one of %q: %v\n%s", p.Namespace, p.Name, reasons, err, describe(last))
	}
	time.Sleep(pendingFor)
	got, err := e2e.client.CoreV1().Pods(p.Namespace).Get(context.Background(), p.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "" {
		t.Fatalf("pod %s/%s was Pending (%s) but then bound to %s", p.Namespace, p.Name, msg, got.Spec.NodeName)
	}
	return msg
}

func describe(p *v1.Pod) string {
	if p == nil {
		return "(pod never read)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "node=%q phase=%s", p.Spec.NodeName, p.Status.Phase)
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(&b, "\n  %s=%s %s %s", c.Type, c.Status, c.Reason, c.Message)
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Waiting != nil {
			fmt.Fprintf(&b, "\n  container %s waiting: %s %s", c.Name, c.State.Waiting.Reason, c.State.Waiting.Message)
		}
	}
	events, err := e2e.client.CoreV1().Events(p.Namespace).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name})
	if err == nil {
		for _, ev := range events.Items {
			fmt.Fprintf(&b, "\n  event %s %s: %s", ev.Type, ev.Reason, ev.Message)
		}
	}
	return b.String()
}

// logs reads the container's log through the API server, which fetches it
// from the kubelet.
func logs(t *testing.T, p *v1.Pod) string {
	t.Helper()
	var out string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		data, err := e2e.client.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &v1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			return false, nil
		}
		out = string(data)
		return strings.Contains(out, "kernel:"), nil
	})
	if err != nil {
		t.Fatalf("log of %s/%s: %v (got %q)", p.Namespace, p.Name, err, out)
	}
	return strings.TrimSpace(out)
}

func deletePod(t *testing.T, ns, name string) {
	t.Helper()
	ctx := context.Background()
	err := e2e.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Errorf("deleting pod %s/%s: %v", ns, name, err)
		return
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := e2e.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("pod %s/%s not gone a minute after its deletion", ns, name)
	}
}

func deleteAllPods(t *testing.T, ns string) {
	pods, err := e2e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Errorf("listing pods in %s: %v", ns, err)
		return
	}
	for _, p := range pods.Items {
		deletePod(t, ns, p.Name)
	}
}

// gvisorRuntimeClass makes sure the gvisor RuntimeClass exists: the
// shipped one from manifests/runtimeclasses when there is one.
func gvisorRuntimeClass(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	rc, err := e2e.client.NodeV1().RuntimeClasses().Get(ctx, gvisorClass, metav1.GetOptions{})
	if err == nil {
		if rc.Handler != gvisorHandle {
			t.Fatalf("RuntimeClass %s has handler %q, want %q", gvisorClass, rc.Handler, gvisorHandle)
		}
		return
	}
	if !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	t.Logf("manifests/runtimeclasses ships no %s RuntimeClass: creating one with handler %s", gvisorClass, gvisorHandle)
	_, err = e2e.client.NodeV1().RuntimeClasses().Create(ctx, &nodev1RuntimeClass, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// run runs a command from the repository root and returns its combined
// output and exit code.
func run(t *testing.T, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = e2e.repo
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// node returns the podcgroup view of node n (0-based) of make e2e
// (hack/e2e/lib.sh: cgroup root mtscn-e2e-<n+1>).
func cgroupNode(i int) podcgroup.Node {
	return podcgroup.Node{CgroupFS: "/sys/fs/cgroup", ProcFS: "/proc", CgroupRoot: fmt.Sprintf("mtscn-e2e-%d", i+1)}
}

// bindAround creates p unscheduled (a scheduler name nothing serves) and
// binds it to node through the pods/binding subresource, as a rogue or
// misconfigured scheduler would: the shipped mtscn-pod-node-name policy
// refuses pods created with spec.nodeName, not bindings.
func bindAround(t *testing.T, p *v1.Pod, node string) *v1.Pod {
	t.Helper()
	p.Spec.SchedulerName = "e2e-no-scheduler"
	p = create(t, p)
	err := e2e.client.CoreV1().Pods(p.Namespace).Bind(context.Background(), &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
		Target:     v1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("binding %s/%s to %s: %v", p.Namespace, p.Name, node, err)
	}
	return p
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
