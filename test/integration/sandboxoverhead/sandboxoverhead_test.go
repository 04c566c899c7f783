package sandboxoverhead

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/vmsize"
	"github.com/mtscn/mtscn/pkg/wellknown"
	"github.com/mtscn/mtscn/test/integration/harness"
)

const (
	ns      = "tenant-a"
	timeout = 30 * time.Second
	// settle is how long a test waits to be sure the scheduler binds no
	// more pods.
	settle = 3 * time.Second
	// kataQemuMessage is F1's reason for a 512Mi kata-qemu pod on an 8Gi
	// node holding three of them: 3 x 2656Mi = 7968Mi committed.
	kataQemuMessage = "insufficient committed memory: VM needs 2.6Gi (2Gi default guest memory + 512Mi limits + 96Mi VMM)"
)

// kataNode is a node where SandboxFeatures lets Kata run: KVM and the
// handlers installed. Extra labels and extended resources are added.
func kataNode(name, memory string, ext map[v1.ResourceName]string, labels map[string]string) *v1.Node {
	capacity := map[v1.ResourceName]string{v1.ResourceCPU: "16", v1.ResourceMemory: memory, v1.ResourcePods: "110"}
	for k, v := range ext {
		capacity[k] = v
	}
	w := st.MakeNode().Name(name).Capacity(capacity).
		Label("node", name).
		Label(wellknown.LabelKVM, "true").
		Label(wellknown.LabelRuntimePrefix+"kata-qemu", "true").
		Label(wellknown.LabelRuntimePrefix+"kata-clh", "true")
	for k, v := range labels {
		w = w.Label(k, v)
	}
	return w.Obj()
}

// pod is a tenant pod with memory requests = limits, pinned to a node by
// nodeSelector, for the given RuntimeClass ("" for runc) and scheduler
// ("" for mtscn-scheduler).
func pod(name, runtimeClass, memory, node, scheduler string) *v1.Pod {
	p := st.MakePod().Namespace(ns).Name(name).
		Res(map[v1.ResourceName]string{v1.ResourceCPU: "10m", v1.ResourceMemory: memory}).
		NodeSelector(map[string]string{"node": node}).
		SchedulerName(scheduler).
		ZeroTerminationGracePeriod().Obj()
	if runtimeClass != "" {
		p.Spec.RuntimeClassName = &runtimeClass
	}
	return p
}

func setup(t *testing.T, opts ...harness.SchedulerOption) *harness.ControlPlane {
	t.Helper()
	cp := harness.StartControlPlane(t)
	cp.StartScheduler(t, opts...)
	cp.CreateNamespace(t, ns, map[string]string{"mtscn.io/tenant": "a"})
	// kata-deploy 4.x overheads.
	cp.CreateRuntimeClass(t, "kata-qemu", "kata-qemu", v1.ResourceList{
		v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("320Mi")}, nil)
	cp.CreateRuntimeClass(t, "kata-clh", "kata-clh", v1.ResourceList{
		v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("130Mi")}, nil)
	return cp
}

// boundPods lists the pods bound to node.
func boundPods(t *testing.T, cp *harness.ControlPlane, node string) []string {
	t.Helper()
	list, err := cp.Client.CoreV1().Pods(ns).List(cp.Ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	return names
}

// waitForBoundCount waits until exactly want pods are bound to node and
// stay so for settle.
func waitForBoundCount(t *testing.T, cp *harness.ControlPlane, node string, want int) []string {
	t.Helper()
	var got []string
	err := wait.PollUntilContextTimeout(cp.Ctx, 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		got = boundPods(t, cp, node)
		return len(got) >= want, nil
	})
	if err != nil {
		t.Fatalf("node %s: %d pods bound within %v, want %d: %v", node, len(got), timeout, want, got)
	}
	time.Sleep(settle)
	if got = boundPods(t, cp, node); len(got) != want {
		t.Fatalf("node %s: %d pods bound, want exactly %d: %v", node, len(got), want, got)
	}
	return got
}

