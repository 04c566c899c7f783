package sandboxfeatures

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/plugins/sandboxfeatures"
	"github.com/mtscn/mtscn/pkg/wellknown"
	"github.com/mtscn/mtscn/test/integration/harness"
)

const (
	ns     = "tenant-a"
	qatCy  = v1.ResourceName("qat.intel.com/cy")
	bindIn = 30 * time.Second
)

// nodeWith builds a node with room for several VMs, the given labels
// (key, value pairs) and extended resources.
func nodeWith(name string, ext map[v1.ResourceName]string, labels ...string) *v1.Node {
	return sizedNode(name, "32", "128Gi", ext, labels...)
}

func sizedNode(name, cpu, memory string, ext map[v1.ResourceName]string, labels ...string) *v1.Node {
	capacity := map[v1.ResourceName]string{v1.ResourceCPU: cpu, v1.ResourceMemory: memory, v1.ResourcePods: "110"}
	for k, v := range ext {
		capacity[k] = v
	}
	w := st.MakeNode().Name(name).Capacity(capacity)
	for i := 0; i+1 < len(labels); i += 2 {
		w = w.Label(labels[i], labels[i+1])
	}
	return w.Obj()
}

func runtimeLabel(handler string) string { return wellknown.LabelRuntimePrefix + handler }

// makePod builds a pod of the test tenant with a RuntimeClass ("" for the
// default runtime) and optional extended resources.
func makePod(name, runtimeClass string, ext map[v1.ResourceName]string) *v1.Pod {
	res := map[v1.ResourceName]string{v1.ResourceCPU: "100m", v1.ResourceMemory: "128Mi"}
	for k, v := range ext {
		res[k] = v
	}
	p := st.MakePod().Namespace(ns).Name(name).Res(res).Obj()
	if runtimeClass != "" {
		p.Spec.RuntimeClassName = &runtimeClass
	}
	return p
}

// setup starts a control plane and the shipped scheduler, with one tenant
// namespace and kata-deploy's RuntimeClasses.
func setup(t *testing.T) *harness.ControlPlane {
	t.Helper()
	cp := harness.StartControlPlane(t)
	cp.StartScheduler(t)
	cp.CreateNamespace(t, ns, map[string]string{"mtscn.io/tenant": "a"})
	overhead := v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("320Mi")}
	for _, h := range []string{"kata-qemu", "kata-clh", "kata-qemu-tdx"} {
		cp.CreateRuntimeClass(t, h, h, overhead, nil)
	}
	cp.CreateRuntimeClass(t, "runc", "runc", nil, nil)
	return cp
}

// TestPlacementByNodeFeatures runs on one cluster of four nodes that differ
// only in their virtualization features:
//
//	tdx       KVM, kata-qemu and kata-qemu-tdx handlers, TDX enabled; a
//	          quarter of the others' CPU and memory, so that every other
//	          scoring plugin prefers the other nodes
//	vfio      KVM, kata-qemu, IOMMU, QAT VFs on vfio-pci, 4 qat.intel.com/cy
//	qat-host  KVM, kata-qemu, 4 qat.intel.com/cy with VFs on the host driver
//	no-kvm    kata-qemu configured but no usable KVM, 4 qat.intel.com/cy
func TestPlacementByNodeFeatures(t *testing.T) {
	cp := setup(t)
	kata := []string{wellknown.LabelKVM, "true", wellknown.LabelVirtMode, "hardware", runtimeLabel("kata-qemu"), "true"}
	cp.CreateNode(t, sizedNode("tdx", "8", "32Gi", nil, append([]string{runtimeLabel("kata-qemu-tdx"), "true", wellknown.LabelTDX, "true"}, kata...)...))
	cp.CreateNode(t, nodeWith("vfio", map[v1.ResourceName]string{qatCy: "4"}, append([]string{wellknown.LabelIOMMU, "true", wellknown.LabelQATVFIO, "true"}, kata...)...))
	cp.CreateNode(t, nodeWith("qat-host", map[v1.ResourceName]string{qatCy: "4"}, kata...))
	cp.CreateNode(t, nodeWith("no-kvm", map[v1.ResourceName]string{qatCy: "4"}, wellknown.LabelKVM, "false", runtimeLabel("kata-qemu"), "true"))

	t.Run("kata-qemu-tdx pods land only on the TDX node", func(t *testing.T) {
		for i := range 3 {
			cp.CreatePod(t, makePod(fmt.Sprintf("tdx-%d", i), "kata-qemu-tdx", nil))
		}
		for i := range 3 {
			if got := cp.WaitForBound(t, ns, fmt.Sprintf("tdx-%d", i), bindIn); got != "tdx" {
				t.Errorf("tdx-%d bound to %s, want tdx", i, got)
			}
		}
	})

	t.Run("Kata QAT pods land only on the node with IOMMU and vfio-bound VFs", func(t *testing.T) {
		for i := range 2 {
			cp.CreatePod(t, makePod(fmt.Sprintf("kata-qat-%d", i), "kata-qemu", map[v1.ResourceName]string{qatCy: "1"}))
		}
		for i := range 2 {
			if got := cp.WaitForBound(t, ns, fmt.Sprintf("kata-qat-%d", i), bindIn); got != "vfio" {
				t.Errorf("kata-qat-%d bound to %s, want vfio", i, got)
			}
		}
		// vfio has 2 VFs left; a Kata pod asking for 3 fits nowhere: the
		// nodes with free VFs cannot pass them through.
		cp.CreatePod(t, makePod("kata-qat-big", "kata-qemu", map[v1.ResourceName]string{qatCy: "3"}))
		msg := cp.WaitForUnschedulable(t, ns, "kata-qat-big", bindIn)
		for _, want := range []string{
			"Insufficient qat.intel.com/cy", // vfio
			"1 " + sandboxfeatures.ErrReasonNodeLacks + "IOMMU, QAT VFs bound to vfio-pci",                  // qat-host
			"1 " + sandboxfeatures.ErrReasonNodeLacks + "usable /dev/kvm, IOMMU, QAT VFs bound to vfio-pci", // no-kvm
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("unschedulable message %q does not contain %q", msg, want)
			}
		}
	})

	t.Run("runc QAT pods land anywhere the resource is free", func(t *testing.T) {
		// 4 free VFs on qat-host and no-kvm, 2 on vfio: pods of 4, 4 and 2
		// fit only one per node, so all three nodes must be used. The large
		// pods go first: a pod of 2 scheduled first may take half of a node
		// with 4, and a pod of 4 would then fit nowhere.
		sizes := []struct{ name, n string }{{"runc-qat-0", "4"}, {"runc-qat-1", "4"}, {"runc-qat-2", "2"}}
		got := sets.New[string]()
		for _, s := range sizes {
			cp.CreatePod(t, makePod(s.name, "runc", map[v1.ResourceName]string{qatCy: s.n}))
			got.Insert(cp.WaitForBound(t, ns, s.name, bindIn))
		}
		if diff := cmp.Diff([]string{"no-kvm", "qat-host", "vfio"}, sets.List(got)); diff != "" {
			t.Errorf("nodes of the runc QAT pods (-want,+got):\n%s", diff)
		}
	})
}

