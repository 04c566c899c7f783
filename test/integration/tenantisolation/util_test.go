package tenantisolation

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/pkg/wellknown"
	"github.com/mtscn/mtscn/test/integration/harness"
)

// Runtime classes every test cluster has.
const (
	rcKata = "kata"   // handler kata-qemu: sandboxed by the default globs
	rcCLH  = "clh"    // handler kata-clh
	rcRunc = "runc"   // handler runc: shared kernel
	pcHigh = "high"   // PriorityClass value 1000
	pcMid  = "medium" // PriorityClass value 100
)

// groupLabel keeps a test's pods on the test's nodes, so tests can share one
// control plane and scheduler.
const groupLabel = "test.mtscn.io/group"

// setupCluster starts a control plane and the shipped scheduler, and
// creates the runtime classes and priority classes the tests use.
func setupCluster(t testing.TB) *harness.ControlPlane {
	t.Helper()
	cp := harness.StartControlPlane(t)
	cp.CreateRuntimeClass(t, rcKata, "kata-qemu", v1.ResourceList{v1.ResourceMemory: resource.MustParse("320Mi"), v1.ResourceCPU: resource.MustParse("250m")}, nil)
	cp.CreateRuntimeClass(t, rcCLH, "kata-clh", v1.ResourceList{v1.ResourceMemory: resource.MustParse("130Mi"), v1.ResourceCPU: resource.MustParse("250m")}, nil)
	cp.CreateRuntimeClass(t, rcRunc, "runc", nil, nil)
	for name, value := range map[string]int32{pcHigh: 1000, pcMid: 100} {
		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
		if _, err := cp.Client.SchedulingV1().PriorityClasses().Create(cp.Ctx, pc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating priority class %s: %v", name, err)
		}
	}
	cp.StartScheduler(t)
	return cp
}

// makeNode returns a node of the group that every plugin but TenantIsolation
// accepts for any test pod: plenty of memory for Kata VMs, /dev/kvm and the
// Kata handlers advertised.
func makeNode(name, group string, labels map[string]string) *v1.Node {
	n := st.MakeNode().Name(name).Capacity(map[v1.ResourceName]string{
		v1.ResourceCPU: "64", v1.ResourceMemory: "1Ti", v1.ResourcePods: "110",
	}).Label(groupLabel, group).
		Label(wellknown.LabelKVM, "true").
		Label(wellknown.LabelVirtMode, "hardware").
		Label(wellknown.LabelCotenancySafe, wellknown.ValueTrue).
		Label(wellknown.LabelRuntimePrefix+"kata-qemu", "true").
		Label(wellknown.LabelRuntimePrefix+"kata-clh", "true").Obj()
	for k, v := range labels {
		n.Labels[k] = v
	}
	return n
}

// makePod returns a pod of the group with the runtime class ("" for the
// default runtime) and priority class ("" for none).
func makePod(namespace, name, group, runtimeClass, priorityClass string) *v1.Pod {
	p := st.MakePod().Namespace(namespace).Name(name).NodeSelector(map[string]string{groupLabel: group}).Obj()
	if runtimeClass != "" {
		p.Spec.RuntimeClassName = ptr.To(runtimeClass)
	}
	p.Spec.PriorityClassName = priorityClass
	return p
}

// forceDelete deletes a pod at once, as a kubelet confirming termination.
func forceDelete(ctx context.Context, cp *harness.ControlPlane, namespace, name string) error {
	err := cp.Client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// fakeKubelet force-deletes the terminating pods of the namespaces until ctx
// ends: without a kubelet, pods evicted by preemption would stay
// Terminating forever.
func fakeKubelet(ctx context.Context, cp *harness.ControlPlane, namespaces ...string) {
	for {
		for _, ns := range namespaces {
			pods, err := cp.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil {
					_ = forceDelete(ctx, cp, p.Namespace, p.Name)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}
