package tenantisolation

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/mtscn/mtscn/pkg/plugins/internal/classify"
	"github.com/mtscn/mtscn/pkg/plugins/internal/metrics"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// EventsToRegister returns the events that can turn a rejection by this
// plugin into an acceptance, each with a QueueingHint:
//   - Pod Delete: a conflicting pod of another tenant went away (deleted,
//     preempted, or finished: the scheduler stops tracking terminal pods).
//     Pod label updates are not registered: tenancy never comes from pod
//     labels, and runtimeClassName and namespace are immutable, so no pod
//     update (of this pod or another) can change a decision.
//   - Node Add: an empty node accepts every pod this plugin filters.
//   - Node UpdateNodeLabel: the node became mtscn.io/cotenancy-safe=true (I4).
//   - Namespace Add/Update: the pod's Namespace appeared, or a Namespace's
//     tenant or policy labels changed (I1-I3 decisions change with them).
//   - RuntimeClass Add/Update: the pod's missing RuntimeClass appeared, or a
//     RuntimeClass's mtscn.io/sandboxed label changed.
func (pl *TenantIsolation) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return metrics.CountRequeues(Name, []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Delete}, QueueingHintFn: pl.isSchedulableAfterPodDelete},
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
		{Event: fwk.ClusterEvent{Resource: classify.NamespaceResource, ActionType: fwk.Add | fwk.Update}, QueueingHintFn: pl.isSchedulableAfterNamespaceChange},
		{Event: fwk.ClusterEvent{Resource: classify.RuntimeClassResource, ActionType: fwk.Add | fwk.Update}, QueueingHintFn: pl.isSchedulableAfterRuntimeClassChange},
	}), nil
}

// isSchedulableAfterPodDelete queues the pod when the deleted pod was bound
// or nominated to a node and belonged to another tenant: only such pods
// block it (Filter counts nominated pods too). kube-scheduler sends the
// deletion of a nominated pod, or a nomination that moved, with the unbound
// pod, so a pod with a nominated node counts like a bound one.
func (pl *TenantIsolation) isSchedulableAfterPodDelete(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	deleted, _, err := util.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if deleted == nil || (deleted.Spec.NodeName == "" && deleted.Status.NominatedNodeName == "") {
		logger.V(5).Info("deleted pod was neither bound nor nominated, it blocked no node", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted))
		return fwk.QueueSkip, nil
	}
	view := pl.views.Current()
	memo := newClassMemo(view.Classifier)
	mine, err := view.Namespace(pod.Namespace)
	if classify.IsMissing(err) {
		// The pod waits for its Namespace; the Namespace event requeues it.
		return fwk.QueueSkip, nil
	}
	if err != nil {
		return fwk.Queue, err
	}
	if deleted.Namespace == pod.Namespace {
		logger.V(5).Info("deleted pod is of the same namespace, it blocked no node", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted))
		return fwk.QueueSkip, nil
	}
	// A pod that finished is delivered as deleted in its terminal state;
	// classify it as it was while it ran.
	c, counted := memo.classify(deleted)
	if !counted || c.tenant == mine.Tenant {
		logger.V(5).Info("deleted pod did not block other tenants", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted))
		return fwk.QueueSkip, nil
	}
	logger.V(5).Info("a pod of another tenant was deleted, its node may accept the pod", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted),
		"node", deleted.Spec.NodeName, "nominatedNode", deleted.Status.NominatedNodeName)
	return fwk.Queue, nil
}

