package simulate

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

func TestTrimPreemptionAndSplitReason(t *testing.T) {
	tests := []struct {
		name      string
		message   string
		wantHead  string
		wantItems []string
	}{
		{
			name:      "prefilter rejection",
			message:   "0/6 nodes are available: tenant requires a sandboxed runtime class. no new claims to deallocate, preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling.",
			wantHead:  "0/6 nodes are available",
			wantItems: []string{"tenant requires a sandboxed runtime class"},
		},
		{
			name:     "per-node verdicts, some listing several features",
			message:  "0/3 nodes are available: 1 node is reserved by an exclusive tenant, 1 node lacks: usable /dev/kvm, kata-qemu-snp runtime handler, SEV-SNP, 1 node runs shared-kernel pods of another tenant. no new claims to deallocate, preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
			wantHead: "0/3 nodes are available",
			wantItems: []string{
				"1 node is reserved by an exclusive tenant",
				"1 node lacks: usable /dev/kvm, kata-qemu-snp runtime handler, SEV-SNP",
				"1 node runs shared-kernel pods of another tenant",
			},
		},
		{
			name:     "no head",
			message:  "not tried yet",
			wantHead: "not tried yet",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			head, items := SplitReason(trimPreemption(tc.message))
			if diff := cmp.Diff(tc.wantHead, head); diff != "" {
				t.Errorf("head (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantItems, items); diff != "" {
				t.Errorf("items (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestWritePendingGroupsIdenticalReasons(t *testing.T) {
	const memory = "0/2 nodes are available: 2 insufficient committed memory"
	outcomes := []Outcome{
		{Namespace: "a", Name: "web-1", RuntimeClass: "kata-qemu", Node: "n1"},
		{Namespace: "a", Name: "big-1", RuntimeClass: "kata-qemu", Reason: memory},
		{Namespace: "a", Name: "big-2", RuntimeClass: "kata-qemu", Reason: memory},
		{Namespace: "b", Name: "big-1", RuntimeClass: "kata-qemu", Reason: memory},
		{Namespace: "b", Name: "job", Reason: "0/2 nodes are available: tenant requires a sandboxed runtime class"},
	}
	var out bytes.Buffer
	if err := WritePending(&out, outcomes); err != nil {
		t.Fatal(err)
	}
	want := `a/big-1, big-2 (kata-qemu): 0/2 nodes are available
    2 insufficient committed memory
b/big-1 (kata-qemu): 0/2 nodes are available
    2 insufficient committed memory
b/job (runc): 0/2 nodes are available
    tenant requires a sandboxed runtime class
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("output (-want,+got):\n%s", diff)
	}

	out.Reset()
	if err := WritePending(&out, outcomes[:1]); err != nil {
		t.Fatal(err)
	}
	if out.String() != "none\n" {
		t.Errorf("no pending pods: got %q, want %q", out.String(), "none\n")
	}
}

// TestMemoryByNode checks the sums against hand-computed footprints of
// Kata's defaults: a kata-qemu VM (hotplug) commits 2Gi default guest
// memory + its limits + 96Mi VMM; Kubernetes counts requests + overhead.
func TestMemoryByNode(t *testing.T) {
	policy, err := audit.DefaultPolicy()
	if err != nil {
		t.Fatal(err)
	}
	node := st.MakeNode().Name("n1").Capacity(map[v1.ResourceName]string{v1.ResourceMemory: "8Gi", wellknown.ResourceSandboxMemory: "4Gi"}).Obj()
	node.Status.Allocatable = node.Status.Capacity
	empty := st.MakeNode().Name("n0").Capacity(map[v1.ResourceName]string{v1.ResourceMemory: "4Gi"}).Obj()
	empty.Status.Allocatable = empty.Status.Capacity
	rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "kata-qemu"}, Handler: "kata-qemu"}
	vm := func(name string) *v1.Pod {
		p := st.MakePod().Namespace("a").Name(name).Node("n1").Container("app").Obj()
		p.Spec.Containers[0].Resources = v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   v1.ResourceList{v1.ResourceMemory: resource.MustParse("1Gi")},
		}
		p.Spec.RuntimeClassName = ptr.To("kata-qemu")
		p.Spec.Overhead = v1.ResourceList{v1.ResourceMemory: resource.MustParse("320Mi")}
		return p
	}
	runc := st.MakePod().Namespace("a").Name("runc").Node("n1").Req(map[v1.ResourceName]string{v1.ResourceMemory: "1Gi"}).Obj()
	done := st.MakePod().Namespace("a").Name("done").Node("n1").Req(map[v1.ResourceName]string{v1.ResourceMemory: "4Gi"}).Phase(v1.PodSucceeded).Obj()
	snap := audit.Snapshot{
		Nodes:          []*v1.Node{node, empty},
		Pods:           []*v1.Pod{vm("vm-1"), vm("vm-2"), runc, done},
		Namespaces:     []*v1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}},
		RuntimeClasses: []*nodev1.RuntimeClass{rc},
	}
	const mi = int64(1 << 20)
	want := []NodeMemory{
		{Node: "n0", Allocatable: 4096 * mi},
		{
			Node: "n1", Allocatable: 8192 * mi, SandboxMemory: 4096 * mi, VMs: 2,
			Counted:   2*(256+320)*mi + 1024*mi,
			Committed: 2*(2048+1024+96)*mi + 1024*mi,
			Shared:    2 * (2048 + 1024) * mi,
		},
	}
	got, err := MemoryByNode(snap, policy)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MemoryByNode (-want,+got):\n%s", diff)
	}
	if !got[1].SharedOverflow() || got[1].Overcommitted() {
		t.Errorf("n1: SharedOverflow=%v Overcommitted=%v, want true, false", got[1].SharedOverflow(), got[1].Overcommitted())
	}
}
