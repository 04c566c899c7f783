package sandboxoverhead

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/mtscn/mtscn/pkg/plugins/internal/classify"
	"github.com/mtscn/mtscn/pkg/plugins/internal/metrics"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// EventsToRegister returns the events that can make room for a pod this
// plugin rejected, each with a QueueingHint:
//   - Pod Delete: a pod leaving a node frees what it committed (a pod turning
//     terminal arrives as a Delete of the assigned pod).
//   - Pod UpdatePodScaleDown: an in-place resize lowered a pod's memory
//     requests (a VM keeps its guest: docs/vm-footprint.md), or
//     the rejected pod itself asks for less.
//   - Node Add: a new node may hold the VM.
//   - Node UpdateNodeAllocatable: more memory, /dev/shm or VM slots.
//   - Node UpdateNodeLabel: the node's own Kata values (mtscn.io/kata.*)
//     may make the VM smaller.
//   - RuntimeClass Add: the RuntimeClass the pod names was created.
//
// QueueingHints are GA, so the UpdateNodeTaint workaround for preCheck is
// not needed.
func (pl *SandboxOverhead) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return metrics.CountRequeues(Name, []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Delete | fwk.UpdatePodScaleDown}, QueueingHintFn: pl.isSchedulableAfterPodEvent},
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeAllocatable | fwk.UpdateNodeLabel}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
		classify.RuntimeClassAdded(),
	}), nil
}

// isSchedulableAfterPodEvent queues the pod when an assigned pod that
// committed memory was deleted, or when an assigned pod (or the pod itself)
// now commits less.
func (pl *SandboxOverhead) isSchedulableAfterPodEvent(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	original, modified, err := schedutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if modified == nil {
		if original.Spec.NodeName == "" && original.Status.NominatedNodeName == "" {
			logger.V(5).Info("deleted pod was not on a node", "pod", klog.KObj(pod), "deletedPod", klog.KObj(original))
			return fwk.QueueSkip, nil
		}
		if pl.podFootprint(logger, pl.views.Current(), original, nil, 0).Committed == 0 {
			logger.V(5).Info("deleted pod committed no memory", "pod", klog.KObj(pod), "deletedPod", klog.KObj(original))
			return fwk.QueueSkip, nil
		}
		logger.V(5).Info("a pod that committed memory was deleted", "pod", klog.KObj(pod), "deletedPod", klog.KObj(original))
		return fwk.Queue, nil
	}
	if modified.UID == pod.UID {
		logger.V(5).Info("the pod itself was scaled down", "pod", klog.KObj(pod))
		return fwk.Queue, nil
	}
	if modified.Spec.NodeName == "" {
		return fwk.QueueSkip, nil
	}
	// A VM's guest keeps the memory hot-plugged for its old limits: a
	// resize down frees what Kubernetes counts (requests), not the guest.
	view := pl.views.Current()
	before := pl.podFootprint(logger, view, original, nil, 0)
	after := pl.podFootprint(logger, view, modified, nil, pl.model.Demand(original, tenancy.Runtime{}).Limits)
	if after.Committed < before.Committed || after.SharedMemory < before.SharedMemory {
		logger.V(5).Info("a pod on a node now commits less", "pod", klog.KObj(pod), "modifiedPod", klog.KObj(modified),
			"before", before.Committed, "after", after.Committed)
		return fwk.Queue, nil
	}
	logger.V(5).Info("scale-down did not lower committed memory", "pod", klog.KObj(pod), "modifiedPod", klog.KObj(modified))
	return fwk.QueueSkip, nil
}

// isSchedulableAfterNodeChange queues the pod when a node it could fit on
// (were the node empty) appears, or when a node gained memory, /dev/shm or
// VM slots, or changed Kata values that shrink the pod's VM.
func (pl *SandboxOverhead) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	original, modified, err := schedutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	rt, err := pl.views.Current().Runtime(pod.Spec.RuntimeClassName)
	if classify.IsMissing(err) {
		logger.V(5).Info("the pod's runtime class is missing, its creation requeues the pod", "pod", klog.KObj(pod))
		return fwk.QueueSkip, nil
	}
	if err != nil {
		return fwk.Queue, err
	}
	now := vmsize.CapacityOf(modified)
	fpNow := pl.model.PodFootprint(pod, rt, now.Values)
	if !now.FitsEmpty(fpNow) {
		logger.V(5).Info("node cannot hold the pod even when empty", "pod", klog.KObj(pod), "node", klog.KObj(modified))
		return fwk.QueueSkip, nil
	}
	if original == nil {
		logger.V(5).Info("new node can hold the pod", "pod", klog.KObj(pod), "node", klog.KObj(modified))
		return fwk.Queue, nil
	}
	before := vmsize.CapacityOf(original)
	fpBefore := pl.model.PodFootprint(pod, rt, before.Values)
	grew := now.Memory > before.Memory ||
		(now.HasSharedMemory && (!before.HasSharedMemory || now.SharedMemory > before.SharedMemory)) ||
		(now.HasSlots && (!before.HasSlots || now.Slots > before.Slots)) ||
		(before.HasSharedMemory && !now.HasSharedMemory) || (before.HasSlots && !now.HasSlots)
	shrank := fpNow.Committed < fpBefore.Committed || fpNow.SharedMemory < fpBefore.SharedMemory ||
		observedDropped(before.Values, now.Values)
	if grew || shrank {
		logger.V(5).Info("node can now hold more of the pod", "pod", klog.KObj(pod), "node", klog.KObj(modified),
			"capacityGrew", grew, "footprintShrank", shrank)
		return fwk.Queue, nil
	}
	logger.V(5).Info("node change does not help the pod", "pod", klog.KObj(pod), "node", klog.KObj(modified))
	return fwk.QueueSkip, nil
}