// isSchedulableAfterNodeChange queues the pod for a new node (an empty node
// passes this plugin) and for a node that stopped being cotenancy-unsafe.
func (pl *TenantIsolation) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldNode, newNode, err := util.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if oldNode == nil {
		logger.V(5).Info("a node was added, it runs no tenant pods yet", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return fwk.Queue, nil
	}
	if pl.enforceSideChannel && !tenancy.CotenancySafe(oldNode.Labels) && tenancy.CotenancySafe(newNode.Labels) {
		logger.V(5).Info("node became safe for cross-tenant pods", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

// namespaceLabels are the labels whose change can alter a decision.
func (pl *TenantIsolation) namespaceLabels() []string {
	return append([]string{wellknown.LabelNodeSharing, wellknown.LabelSandboxPolicy, wellknown.LabelInfrastructure}, pl.args.TenantLabelKeys...)
}

// namespaceLabelsChanged reports whether a Namespace update changed a label
// classification reads.
func (pl *TenantIsolation) namespaceLabelsChanged(oldNS, newNS *v1.Namespace) bool {
	for _, k := range pl.namespaceLabels() {
		if oldNS.Labels[k] != newNS.Labels[k] {
			return true
		}
	}
	return false
}

// isSchedulableAfterNamespaceChange queues the pod when its own Namespace
// was added or changed its tenancy labels, or when another Namespace changed
// its tenancy labels (its pods may stop conflicting with this one).
func (pl *TenantIsolation) isSchedulableAfterNamespaceChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldNS, newNS, err := classify.AsTyped[v1.Namespace](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if newNS == nil {
		return fwk.QueueSkip, nil
	}
	if oldNS == nil {
		if newNS.Name == pod.Namespace {
			logger.V(5).Info("the pod's namespace was added", "pod", klog.KObj(pod))
			return fwk.Queue, nil
		}
		return fwk.QueueSkip, nil
	}
	if pl.namespaceLabelsChanged(oldNS, newNS) {
		logger.V(5).Info("namespace tenancy labels changed", "pod", klog.KObj(pod), "namespace", newNS.Name)
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

// isSchedulableAfterRuntimeClassChange queues the pod when its missing
// RuntimeClass was created, or when a RuntimeClass changed its
// mtscn.io/sandboxed label (its pods, this one or others, may have become
// sandboxed).
func (pl *TenantIsolation) isSchedulableAfterRuntimeClassChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldRC, newRC, err := classify.AsTyped[nodev1.RuntimeClass](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if newRC == nil {
		return fwk.QueueSkip, nil
	}
	if oldRC == nil {
		if pod.Spec.RuntimeClassName != nil && *pod.Spec.RuntimeClassName == newRC.Name {
			logger.V(5).Info("the pod's runtime class was added", "pod", klog.KObj(pod), "runtimeClass", newRC.Name)
			return fwk.Queue, nil
		}
		if pl.views.Current().RuntimeOf(newRC).Sandboxed {
			// Running pods of a missing class count as shared-kernel;
			// now that it is back they count as sandboxed and may stop
			// blocking the pod.
			logger.V(5).Info("a sandboxed runtime class was added, its running pods stop counting as shared-kernel", "pod", klog.KObj(pod), "runtimeClass", newRC.Name)
			return fwk.Queue, nil
		}
		return fwk.QueueSkip, nil
	}
	if oldRC.Labels[wellknown.LabelSandboxed] != newRC.Labels[wellknown.LabelSandboxed] {
		logger.V(5).Info("runtime class changed its sandboxed label", "pod", klog.KObj(pod), "runtimeClass", newRC.Name)
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

// addActivationHandlers closes a race the registered events leave open. The
// scheduler delivers Namespace and RuntimeClass events from its dynamic
// informers, while the classification Views copy the typed informers'
// listers; a pod requeued by the dynamic event can be retried before the
// typed lister has seen the change (or before this handler invalidated the
// View), be rejected again on stale labels, and then wait for the periodic
// flush. The typed informers call these handlers after their store
// is updated, so activating the affected pending pods here retries them on
// fresh data. These events are rare (namespace relabelling, new
// RuntimeClasses).
func (pl *TenantIsolation) addActivationHandlers(ctx context.Context, h fwk.Handle) error {
	logger := klog.FromContext(ctx)
	pending := classify.NewPendingActivator(h)
	// A change that alters how pods already on nodes are classified makes
	// the current View, and every summary cached under it, stale: the
	// views are invalidated first, before pods are activated, so that the
	// retried pods are classified on the new labels. Updates that touch
	// nothing classification reads (annotations, other labels) keep the
	// View and the summaries.
	bump := func(interface{}) { pl.views.Invalidate() }
	if _, err := h.SharedInformerFactory().Core().V1().Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: bump,
		AddFunc: func(obj interface{}) {
			bump(obj)
			ns, err := classify.ToTyped[v1.Namespace](obj)
			if err != nil || ns == nil {
				return
			}
			pending.Activate(logger, "namespace added", func(p *v1.Pod) bool { return p.Namespace == ns.Name }, "namespace", ns.Name)
		},
		UpdateFunc: func(oldObj, newObj interface{}) {
			oldNS, newNS, err := classify.AsTyped[v1.Namespace](oldObj, newObj)
			if err != nil || oldNS == nil || newNS == nil {
				bump(newObj)
				return
			}
			if !pl.namespaceLabelsChanged(oldNS, newNS) {
				return
			}
			bump(newObj)
			pending.Activate(logger, "namespace tenancy labels changed", classify.AnyPod, "namespace", newNS.Name)
		},
	}); err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	if _, err := h.SharedInformerFactory().Node().V1().RuntimeClasses().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: bump,
		AddFunc: func(obj interface{}) {
			bump(obj)
			rc, err := classify.ToTyped[nodev1.RuntimeClass](obj)
			if err != nil || rc == nil {
				return
			}
			pending.Activate(logger, "runtime class added", classify.UsesRuntimeClass(rc.Name), "runtimeClass", rc.Name)
		},
		UpdateFunc: func(oldObj, newObj interface{}) {
			oldRC, newRC, err := classify.AsTyped[nodev1.RuntimeClass](oldObj, newObj)
			if err != nil || oldRC == nil || newRC == nil {
				bump(newObj)
				return
			}
			// The handler is immutable: only the sandboxed label changes a
			// classification.
			if oldRC.Labels[wellknown.LabelSandboxed] == newRC.Labels[wellknown.LabelSandboxed] {
				return
			}
			bump(newObj)
			pending.Activate(logger, "runtime class sandboxed label changed", classify.AnyPod, "runtimeClass", newRC.Name)
		},
	}); err != nil {
		return fmt.Errorf("watching runtime classes: %w", err)
	}
	return nil
}
