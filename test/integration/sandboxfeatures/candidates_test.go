package sandboxfeatures

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/mtscn/mtscn/pkg/plugins/sandboxfeatures"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// TestScarceHardwareOnALargeCluster runs on 120 nodes, enough for
// SandboxFeatures' PreFilter to name the candidates of a pod whose
// requirements few nodes meet: 10 small TDX hosts and 110 large Kata hosts.
// The TDX pod lands on a TDX host as before; a TDX pod too large for the
// TDX hosts stays pending and its message says that SandboxFeatures ruled
// out the other nodes; a SEV-SNP pod that no node can run still gets the
// per-node reason.
func TestScarceHardwareOnALargeCluster(t *testing.T) {
	cp := setup(t)
	cp.CreateRuntimeClass(t, "kata-qemu-snp", "kata-qemu-snp", nil, nil)
	kata := []string{wellknown.LabelKVM, "true", wellknown.LabelVirtMode, "hardware", runtimeLabel("kata-qemu"), "true"}
	for i := range 110 {
		cp.CreateNode(t, nodeWith(fmt.Sprintf("hw-%d", i), nil, kata...))
	}
	tdx := append([]string{runtimeLabel("kata-qemu-tdx"), "true", wellknown.LabelTDX, "true"}, kata...)
	for i := range 10 {
		cp.CreateNode(t, sizedNode(fmt.Sprintf("tdx-%d", i), "8", "32Gi", nil, tdx...))
	}

	cp.CreatePod(t, makePod("tdx", "kata-qemu-tdx", nil))
	if got := cp.WaitForBound(t, ns, "tdx", bindIn); !strings.HasPrefix(got, "tdx-") {
		t.Errorf("TDX pod bound to %s, want a TDX host", got)
	}

	big := makePod("tdx-big", "kata-qemu-tdx", nil)
	big.Spec.Containers[0].Resources.Requests[v1.ResourceMemory] = resource.MustParse("40Gi")
	cp.CreatePod(t, big)
	msg := waitForMessage(t, cp.Ctx, func(ctx context.Context) (*v1.Pod, error) {
		return cp.Client.CoreV1().Pods(ns).Get(ctx, "tdx-big", metav1.GetOptions{})
	})
	for _, want := range []string{"110 node(s) didn't satisfy plugin(s) [" + sandboxfeatures.Name + "]", "10 Insufficient memory"} {
		if !strings.Contains(msg, want) {
			t.Errorf("unschedulable message %q does not contain %q", msg, want)
		}
	}

	cp.CreatePod(t, makePod("snp", "kata-qemu-snp", nil))
	msg = waitForMessage(t, cp.Ctx, func(ctx context.Context) (*v1.Pod, error) {
		return cp.Client.CoreV1().Pods(ns).Get(ctx, "snp", metav1.GetOptions{})
	})
	if want := "120 " + sandboxfeatures.ErrReasonNodeLacks + "kata-qemu-snp runtime handler, SEV-SNP"; !strings.Contains(msg, want) {
		t.Errorf("unschedulable message %q does not contain %q", msg, want)
	}
}

// waitForMessage waits until the pod is unschedulable on all 120 nodes
// (the scheduler may try it before its cache holds every node) and returns
// the PodScheduled message.
func waitForMessage(t *testing.T, ctx context.Context, get func(context.Context) (*v1.Pod, error)) string {
	t.Helper()
	var msg string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, bindIn, true, func(ctx context.Context) (bool, error) {
		pod, err := get(ctx)
		if err != nil {
			return false, nil
		}
		if pod.Spec.NodeName != "" {
			return false, fmt.Errorf("pod was bound to %s", pod.Spec.NodeName)
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse {
				msg = c.Message
				return strings.HasPrefix(msg, "0/120 nodes are available"), nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod not unschedulable on 120 nodes within %v (last message %q): %v", bindIn, msg, err)
	}
	return msg
}
