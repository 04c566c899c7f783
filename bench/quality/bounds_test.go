package quality

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/vmsize"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

func boundsNode(name string) *v1.Node {
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: v1.NodeStatus{Allocatable: v1.ResourceList{
		v1.ResourceMemory:               resource.MustParse("64Gi"),
		wellknown.ResourceSandboxMemory: resource.MustParse("32Gi"),
	}}}
}

func boundsPod(ns, name, memory string, runtimeClass *string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.PodSpec{RuntimeClassName: runtimeClass, Containers: []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceMemory: resource.MustParse(memory)},
			Limits:   v1.ResourceList{v1.ResourceMemory: resource.MustParse(memory)},
		}}}},
	}
}

// TestLowerBounds: four small runc pods of two tenants and an exclusive
// tenant's sandboxed pod fit on one node by memory, but isolation needs a
// node per shared-kernel tenant, one for the exclusive tenant and one for
// the sandboxed pods that may share.
func TestLowerBounds(t *testing.T) {
	model, err := vmsize.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	kata := "kata-clh"
	ns := func(name string, labels map[string]string) *v1.Namespace {
		return &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	snap := audit.Snapshot{
		Nodes: []*v1.Node{boundsNode("n1"), boundsNode("n2"), boundsNode("n3"), boundsNode("n4"), boundsNode("n5"), boundsNode("n6")},
		Namespaces: []*v1.Namespace{
			ns("a", nil), ns("b", nil),
			ns("x", map[string]string{wellknown.LabelNodeSharing: wellknown.NodeSharingExclusive}),
			ns("s1", nil), ns("s2", nil),
		},
		RuntimeClasses: []*nodev1.RuntimeClass{{ObjectMeta: metav1.ObjectMeta{Name: kata}, Handler: kata}},
		Pods: []*v1.Pod{
			boundsPod("a", "a1", "1Gi", nil), boundsPod("a", "a2", "1Gi", nil),
			boundsPod("b", "b1", "1Gi", nil),
			boundsPod("x", "x1", "1Gi", &kata),
			boundsPod("s1", "s1", "1Gi", &kata), boundsPod("s2", "s2", "1Gi", &kata),
		},
	}
	b, err := LowerBounds(snap, defaultTenancy, model)
	if err != nil {
		t.Fatal(err)
	}
	if b.Memory != 1 || b.Tenancy != 4 {
		t.Errorf("bounds %+v, want memory 1 (all fits on one node), tenancy 4 (a, b, x alone, s1+s2 together)", b)
	}

	// Forty 1Gi sandboxed pods of two sharing tenants need two nodes by
	// memory (VM overheads included); the tenancy bound adds nothing.
	snap.Pods = nil
	for i := range 40 {
		snap.Pods = append(snap.Pods, boundsPod([]string{"s1", "s2"}[i%2], fmt.Sprintf("p%d", i), "1Gi", &kata))
	}
	if b, err = LowerBounds(snap, defaultTenancy, model); err != nil {
		t.Fatal(err)
	}
	if b.Memory < 2 || b.Tenancy != max(b.Memory, b.Shm) {
		t.Errorf("bounds %+v, want memory ≥ 2 and tenancy = max(memory, shm) for sandboxed tenants only", b)
	}
}
