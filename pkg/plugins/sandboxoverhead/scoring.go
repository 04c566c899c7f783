package sandboxoverhead

import (
	"context"
	"errors"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/helper"

	"github.com/mtscn/mtscn/pkg/apis/config"
)

// rawScoreScale is the resolution of the committed fraction before
// normalization (per mille).
const rawScoreScale = 1000

// PreScore skips scoring when PreFilter skipped the pod (it commits
// nothing).
func (pl *SandboxOverhead) PreScore(_ context.Context, cs fwk.CycleState, _ *v1.Pod, _ []fwk.NodeInfo) *fwk.Status {
	if _, err := getPreFilterState(cs); err != nil {
		if errors.Is(err, fwk.ErrNotFound) {
			return fwk.NewStatus(fwk.Skip)
		}
		return fwk.AsStatus(err)
	}
	return nil
}

// Score rates the node by the fraction of its allocatable memory committed
// once the pod is placed: LeastCommitted favours the emptiest nodes
// (spreading VMs), MostCommitted the fullest (packing them).
func (pl *SandboxOverhead) Score(ctx context.Context, cs fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	s, err := getPreFilterState(cs)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	allocatable := nodeInfo.GetAllocatable().GetMemory()
	if allocatable <= 0 {
		return 0, nil
	}
	if nodeInfo.Node() == nil {
		return 0, fwk.NewStatus(fwk.Error, "node not found")
	}
	sum := pl.summaryOf(klog.FromContext(ctx), s, nodeInfo)
	after := sum.committed + s.footprintOn(pl.model, sum.capacity.Values).Committed
	committed := min(max(after, 0), allocatable) * rawScoreScale / allocatable
	if pl.strategy == config.MostCommitted {
		return committed, nil
	}
	return rawScoreScale - committed, nil
}

// ScoreExtensions returns the plugin itself for NormalizeScore.
func (pl *SandboxOverhead) ScoreExtensions() fwk.ScoreExtensions { return pl }

// NormalizeScore scales the raw per-mille scores to [0, MaxNodeScore], the
// best node getting MaxNodeScore.
func (pl *SandboxOverhead) NormalizeScore(_ context.Context, _ fwk.CycleState, _ *v1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	return helper.DefaultNormalizeScore(fwk.MaxNodeScore, false, scores)
}
