package sandboxfeatures

import (
	"context"

	fwk "k8s.io/kube-scheduler/framework"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/mtscn/mtscn/pkg/plugins/internal/classify"
	"github.com/mtscn/mtscn/pkg/plugins/internal/metrics"
)

// EventsToRegister returns the events that can make a pod rejected by this
// plugin schedulable: a node that appears, or a node whose labels change
// (the NFD rules and the agent publish features as labels), and the
// creation of the RuntimeClass the pod names. Pod events cannot help: a
// pod's runtimeClassName is immutable and its extended resource requests
// cannot be resized.
func (pl *SandboxFeatures) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return metrics.CountRequeues(Name, []fwk.ClusterEventWithHint{
		{
			Event:          fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel},
			QueueingHintFn: pl.isSchedulableAfterNodeChange,
		},
		classify.RuntimeClassAdded(),
	}), nil
}

// isSchedulableAfterNodeChange requeues the pod only when the added or
// updated node now offers everything the pod needs, and (for an update)
// did not before.
func (pl *SandboxFeatures) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldNode, newNode, err := util.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	reqs, _, err := pl.requirementsFor(pod)
	if classify.IsMissing(err) {
		logger.V(5).Info("the pod's runtime class is missing, its creation requeues the pod", "pod", klog.KObj(pod))
		return fwk.QueueSkip, nil
	}
	if err != nil {
		return fwk.Queue, err
	}
	if missing := missingOn(reqs, newNode); len(missing) > 0 {
		logger.V(5).Info("node still lacks sandbox features", "pod", klog.KObj(pod), "node", klog.KObj(newNode), "missing", missing)
		return fwk.QueueSkip, nil
	}
	if oldNode != nil && len(missingOn(reqs, oldNode)) == 0 {
		logger.V(5).Info("node already had the sandbox features, the change does not help", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return fwk.QueueSkip, nil
	}
	logger.V(4).Info("node now offers the sandbox features the pod needs", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
	return fwk.Queue, nil
}
