package audit

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// ocPod is a pod bound to node with memory requests = limits and, for a
// RuntimeClass, the overhead the admission controller would have copied.
func ocPod(namespace, name, runtimeClass, memory, node string) *v1.Pod {
	p := st.MakePod().Namespace(namespace).Name(name).Node(node).Res(map[v1.ResourceName]string{v1.ResourceMemory: memory}).Obj()
	if runtimeClass != "" {
		p.Spec.RuntimeClassName = &runtimeClass
		p.Spec.Overhead = v1.ResourceList{v1.ResourceMemory: resource.MustParse("320Mi")}
	}
	return p
}

func ocNode(name, memory string, ext map[v1.ResourceName]string, labels map[string]string) *v1.Node {
	c := map[v1.ResourceName]string{v1.ResourceMemory: memory}
	for k, v := range ext {
		c[k] = v
	}
	n := st.MakeNode().Name(name).Capacity(c).Obj()
	n.Labels = labels
	return n
}

func ocSnapshot(nodes []*v1.Node, pods ...*v1.Pod) Snapshot {
	return Snapshot{
		Nodes: nodes,
		Pods:  pods,
		Namespaces: []*v1.Namespace{
			{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{wellknown.LabelTenant: "A"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "b"}},
		},
		RuntimeClasses: []*nodev1.RuntimeClass{
			{ObjectMeta: metav1.ObjectMeta{Name: "kata-qemu"}, Handler: "kata-qemu"},
			{ObjectMeta: metav1.ObjectMeta{Name: "kata-clh"}, Handler: "kata-clh"},
		},
	}
}

func vms(n int, namespace, runtimeClass, node string) []*v1.Pod {
	var out []*v1.Pod
	for i := range n {
		out = append(out, ocPod(namespace, fmt.Sprintf("%s-%d", runtimeClass, i), runtimeClass, "512Mi", node))
	}
	return out
}

func TestCheckResources(t *testing.T) {
	cfg := tenancy.Config{
		TenantLabelKeys:   configv1.DefaultTenantLabelKeys,
		SandboxedHandlers: configv1.DefaultSandboxedHandlers,
		OffNodeHandlers:   configv1.DefaultOffNodeHandlers,
	}
	eight := []*v1.Node{ocNode("n", "8Gi", nil, nil)}
	tests := []struct {
		name string
		snap Snapshot
		want []Violation
	}{
		{
			name: "three 2.6Gi VMs fit 8Gi",
			snap: ocSnapshot(eight, vms(3, "a", "kata-qemu", "n")...),
		},
		{
			name: "nine VMs the default scheduler would bind commit 23.4Gi",
			snap: ocSnapshot(eight, vms(9, "a", "kata-qemu", "n")...),
			want: []Violation{{Rule: RuleF1, Node: "n", Tenants: []string{"A"},
				Pods:    []string{"a/kata-qemu-0", "a/kata-qemu-1", "a/kata-qemu-2", "a/kata-qemu-3", "a/kata-qemu-4", "a/kata-qemu-5", "a/kata-qemu-6", "a/kata-qemu-7", "a/kata-qemu-8"},
				Message: "node n: pods commit 23.4Gi (VM footprints included) but allocatable memory is 8Gi"}},
		},
		{
			name: "runc pods fit by requests, one VM tips the node over",
			snap: ocSnapshot(eight, append(vms(1, "b", "kata-qemu", "n"), ocPod("a", "web", "", "6Gi", "n"))...),
			want: []Violation{{Rule: RuleF1, Node: "n", Tenants: []string{"A", "namespace/b"}, Pods: []string{"a/web", "b/kata-qemu-0"},
				Message: "node n: pods commit 8.6Gi (VM footprints included) but allocatable memory is 8Gi"}},
		},
		{
			name: "the node's own 1Gi default_memory makes four VMs fit",
			snap: ocSnapshot([]*v1.Node{ocNode("n", "8Gi", nil, map[string]string{wellknown.DefaultMemoryLabel("kata-qemu"): "1024"})},
				vms(4, "a", "kata-qemu", "n")...),
		},
		{
			name: "terminal and unbound pods commit nothing",
			snap: func() Snapshot {
				ps := vms(4, "a", "kata-qemu", "n")
				ps[0].Status.Phase = v1.PodFailed
				ps = append(ps, ocPod("a", "pending", "kata-qemu", "8Gi", ""))
				return ocSnapshot(eight, ps...)
			}(),
		},
		{
			name: "shm-backed guests exceed sandbox-memory; CLH guests do not count",
			snap: ocSnapshot([]*v1.Node{ocNode("n", "64Gi", map[v1.ResourceName]string{wellknown.ResourceSandboxMemory: "4Gi"}, nil)},
				append(vms(2, "a", "kata-qemu", "n"), vms(4, "a", "kata-clh", "n")...)...),
			want: []Violation{{Rule: RuleF2, Node: "n", Tenants: []string{"A"},
				Pods:    []string{"a/kata-clh-0", "a/kata-clh-1", "a/kata-clh-2", "a/kata-clh-3", "a/kata-qemu-0", "a/kata-qemu-1"},
				Message: "node n: /dev/shm-backed VM guests need 5Gi but mtscn.io/sandbox-memory is 4Gi"}},
		},
		{
			name: "F3: three VMs on a node with two VM slots; gVisor-less runc pods and off-node VMs take none",
			snap: ocSnapshot([]*v1.Node{ocNode("n", "64Gi", map[v1.ResourceName]string{wellknown.ResourceSandboxes: "2"}, nil)},
				append(vms(3, "a", "kata-clh", "n"), ocPod("a", "web", "", "1Gi", "n"))...),
			want: []Violation{{Rule: RuleF3, Node: "n", Tenants: []string{"A"},
				Pods:    []string{"a/kata-clh-0", "a/kata-clh-1", "a/kata-clh-2", "a/web"},
				Message: "node n runs 3 VMs but mtscn.io/sandboxes is 2"}},
		},
		{
			name: "F3: two VMs fit two slots",
			snap: ocSnapshot([]*v1.Node{ocNode("n", "64Gi", map[v1.ResourceName]string{wellknown.ResourceSandboxes: "2"}, nil)},
				append(vms(2, "a", "kata-clh", "n"), ocPod("a", "web", "", "1Gi", "n"))...),
		},
		{
			name: "running VMs whose RuntimeClass was deleted still count as VMs, sized by the class name's handler",
			snap: ocSnapshot(eight, vms(9, "a", "kata-gone", "n")...),
			want: []Violation{{Rule: RuleF1, Node: "n", Tenants: []string{"A"},
				Pods:    []string{"a/kata-gone-0", "a/kata-gone-1", "a/kata-gone-2", "a/kata-gone-3", "a/kata-gone-4", "a/kata-gone-5", "a/kata-gone-6", "a/kata-gone-7", "a/kata-gone-8"},
				Message: "node n: pods commit 23.4Gi (VM footprints included) but allocatable memory is 8Gi"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckResources(tc.snap, ResourceOptions{Tenancy: cfg})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("violations (-want,+got):\n%s", diff)
			}
		})
	}
}
