package quality

import (
	"context"
	"fmt"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"

	"github.com/mtscn/mtscn/bench/workload"
	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/devcluster"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// runner places pods for one profile on one running control plane.
type runner struct {
	opts          Options
	profile       string
	client        kubernetes.Interface
	sched         *devcluster.Scheduler
	schedulerName string
	iso           audit.IsolationOptions
	model         *vmsize.Model
}

// createPods creates the pods for the profile's scheduler, 8 at a time.
func (r *runner) createPods(ctx context.Context, pods []*v1.Pod) error {
	var createErr error
	workqueue.ParallelizeUntil(ctx, 8, len(pods), func(i int) {
		p := pods[i].DeepCopy()
		p.Spec.SchedulerName = r.schedulerName
		if _, err := r.client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil && createErr == nil {
			createErr = fmt.Errorf("creating Pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	})
	return createErr
}

// settleAndAudit waits until the scheduler settled on total pods (or the
// timeout) and audits the placement.
func (r *runner) settleAndAudit(ctx context.Context, start time.Time, total int) (Placement, error) {
	settled, err := waitSettled(ctx, r.client, r.sched, total, r.opts.Timeout, func(placed, pending int) {
		progressf(r.opts.Progress, "%s: %d placed, %d unschedulable after %.0fs", r.profile, placed, pending, time.Since(start).Seconds())
	})
	if err != nil {
		return Placement{}, err
	}
	seconds := time.Since(start).Seconds()
	if !settled {
		progressf(r.opts.Progress, "%s: the scheduler has not settled after %s; auditing the placement as it stands", r.profile, r.opts.Timeout)
	}
	snap, err := audit.ReadSnapshot(ctx, r.client)
	if err != nil {
		return Placement{}, err
	}
	p, err := auditSnapshot(*snap, r.iso, r.model)
	if err != nil {
		return Placement{}, err
	}
	p.Settled, p.Seconds = settled, seconds
	progressf(r.opts.Progress, "%s: %d nodes used %v (lower bounds: memory %d, tenancy %d), %d violations, %d overcommitted nodes, %d pending",
		r.profile, p.NodesUsed, p.NodesUsedByClass, p.LowerBound, p.TenancyLowerBound, p.TotalViolations(), p.OvercommittedNodes, p.Pending)
	return p, nil
}

// auditSnapshot counts placed, pending and untried pods and nodes used,
// computes the bounds and runs pkg/audit's checks.
func auditSnapshot(snap audit.Snapshot, iso audit.IsolationOptions, model *vmsize.Model) (Placement, error) {
	p := Placement{Violations: map[audit.Rule]int{}}
	used := map[string]bool{}
	for _, pod := range snap.Pods {
		if pod.Spec.NodeName == "" {
			if msg, ok := unschedulableMessage(pod); ok {
				p.Pending++
				if p.PendingReasons == nil {
					p.PendingReasons = map[string]int{}
				}
				p.PendingReasons[msg]++
			} else {
				p.Untried++
			}
			continue
		}
		p.Placed++
		used[pod.Spec.NodeName] = true
	}
	p.NodesUsed = len(used)
	for _, n := range snap.Nodes {
		if used[n.Name] {
			if p.NodesUsedByClass == nil {
				p.NodesUsedByClass = map[string]int{}
			}
			p.NodesUsedByClass[n.Labels[workload.LabelClass]]++
		}
	}
	b, err := LowerBounds(snap, iso.Tenancy, model)
	if err != nil {
		return Placement{}, err
	}
	p.LowerBound, p.ShmLowerBound, p.TenancyLowerBound = b.Memory, b.Shm, b.Tenancy
	for _, v := range audit.Check(snap, iso) {
		p.Violations[v.Rule]++
	}
	over, err := audit.CheckResources(snap, audit.ResourceOptions{Tenancy: iso.Tenancy, Model: model})
	if err != nil {
		return Placement{}, err
	}
	nodes := map[string]bool{}
	for _, v := range over {
		nodes[v.Node] = true
		if len(p.Overcommits) < maxOvercommits {
			p.Overcommits = append(p.Overcommits, fmt.Sprintf("%s: %s (pods %s)", v.Rule, v.Message, strings.Join(v.Pods, " ")))
		}
	}
	p.OvercommittedNodes = len(nodes)
	return p, nil
}

// maxOvercommits bounds Placement.Overcommits.
const maxOvercommits = 10
