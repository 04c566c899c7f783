package sandboxoverhead

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/mtscn/mtscn/pkg/plugins/internal/classify"
	"github.com/mtscn/mtscn/pkg/plugins/internal/metrics"
	"github.com/mtscn/mtscn/pkg/vmsize"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// EventsToRegister returns the events that can make room for a pod this
// plugin rejected, each with a QueueingHint:
//   - Pod Delete: a pod leaving a node frees what it committed (a pod turning
//     terminal arrives as a Delete of the assigned pod).
//   - Pod UpdatePodScaleDown: an in-place resize lowered a pod's memory, or
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
		if pl.podFootprint(logger, pl.views.Current(), original, nil).Committed == 0 {
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
	view := pl.views.Current()
	before, after := pl.podFootprint(logger, view, original, nil), pl.podFootprint(logger, view, modified, nil)
	if after.Committed < before.Committed || after.SharedMemory < before.SharedMemory {
		logger.V(5).Info("a pod on a node now commits less", "pod", klog.KObj(pod), "modifiedPod", klog.KObj(modified),
			"before", before.Committed, "after", after.Committed)
		return fwk.Queue, nil
	}
	logger.V(5).Info("scale-down did not lower committed memory", "pod", klog.KObj(pod), "modifiedPod", klog.KObj(modified))
	return fwk.QueueSkip, nil
}

// capacity is what a node offers to the checks, with its Kata values.
type capacity struct {
	memory, sharedMemory, slots int64
	hasSharedMemory, hasSlots   bool
	values                      vmsize.NodeValues
}

func capacityOf(node *v1.Node) capacity {
	c := capacity{}
	a := node.Status.Allocatable
	if q, ok := a[v1.ResourceMemory]; ok {
		c.memory = q.Value()
	}
	if q, ok := a[wellknown.ResourceSandboxMemory]; ok {
		c.sharedMemory, c.hasSharedMemory = q.Value(), true
	}
	if q, ok := a[wellknown.ResourceSandboxes]; ok {
		c.slots, c.hasSlots = q.Value(), true
	}
	c.values, _ = vmsize.ParseNodeLabels(node.Labels)
	return c
}

// fitsEmpty says whether the footprint fits the node with nothing on it.
func (c capacity) fitsEmpty(fp vmsize.Footprint) bool {
	if fp.Committed > c.memory {
		return false
	}
	if c.hasSharedMemory && fp.SharedMemory > c.sharedMemory {
		return false
	}
	return !(c.hasSlots && fp.VM && c.slots < 1)
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
	now := capacityOf(modified)
	fpNow := pl.model.PodFootprint(pod, rt, now.values)
	if !now.fitsEmpty(fpNow) {
		logger.V(5).Info("node cannot hold the pod even when empty", "pod", klog.KObj(pod), "node", klog.KObj(modified))
		return fwk.QueueSkip, nil
	}
	if original == nil {
		logger.V(5).Info("new node can hold the pod", "pod", klog.KObj(pod), "node", klog.KObj(modified))
		return fwk.Queue, nil
	}
	before := capacityOf(original)
	fpBefore := pl.model.PodFootprint(pod, rt, before.values)
	grew := now.memory > before.memory ||
		(now.hasSharedMemory && (!before.hasSharedMemory || now.sharedMemory > before.sharedMemory)) ||
		(now.hasSlots && (!before.hasSlots || now.slots > before.slots)) ||
		(before.hasSharedMemory && !now.hasSharedMemory) || (before.hasSlots && !now.hasSlots)
	shrank := fpNow.Committed < fpBefore.Committed || fpNow.SharedMemory < fpBefore.SharedMemory
	if grew || shrank {
		logger.V(5).Info("node can now hold more of the pod", "pod", klog.KObj(pod), "node", klog.KObj(modified),
			"capacityGrew", grew, "footprintShrank", shrank)
		return fwk.Queue, nil
	}
	logger.V(5).Info("node change does not help the pod", "pod", klog.KObj(pod), "node", klog.KObj(modified))
	return fwk.QueueSkip, nil
}
