package sandboxoverhead

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/client-go/tools/cache"
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
//   - RuntimeClass Update: a class's pods stop counting as on-node
//     sandboxes (its mtscn.io/sandboxed label), so they commit less. An
//     update of anything else (overhead, scheduling, other labels,
//     annotations) cannot change a footprint: see
//     isSchedulableAfterRuntimeClassUpdate.
//
// QueueingHints are GA, so the UpdateNodeTaint workaround for preCheck is
// not needed.
func (pl *SandboxOverhead) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return metrics.CountRequeues(Name, []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Delete | fwk.UpdatePodScaleDown}, QueueingHintFn: pl.isSchedulableAfterPodEvent},
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeAllocatable | fwk.UpdateNodeLabel}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
		classify.RuntimeClassAdded(),
		{Event: fwk.ClusterEvent{Resource: classify.RuntimeClassResource, ActionType: fwk.Update}, QueueingHintFn: pl.isSchedulableAfterRuntimeClassUpdate},
	}), nil
}

// isSchedulableAfterRuntimeClassUpdate queues the pod when an updated
// RuntimeClass's pods no longer count as on-node sandboxes (the pod's own
// class, whose footprint shrinks to requests + overhead, or another class,
// whose pods on the nodes now commit less). What the footprint reads of a
// class is its classification (handler, which is immutable, and the
// mtscn.io/sandboxed label; tenancy.Classifier.RuntimeOf): the class's
// overhead and scheduling fields are copied into a pod by the RuntimeClass
// admission controller when the pod is created, so changing them changes
// no pod the scheduler knows (pod.spec.overhead is immutable).
func (pl *SandboxOverhead) isSchedulableAfterRuntimeClassUpdate(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	original, modified, err := classify.AsTyped[nodev1.RuntimeClass](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if original == nil || modified == nil {
		return fwk.Queue, nil
	}
	if !commitsLess(pl.views.RuntimeOf(original), pl.views.RuntimeOf(modified)) {
		logger.V(5).Info("runtime class update does not make any pod commit less", "pod", klog.KObj(pod), "runtimeClass", modified.Name)
		return fwk.QueueSkip, nil
	}
	logger.V(5).Info("runtime class's pods no longer count as on-node sandboxes", "pod", klog.KObj(pod), "runtimeClass", modified.Name)
	return fwk.Queue, nil
}

// commitsLess reports whether pods classified as before now commit less:
// they were on-node sandboxes and no longer are.
func commitsLess(before, after tenancy.Runtime) bool {
	onNode := func(r tenancy.Runtime) bool { return r.Sandboxed && !r.OffNode }
	return onNode(before) && !onNode(after)
}

// watchRuntimeClasses keeps the plugin's Views current. A RuntimeClass
// that is added or deleted, or whose classification changes (its
// mtscn.io/sandboxed label), can turn pods into sandboxes or back: a new
// View makes every node summary stale. Updates that change nothing a
// footprint reads (overhead, scheduling, other labels, annotations; see
// isSchedulableAfterRuntimeClassUpdate) keep the View and the summaries.
// When a class's pods stop counting as on-node sandboxes, the pending pods
// are activated after the View was invalidated: the scheduler's queueing
// hint sees the update on its own informer, possibly before this one, and
// a pod it requeued may have been retried on the old View.
func (pl *SandboxOverhead) watchRuntimeClasses(ctx context.Context, h fwk.Handle) error {
	logger := klog.FromContext(ctx)
	pending := classify.NewPendingActivator(h)
	invalidate := func(any) { pl.views.Invalidate() }
	_, err := h.SharedInformerFactory().Node().V1().RuntimeClasses().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    invalidate,
		DeleteFunc: invalidate,
		UpdateFunc: func(oldObj, newObj any) {
			original, modified, err := classify.AsTyped[nodev1.RuntimeClass](oldObj, newObj)
			if err != nil || original == nil || modified == nil {
				pl.views.Invalidate()
				return
			}
			before, after := pl.views.RuntimeOf(original), pl.views.RuntimeOf(modified)
			if before == after {
				return
			}
			pl.views.Invalidate()
			if !commitsLess(before, after) {
				return
			}
			pending.Activate(logger, "runtime class no longer an on-node sandbox", classify.AnyPod, "runtimeClass", modified.Name)
		},
	})
	if err != nil {
		return fmt.Errorf("watching RuntimeClasses: %w", err)
	}
	return nil
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