// TestKataPodWaitsForKVM checks that a Kata pod stays pending, with the
// reason, while no node has usable KVM, and that the queueing hints bind it
// as soon as a node can run it: a node that joins, or an existing node that
// NFD relabels. Both must happen far sooner than the scheduler's 5-minute
// flush of unschedulable pods.
func TestKataPodWaitsForKVM(t *testing.T) {
	cp := setup(t)
	cp.CreateNode(t, nodeWith("no-kvm", nil, wellknown.LabelKVM, "false", runtimeLabel("kata-qemu"), "true"))
	cp.CreateNode(t, nodeWith("unlabelled", nil))
	const requeueWithin = 20 * time.Second

	cp.CreatePod(t, makePod("vm", "kata-qemu", nil))
	msg := cp.WaitForUnschedulable(t, ns, "vm", bindIn)
	// "0/2 nodes are available: 1 node lacks: usable /dev/kvm, 1 node
	// lacks: usable /dev/kvm, kata-qemu runtime handler. ..."
	if got := strings.Count(msg, sandboxfeatures.ErrReasonNodeLacks+"usable /dev/kvm"); got != 2 {
		t.Errorf("unschedulable message %q: %d nodes lacking KVM, want 2", msg, got)
	}
	if !strings.Contains(msg, sandboxfeatures.ErrReasonNodeLacks+"usable /dev/kvm, kata-qemu runtime handler") {
		t.Errorf("unschedulable message %q does not say the unlabelled node also lacks the handler", msg)
	}
	// A node that does not help must not bind it.
	cp.CreateNode(t, nodeWith("kvm-without-kata", nil, wellknown.LabelKVM, "true"))
	cp.ExpectNotBound(t, ns, "vm", 2*time.Second)

	t.Run("a node with KVM joins", func(t *testing.T) {
		start := time.Now()
		cp.CreateNode(t, nodeWith("kvm", nil, wellknown.LabelKVM, "true", runtimeLabel("kata-qemu"), "true"))
		if got := cp.WaitForBound(t, ns, "vm", requeueWithin); got != "kvm" {
			t.Errorf("bound to %s, want kvm", got)
		}
		t.Logf("bound %v after the node was created", time.Since(start).Round(time.Millisecond))
	})

	t.Run("NFD labels an existing node", func(t *testing.T) {
		cp.CreatePod(t, makePod("vm-clh", "kata-clh", nil))
		msg := cp.WaitForUnschedulable(t, ns, "vm-clh", bindIn)
		if !strings.Contains(msg, "kata-clh runtime handler") {
			t.Errorf("unschedulable message %q does not name the missing kata-clh handler", msg)
		}
		start := time.Now()
		node, err := cp.Client.CoreV1().Nodes().Get(cp.Ctx, "kvm-without-kata", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		node.Labels[runtimeLabel("kata-clh")] = "true"
		if _, err := cp.Client.CoreV1().Nodes().Update(cp.Ctx, node, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("labelling node: %v", err)
		}
		if got := cp.WaitForBound(t, ns, "vm-clh", requeueWithin); got != "kvm-without-kata" {
			t.Errorf("bound to %s, want kvm-without-kata", got)
		}
		t.Logf("bound %v after the node was labelled", time.Since(start).Round(time.Millisecond))
	})
}
