package harness

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mtscn/mtscn/pkg/schedulercmd"
)

// CreateNamespace creates a namespace with labels.
func (cp *ControlPlane) CreateNamespace(t testing.TB, name string, labels map[string]string) *v1.Namespace {
	t.Helper()
	var ns *v1.Namespace
	err := Retry(cp.Ctx, "creating namespace", func(ctx context.Context) error {
		var err error
		ns, err = cp.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
		return err
	})
	if err == nil && ns == nil {
		// A timed-out create that was applied after all.
		err = Retry(cp.Ctx, "reading namespace", func(ctx context.Context) error {
			var err error
			ns, err = cp.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			return err
		})
	}
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return ns
}

// CreateRuntimeClass creates a RuntimeClass with the given handler, pod
// overhead (may be nil) and labels.
func (cp *ControlPlane) CreateRuntimeClass(t testing.TB, name, handler string, overhead v1.ResourceList, labels map[string]string) *nodev1.RuntimeClass {
	t.Helper()
	rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Handler: handler}
	if overhead != nil {
		rc.Overhead = &nodev1.Overhead{PodFixed: overhead}
	}
	var got *nodev1.RuntimeClass
	err := Retry(cp.Ctx, "creating runtime class", func(ctx context.Context) error {
		var err error
		got, err = cp.Client.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{})
		return err
	})
	if err == nil && got == nil {
		// A timed-out create that was applied after all.
		err = Retry(cp.Ctx, "reading runtime class", func(ctx context.Context) error {
			var err error
			got, err = cp.Client.NodeV1().RuntimeClasses().Get(ctx, name, metav1.GetOptions{})
			return err
		})
	}
	if err != nil {
		t.Fatalf("creating runtime class %s: %v", name, err)
	}
	return got
}

// CreateNode creates a node and sets its status: allocatable defaults to
// capacity, and the node is Ready.
func (cp *ControlPlane) CreateNode(t testing.TB, node *v1.Node) *v1.Node {
	t.Helper()
	status := *node.Status.DeepCopy()
	if status.Allocatable == nil {
		status.Allocatable = status.Capacity.DeepCopy()
	}
	if status.Capacity == nil {
		status.Capacity = status.Allocatable.DeepCopy()
	}
	if _, ok := status.Capacity[v1.ResourcePods]; !ok {
		status.Capacity[v1.ResourcePods] = *resourcePods
		status.Allocatable[v1.ResourcePods] = *resourcePods
	}
	status.Conditions = append(status.Conditions, v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now()})
	err := Retry(cp.Ctx, "creating node", func(ctx context.Context) error {
		_, err := cp.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("creating node %s: %v", node.Name, err)
	}
	var updated *v1.Node
	err = Retry(cp.Ctx, "setting node status", func(ctx context.Context) error {
		created, err := cp.Client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		created.Status = status
		updated, err = cp.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("setting status of node %s: %v", node.Name, err)
	}
	return updated
}

// CreatePod creates a pod; an empty schedulerName becomes mtscn-scheduler.
func (cp *ControlPlane) CreatePod(t testing.TB, pod *v1.Pod) *v1.Pod {
	t.Helper()
	if pod.Spec.SchedulerName == "" {
		pod.Spec.SchedulerName = schedulercmd.SchedulerName
	}
	if len(pod.Spec.Containers) == 0 {
		pod.Spec.Containers = []v1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}
	}
	got, err := cp.Client.CoreV1().Pods(pod.Namespace).Create(cp.Ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	return got
}
