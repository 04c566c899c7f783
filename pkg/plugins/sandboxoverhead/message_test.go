package sandboxoverhead

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// TestPendingMessageShortAtScale checks that a pending pod's PodScheduled
// message stays under 2 KB on a 5 000-node cluster where every node is full
// in its own way (different committed memory, /dev/shm and VM counts): the
// scheduler groups identical reasons ("4000 insufficient committed memory:
// VM needs ..."), so reasons must name only the pod's own need. The message
// is built the way kube-scheduler builds it, by framework.FitError.
func TestPendingMessageShortAtScale(t *testing.T) {
	const numNodes = 5000
	_, ctx := ktesting.NewTestContext(t)
	var nodes []*v1.Node
	var existing []*v1.Pod
	for i := range numNodes {
		name := fmt.Sprintf("n%d", i)
		// 16Gi nodes, /dev/shm of 6-9Gi, 3-6 VM slots, 1-3 VMs of different
		// sizes: no two nodes have the same numbers left.
		nodes = append(nodes, makeNode(name, fmt.Sprintf("%dMi", 16*1024+i%97), map[v1.ResourceName]string{
			wellknown.ResourceSandboxMemory: fmt.Sprintf("%dGi", 6+i%4),
			wellknown.ResourceSandboxes:     fmt.Sprint(3 + i%4),
		}, nil))
		for j := range 1 + i%3 {
			existing = append(existing, podOn(fmt.Sprintf("%s-vm%d", name, j), "kata-qemu", fmt.Sprintf("%dMi", 2048+(i*7+j)%1024), name))
		}
	}
	pl, snap := setup(ctx, t, defaultArgs(t), existing, nodes)
	incoming := podOn("pending", "kata-qemu", "12Gi", "")

	cs := framework.NewCycleState()
	infos := nodeInfos(t, snap)
	if _, s := pl.PreFilter(ctx, cs, incoming, infos); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	statuses := framework.NewDefaultNodeToStatus()
	rejected := 0
	for _, ni := range infos {
		if s := pl.Filter(ctx, cs, incoming, ni); !s.IsSuccess() {
			s.SetPlugin(Name)
			statuses.Set(ni.Node().Name, s)
			rejected++
		}
	}
	if rejected != numNodes {
		t.Fatalf("%d of %d nodes rejected the 14Gi VM, want all", rejected, numNodes)
	}
	fitErr := &framework.FitError{Pod: incoming, NumAllNodes: numNodes, Diagnosis: framework.Diagnosis{
		NodeToStatus: statuses, UnschedulablePlugins: sets.New(Name)}}
	msg := fitErr.Error()
	if len(msg) >= 2048 {
		t.Errorf("PodScheduled message is %d bytes at %d nodes, want < 2048:\n%.3000s", len(msg), numNodes, msg)
	}
	t.Logf("message (%d bytes): %s", len(msg), msg)
}
