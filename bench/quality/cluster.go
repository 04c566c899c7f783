package quality

import (
	"context"
	"fmt"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/bench/workload"
	"github.com/mtscn/mtscn/pkg/devcluster"
)

// createCluster creates the RuntimeClasses, Namespaces and Nodes (Ready,
// allocatable = capacity, as a kubelet would report).
func createCluster(ctx context.Context, client kubernetes.Interface, objs *workload.Objects) error {
	for _, rc := range objs.RuntimeClasses {
		if _, err := client.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating RuntimeClass %s: %w", rc.Name, err)
		}
	}
	for _, ns := range objs.Namespaces {
		if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating Namespace %s: %w", ns.Name, err)
		}
	}
	var firstErr error
	workqueue.ParallelizeUntil(ctx, 8, len(objs.Nodes), func(i int) {
		n := objs.Nodes[i].DeepCopy()
		status := n.Status
		if status.Allocatable == nil {
			status.Allocatable = status.Capacity.DeepCopy()
		}
		created, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err == nil {
			created.Status = status
			_, err = client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("creating Node %s: %w", n.Name, err)
		}
	})
	return firstErr
}

// waitSettled waits until every pod is bound or marked unschedulable and
// the scheduler has nothing left to retry. It returns false when the
// timeout came first.
func waitSettled(ctx context.Context, client kubernetes.Interface, sched *devcluster.Scheduler, total int, timeout time.Duration, report func(placed, pending int)) (bool, error) {
	lastReport := time.Now()
	idleSince := time.Time{}
	// Each poll lists every pod; at 10 000 pods a list a second costs the
	// apiserver a noticeable share of the 2 cores the scheduler needs.
	interval := time.Second
	if total > 5000 {
		interval = 5 * time.Second
	}
	err := wait.PollUntilContextTimeout(ctx, interval, timeout, false, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			// Near the timeout the client's rate limiter refuses to wait
			// past the deadline; any other failure is retried too, and
			// the poll's own timeout ends the wait.
			klog.FromContext(ctx).V(2).Info("listing pods failed, retrying", "err", err)
			return false, nil
		}
		placed, pending := 0, 0
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Spec.NodeName != "" {
				placed++
			} else if unschedulable(p) {
				pending++
			}
		}
		if time.Since(lastReport) > 10*time.Second {
			report(placed, pending)
			lastReport = time.Now()
		}
		if placed+pending < total || !sched.Idle() {
			idleSince = time.Time{}
			return false, nil
		}
		if idleSince.IsZero() {
			idleSince = time.Now()
		}
		return time.Since(idleSince) >= 2*time.Second, nil
	})
	if wait.Interrupted(err) && ctx.Err() == nil {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("waiting for the scheduler to place %d pods: %w", total, err)
	}
	return true, nil
}

func unschedulable(p *v1.Pod) bool {
	_, ok := unschedulableMessage(p)
	return ok
}

// unschedulableMessage returns the PodScheduled=False message up to the
// preemption post-mortem.
func unschedulableMessage(p *v1.Pod) (string, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse {
			msg, _, _ := strings.Cut(c.Message, " preemption: ")
			msg = strings.ReplaceAll(msg, " no new claims to deallocate,", "")
			return strings.TrimSpace(msg), true
		}
	}
	return "", false
}
