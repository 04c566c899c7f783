package sandboxoverhead

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/component-base/metrics/testutil"

	"github.com/mtscn/mtscn/pkg/plugins/names"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// hintCalls is how often the running scheduler called SandboxOverhead's
// RuntimeClass Update hint with the given answer (kube-scheduler's
// scheduler_queueing_hint_execution_duration_seconds, recorded
// asynchronously within a second).
func hintCalls(t *testing.T, hint string) uint64 {
	t.Helper()
	vec, err := testutil.GetHistogramVecFromGatherer(legacyregistry.DefaultGatherer, "scheduler_queueing_hint_execution_duration_seconds",
		map[string]string{"plugin": names.SandboxOverhead, "event": "runtimeclasses.v1.node.k8s.ioUpdate", "hint": hint})
	if err != nil {
		return 0 // no such series yet
	}
	return vec.GetAggregatedSampleCount()
}

// TestRuntimeClassUpdateRequeue runs the shipped profile against the real
// API server: a kata-qemu VM waits for memory on a full node. Updates of
// its RuntimeClass that change nothing a footprint reads (another label,
// an annotation, the overhead) reach SandboxOverhead's queueing hint,
// which leaves the pod waiting (QueueSkip, no scheduling attempt); the
// relabel mtscn.io/sandboxed=false makes the class's pods commit only
// requests + overhead, and the pod binds.
func TestRuntimeClassUpdateRequeue(t *testing.T) {
	cp := setup(t)
	cp.CreateNode(t, kataNode("n", "8Gi", nil, nil))
	for i := range 4 {
		cp.CreatePod(t, pod(fmt.Sprintf("vm-%d", i), "kata-qemu", "512Mi", "n", ""))
	}
	waitForBoundCount(t, cp, "n", 3)
	skipped, queued := hintCalls(t, "QueueSkip"), hintCalls(t, "Queue")

	update := func(f func(*nodev1.RuntimeClass)) {
		t.Helper()
		c, err := cp.Client.NodeV1().RuntimeClasses().Get(cp.Ctx, "kata-qemu", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f(c)
		if _, err := cp.Client.NodeV1().RuntimeClasses().Update(cp.Ctx, c, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	update(func(c *nodev1.RuntimeClass) { c.Labels = map[string]string{"team": "platform"} })
	update(func(c *nodev1.RuntimeClass) { c.Annotations = map[string]string{"note": "x"} })
	update(func(c *nodev1.RuntimeClass) { c.Overhead.PodFixed[v1.ResourceMemory] = resource.MustParse("256Mi") })
	if err := wait.PollUntilContextTimeout(cp.Ctx, 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return hintCalls(t, "QueueSkip")-skipped >= 3, nil
	}); err != nil {
		t.Fatalf("SandboxOverhead's RuntimeClass Update hint answered QueueSkip %d times for three updates, want 3", hintCalls(t, "QueueSkip")-skipped)
	}
	if got := hintCalls(t, "Queue") - queued; got != 0 {
		t.Errorf("the hint requeued the pending VM %d times after updates that change no footprint, want 0", got)
	}
	if got := boundPods(t, cp, "n"); len(got) != 3 {
		t.Fatalf("node n: %d pods bound, want 3: %v", len(got), got)
	}

	// The pods of kata-qemu no longer count as VMs: 4 × (512 + 320)Mi fit.
	// Whichever moves the pod first, the hint (Queue) or the plugins'
	// informer handlers (which activate pending pods once their Views are
	// rebuilt), it binds well before the periodic flush of unschedulable
	// pods (5 minutes).
	update(func(c *nodev1.RuntimeClass) { c.Labels[wellknown.LabelSandboxed] = "false" })
	waitForBoundCount(t, cp, "n", 4)
}