// TestKataVMsFitByCommittedMemory is the failure of Kata issues #6129,
// #7470 and #12786: 512Mi kata-qemu pods (RuntimeClass overhead 320Mi) on
// an 8Gi node. The default scheduler counts 512Mi + 320Mi = 832Mi per pod
// and binds 9 (7.3Gi), whose VMs commit 9 x 2.6Gi = 23Gi. mtscn counts
// what each VM commits (2Gi default_memory + 512Mi limits + 96Mi VMM =
// 2656Mi) and binds 3; the others are told why, with the numbers. A runc
// pod that fits by requests is rejected too, and deleting a VM lets one
// pending VM in.
func TestKataVMsFitByCommittedMemory(t *testing.T) {
	cp := setup(t, harness.WithDefaultProfile())
	cp.CreateNode(t, kataNode("mtscn", "8Gi", nil, nil))
	cp.CreateNode(t, kataNode("default", "8Gi", nil, nil))

	for i := range 10 {
		cp.CreatePod(t, pod(fmt.Sprintf("default-vm-%d", i), "kata-qemu", "512Mi", "default", v1.DefaultSchedulerName))
		created := cp.CreatePod(t, pod(fmt.Sprintf("vm-%d", i), "kata-qemu", "512Mi", "mtscn", ""))
		// The RuntimeClass admission controller copied the overhead: this
		// is the overhead SandboxOverhead must not count twice.
		if got := created.Spec.Overhead.Memory().String(); got != "320Mi" {
			t.Fatalf("pod overhead = %s, want 320Mi from the RuntimeClass", got)
		}
	}
	if got := waitForBoundCount(t, cp, "default", 9); len(got) != 9 {
		t.Fatalf("default scheduler bound %d", len(got))
	}
	bound := waitForBoundCount(t, cp, "mtscn", 3)
	t.Logf("default-scheduler bound 9 VMs (%s committed on 8Gi); mtscn-scheduler bound %d", vmsize.FormatBytes(9*2656<<20, true), len(bound))

	isBound := map[string]bool{}
	for _, name := range bound {
		isBound[name] = true
	}
	var pending []string
	for i := range 10 {
		if name := fmt.Sprintf("vm-%d", i); !isBound[name] {
			pending = append(pending, name)
		}
	}
	for i, name := range pending {
		msg := cp.WaitForUnschedulable(t, ns, name, timeout)
		if i == 0 {
			t.Logf("pod %s: %s", name, msg)
		}
		if !strings.Contains(msg, kataQemuMessage) {
			t.Errorf("pod %s: PodScheduled message %q does not contain %q", name, msg, kataQemuMessage)
		}
	}
	if note := cp.WaitForFailedSchedulingEvent(t, ns, pending[0], timeout); !strings.Contains(note, kataQemuMessage) {
		t.Errorf("FailedScheduling event %q does not contain %q", note, kataQemuMessage)
	}

	// A runc pod that NodeResourcesFit admits (3 x 832Mi requested leaves
	// 5.6Gi) but that would push committed memory over 8Gi.
	cp.CreatePod(t, pod("runc", "", "1Gi", "mtscn", ""))
	msg := cp.WaitForUnschedulable(t, ns, "runc", timeout)
	if want := "insufficient committed memory: pod needs 1Gi (1Gi requests + overhead)"; !strings.Contains(msg, want) {
		t.Errorf("runc pod: message %q does not contain %q", msg, want)
	}
	if err := cp.Client.CoreV1().Pods(ns).Delete(cp.Ctx, "runc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// Deleting a bound VM frees 2.6Gi: exactly one pending VM takes its place.
	if err := cp.Client.CoreV1().Pods(ns).Delete(cp.Ctx, bound[0], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	after := waitForBoundCount(t, cp, "mtscn", 3)
	for _, name := range after {
		if name == bound[0] {
			t.Fatalf("deleted pod %s still bound", name)
		}
	}
}

// TestSandboxMemoryLimitsSharedMemoryGuests: with QEMU + virtio-fs, guest
// RAM is a /dev/shm file, so a node advertising 6Gi of
// mtscn.io/sandbox-memory backs two 2.5Gi kata-qemu guests, although its
// 32Gi of memory would hold many more. Cloud Hypervisor guests (memfd) are
// not limited by it.
func TestSandboxMemoryLimitsSharedMemoryGuests(t *testing.T) {
	cp := setup(t)
	cp.CreateNode(t, kataNode("n", "32Gi", map[v1.ResourceName]string{wellknown.ResourceSandboxMemory: "6Gi"}, nil))

	for i := range 3 {
		cp.CreatePod(t, pod(fmt.Sprintf("qemu-%d", i), "kata-qemu", "512Mi", "n", ""))
	}
	bound := waitForBoundCount(t, cp, "n", 2)
	var pending string
	for i := range 3 {
		name := fmt.Sprintf("qemu-%d", i)
		if name != bound[0] && name != bound[1] {
			pending = name
		}
	}
	msg := cp.WaitForUnschedulable(t, ns, pending, timeout)
	if want := "insufficient sandbox memory: VM guest needs 2.5Gi of /dev/shm (mtscn.io/sandbox-memory)"; !strings.Contains(msg, want) {
		t.Errorf("message %q does not contain %q", msg, want)
	}

	for i := range 3 {
		cp.CreatePod(t, pod(fmt.Sprintf("clh-%d", i), "kata-clh", "512Mi", "n", ""))
	}
	for i := range 3 {
		cp.WaitForBound(t, ns, fmt.Sprintf("clh-%d", i), timeout)
	}
	cp.ExpectNotBound(t, ns, pending, settle)
}

// TestNodeKataValuesRequeue: the node agent publishes the node's real
// default_memory (1Gi instead of Kata's 2Gi). A VM pending on the node
// is requeued by the label update and fits.
func TestNodeKataValuesRequeue(t *testing.T) {
	cp := setup(t)
	node := cp.CreateNode(t, kataNode("n", "8Gi", nil, nil))
	for i := range 4 {
		cp.CreatePod(t, pod(fmt.Sprintf("vm-%d", i), "kata-qemu", "512Mi", "n", ""))
	}
	waitForBoundCount(t, cp, "n", 3)

	node, err := cp.Client.CoreV1().Nodes().Get(cp.Ctx, node.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Labels[wellknown.DefaultMemoryLabel("kata-qemu")] = "1024"
	if _, err := cp.Client.CoreV1().Nodes().Update(cp.Ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// 4 x (1Gi + 512Mi + 96Mi) = 6.4Gi.
	waitForBoundCount(t, cp, "n", 4)
}

// TestPreemptionMakesRoomForAVM: an 8Gi node holds three low-priority VMs;
// a high-priority VM preempts exactly one of them (the plugin's
// RemovePod accounting tells preemption that one victim is enough).
func TestPreemptionMakesRoomForAVM(t *testing.T) {
	cp := setup(t)
	cp.CreateNode(t, kataNode("n", "8Gi", nil, nil))
	if _, err := cp.Client.SchedulingV1().PriorityClasses().Create(cp.Ctx, &schedulingv1.PriorityClass{
		ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		cp.CreatePod(t, pod(fmt.Sprintf("low-%d", i), "kata-qemu", "512Mi", "n", ""))
	}
	waitForBoundCount(t, cp, "n", 3)

	high := pod("high", "kata-qemu", "512Mi", "n", "")
	high.Spec.PriorityClassName = "high"
	cp.CreatePod(t, high)
	if got := cp.WaitForBound(t, ns, "high", timeout); got != "n" {
		t.Fatalf("high-priority VM bound to %q", got)
	}
	got := waitForBoundCount(t, cp, "n", 3)
	lows := 0
	for _, name := range got {
		if strings.HasPrefix(name, "low-") {
			lows++
		}
	}
	if lows != 2 {
		t.Errorf("%d low-priority VMs left, want 2 (one victim): %v", lows, got)
	}
}
