package sandboxfeatures

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/helper"

	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// PreScore skips pods that do not run in a VM on the node (their handler
// matches no runtimeRequirements entry that needs KVM, e.g. gVisor): VM
// speed does not matter to them.
func (pl *SandboxFeatures) PreScore(_ context.Context, _ fwk.CycleState, pod *v1.Pod, _ []fwk.NodeInfo) *fwk.Status {
	rt, err := pl.classifier.Runtime(pod.Spec.RuntimeClassName)
	if err != nil {
		return fwk.AsStatus(fmt.Errorf("classifying the runtime of pod %s: %w", klog.KObj(pod), err))
	}
	if !pl.runsVM(rt) {
		return fwk.NewStatus(fwk.Skip)
	}
	return nil
}

// Score rates a node by how fast it runs VMs: the configured weight of its
// mtscn.io/virt-mode (hardware > pvm > nested by default), 0 without one.
func (pl *SandboxFeatures) Score(_ context.Context, _ fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	return int64(pl.virtModeWeight(nodeInfo.Node().Labels[wellknown.LabelVirtMode])), nil
}

// ScoreExtensions returns the plugin itself: scores are normalized.
func (pl *SandboxFeatures) ScoreExtensions() fwk.ScoreExtensions { return pl }

// NormalizeScore scales the scores so that the best node gets MaxNodeScore.
func (pl *SandboxFeatures) NormalizeScore(_ context.Context, _ fwk.CycleState, _ *v1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	return helper.DefaultNormalizeScore(fwk.MaxNodeScore, false, scores)
}

// runsVM reports whether the pod's runtime starts a VM on the node: an
// on-node sandbox whose handler's runtime requirements ask for KVM.
func (pl *SandboxFeatures) runsVM(rt tenancy.Runtime) bool {
	if !rt.Sandboxed || rt.OffNode || rt.Handler == "" {
		return false
	}
	for _, rr := range pl.runtime {
		if rr.needsKVM && tenancy.MatchAny(rr.handlers, rt.Handler) {
			return true
		}
	}
	return false
}

func (pl *SandboxFeatures) virtModeWeight(mode string) int32 {
	switch mode {
	case wellknown.VirtModeHardware:
		return pl.weights.Hardware
	case wellknown.VirtModePVM:
		return pl.weights.PVM
	case wellknown.VirtModeNested:
		return pl.weights.Nested
	}
	return 0
}
