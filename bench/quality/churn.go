package quality

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
)

// churnPlan picks the pods the churn phase deletes (a third of the
// workload, at random) and the new pods it creates (as many, each a copy of
// a random workload pod under a new name, so that the mix of tenants,
// runtimes and sizes stays the workload's). The same seed gives the same
// plan for every profile.
func churnPlan(pods []*v1.Pod, seed uint64) (deleted, created []*v1.Pod) {
	rng := rand.New(rand.NewPCG(seed, 0x6368_7572_6e)) // "churn"
	perm := rng.Perm(len(pods))
	n := len(pods) / 3
	for _, i := range perm[:n] {
		deleted = append(deleted, pods[i])
	}
	for i := range n {
		p := pods[rng.IntN(len(pods))].DeepCopy()
		p.Name = fmt.Sprintf("churn-%05d", i)
		created = append(created, p)
	}
	return deleted, created
}

// churn deletes and creates the pods of churnPlan at once (deletions
// first, with no grace period, as a kubelet confirming them would), then
// waits for the scheduler and audits again.
func (r *runner) churn(ctx context.Context, pods []*v1.Pod) (*Churn, error) {
	deleted, created := churnPlan(pods, r.opts.Seed)
	start := time.Now()
	var delErr error
	workqueue.ParallelizeUntil(ctx, 8, len(deleted), func(i int) {
		p := deleted[i]
		if err := r.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, *metav1.NewDeleteOptions(0)); err != nil && delErr == nil {
			delErr = fmt.Errorf("deleting Pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	})
	if delErr != nil {
		return nil, delErr
	}
	if err := r.createPods(ctx, created); err != nil {
		return nil, err
	}
	p, err := r.settleAndAudit(ctx, start, len(pods))
	if err != nil {
		return nil, err
	}
	return &Churn{Deleted: len(deleted), Created: len(created), Placement: p}, nil
}
