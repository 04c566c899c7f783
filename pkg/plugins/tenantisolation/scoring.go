package tenantisolation

import (
	"context"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/helper"
)

// PreScore skips scoring when PreFilter skipped the pod (infrastructure).
func (pl *TenantIsolation) PreScore(_ context.Context, cycleState fwk.CycleState, _ *v1.Pod, _ []fwk.NodeInfo) *fwk.Status {
	if _, err := getPreFilterState(cycleState); err != nil {
		return fwk.NewStatus(fwk.Skip)
	}
	return nil
}

// Score ranks a feasible node: its own tenant's nodes first; for a
// sandboxed pod, nodes already shared by other sandboxed tenants next; empty
// nodes last, so that they stay free for shared-kernel and exclusive
// tenants.
func (pl *TenantIsolation) Score(_ context.Context, cycleState fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	s, err := getPreFilterState(cycleState)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	sum := pl.summary(s, nodeInfo)
	switch {
	case sum.own(s.class.Tenant).pods > 0:
		return scoreOwnTenant, nil
	case sum != nil && sum.pods > 0 && s.class.Sandboxed && !s.class.Exclusive:
		return scoreShared, nil
	}
	return scoreEmpty, nil
}

// ScoreExtensions returns the plugin: it normalizes its scores.
func (pl *TenantIsolation) ScoreExtensions() fwk.ScoreExtensions { return pl }

// NormalizeScore maps the raw scores to [0, MaxNodeScore], the best
// feasible node getting MaxNodeScore.
func (pl *TenantIsolation) NormalizeScore(_ context.Context, _ fwk.CycleState, _ *v1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	return helper.DefaultNormalizeScore(fwk.MaxNodeScore, false, scores)
}
