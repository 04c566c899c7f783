package classify

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/validation"
	"github.com/mtscn/mtscn/pkg/plugins/internal/metrics"
	"github.com/mtscn/mtscn/pkg/tenancy"
)

const (
	// ErrReasonRuntimeClassNotFound is a format taking the runtime class
	// name: the pod names a RuntimeClass that does not exist.
	ErrReasonRuntimeClassNotFound = "runtime class %q not found"
	// ErrReasonNamespaceNotFound is a format taking the namespace name.
	ErrReasonNamespaceNotFound = "namespace %q not found"

	// ReasonRuntimeClassNotFound and ReasonNamespaceNotFound are the two
	// reasons without the name, as the rejection metrics count them.
	ReasonRuntimeClassNotFound = "runtime class not found"
	ReasonNamespaceNotFound    = "namespace not found"
)

// Event resources the scheduler has no constant for. The scheduler watches
// them through its dynamic informer factory ("<plural>.<version>.<group>",
// the core group being empty), so the hints receive
// *unstructured.Unstructured objects.
const (
	NamespaceResource    fwk.EventResource = "namespaces.v1."
	RuntimeClassResource fwk.EventResource = "runtimeclasses.v1.node.k8s.io"
)

// Status turns a classification error of the pod being scheduled into its
// status: UnschedulableAndUnresolvable for a missing Namespace or
// RuntimeClass (counted as plugin's rejection), Error for anything else.
func Status(plugin string, pod *v1.Pod, err error) *fwk.Status {
	switch {
	case errors.Is(err, tenancy.ErrRuntimeClassNotFound):
		name := ""
		if pod.Spec.RuntimeClassName != nil {
			name = *pod.Spec.RuntimeClassName
		}
		metrics.Rejected(plugin, ReasonRuntimeClassNotFound)
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, fmt.Sprintf(ErrReasonRuntimeClassNotFound, name))
	case errors.Is(err, tenancy.ErrNamespaceNotFound):
		metrics.Rejected(plugin, ReasonNamespaceNotFound)
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, fmt.Sprintf(ErrReasonNamespaceNotFound, pod.Namespace))
	}
	return fwk.AsStatus(fmt.Errorf("classifying pod: %w", err))
}

// profileClassifications remembers, per scheduler profile (one framework
// handle each), the classification of the first mtscn plugin built for it.
var profileClassifications sync.Map // fwk.Handle -> registeredClassification

type registeredClassification struct {
	plugin string
	c      config.SandboxClassification
}

// OneClassification makes the mtscn plugins of one profile classify pods
// by one setting (docs/design.md, "Vocabulary"). Each plugin calls it from
// New with its args' classification: the first one built for the profile
// records it, and a later one whose classification differs gets an error
// naming both field paths, so that the scheduler does not start with two
// answers to "is this pod sandboxed?". A nil handle (unit tests building a
// plugin alone) is not checked.
func OneClassification(h fwk.Handle, plugin string, c config.SandboxClassification) error {
	if h == nil || reflect.TypeOf(h).Kind() != reflect.Pointer {
		return nil
	}
	v, loaded := profileClassifications.LoadOrStore(h, registeredClassification{plugin: plugin, c: c})
	if !loaded {
		return nil
	}
	ref := v.(registeredClassification)
	argsPath := func(plugin string) *field.Path {
		return field.NewPath("profiles").Key(h.ProfileName()).Child("pluginConfig").Key(plugin).Child("args")
	}
	if err := validation.ValidateSameClassification(argsPath(plugin), &c, argsPath(ref.plugin), &ref.c); err != nil {
		return fmt.Errorf("invalid %s args: %w", plugin, err)
	}
	return nil
}

// IsMissing reports whether a classification error says the pod's
// Namespace or RuntimeClass does not exist. A QueueingHint answers QueueSkip
// for such a pod (the object's creation requeues it, see RuntimeClassAdded)
// and SignPod refuses to sign it (PreFilter rejects it anyway).
func IsMissing(err error) bool {
	return errors.Is(err, tenancy.ErrRuntimeClassNotFound) || errors.Is(err, tenancy.ErrNamespaceNotFound)
}

// RuntimeClassAdded is the event that requeues a pod waiting for its
// RuntimeClass, with IsSchedulableAfterRuntimeClassAdd as its hint.
func RuntimeClassAdded() fwk.ClusterEventWithHint {
	return fwk.ClusterEventWithHint{
		Event:          fwk.ClusterEvent{Resource: RuntimeClassResource, ActionType: fwk.Add},
		QueueingHintFn: IsSchedulableAfterRuntimeClassAdd,
	}
}

// IsSchedulableAfterRuntimeClassAdd queues the pod when the RuntimeClass it
// names was created.
func IsSchedulableAfterRuntimeClassAdd(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	_, rc, err := AsTyped[nodev1.RuntimeClass](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if rc != nil && pod.Spec.RuntimeClassName != nil && *pod.Spec.RuntimeClassName == rc.Name {
		logger.V(5).Info("the pod's runtime class was added", "pod", klog.KObj(pod), "runtimeClass", rc.Name)
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

// ActivateOnRuntimeClassAdd closes a race the RuntimeClass event leaves
// open. The scheduler delivers the event from its dynamic informer while
// the classifier reads the typed informer's lister; a pod requeued by the
// event can be retried before the typed lister has the new RuntimeClass,
// be rejected again and then wait for the periodic flush. The typed
// informer calls this handler after its store is updated, so activating
// the pending pods that name the class retries them on fresh data.
func ActivateOnRuntimeClassAdd(ctx context.Context, h fwk.Handle) error {
	logger := klog.FromContext(ctx)
	pending := NewPendingActivator(h)
	_, err := h.SharedInformerFactory().Node().V1().RuntimeClasses().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			rc, err := ToTyped[nodev1.RuntimeClass](obj)
			if err != nil || rc == nil {
				return
			}
			pending.Activate(logger, "runtime class added", UsesRuntimeClass(rc.Name), "runtimeClass", rc.Name)
		},
	})
	if err != nil {
		return fmt.Errorf("watching runtime classes: %w", err)
	}
	return nil
}

// PendingActivator moves pending pods to the scheduler's active queue from
// an informer's event handler (fwk.Handle.Activate), so that they are
// retried on the data the handler just saw.
type PendingActivator struct {
	h    fwk.Handle
	pods corelisters.PodLister
}

// NewPendingActivator returns an activator over the scheduler's pod
// informer. Call it from New, before the informers start.
func NewPendingActivator(h fwk.Handle) PendingActivator {
	return PendingActivator{h: h, pods: h.SharedInformerFactory().Core().V1().Pods().Lister()}
}

// Activate activates the pods not bound to a node for which keep is true,
// logging reason and the extra key/value pairs at V(5). The scheduler's pod
// informer has no index by namespace or runtime class, so it lists every
// pod; the events that call it are rare.
func (a PendingActivator) Activate(logger klog.Logger, reason string, keep func(*v1.Pod) bool, keysAndValues ...any) {
	// Listers do not fail on labels.Everything().
	pods, _ := a.pods.List(labels.Everything())
	pending := map[string]*v1.Pod{}
	for _, p := range pods {
		if p.Spec.NodeName == "" && keep(p) {
			pending[p.Namespace+"/"+p.Name] = p
		}
	}
	if len(pending) > 0 {
		logger.V(5).Info("activating pending pods", append([]any{"reason", reason, "count", len(pending)}, keysAndValues...)...)
		a.h.Activate(logger, pending)
	}
}

// AnyPod keeps every pending pod (PendingActivator.Activate).
func AnyPod(*v1.Pod) bool { return true }

// UsesRuntimeClass keeps the pending pods that name the RuntimeClass.
func UsesRuntimeClass(name string) func(*v1.Pod) bool {
	return func(p *v1.Pod) bool { return p.Spec.RuntimeClassName != nil && *p.Spec.RuntimeClassName == name }
}

// AsTyped converts the objects of an event to *T. The scheduler delivers
// objects of resources it has no typed informer for as
// *unstructured.Unstructured; tests may pass typed objects.
func AsTyped[T any](oldObj, newObj interface{}) (*T, *T, error) {
	o, err := ToTyped[T](oldObj)
	if err != nil {
		return nil, nil, err
	}
	n, err := ToTyped[T](newObj)
	if err != nil {
		return nil, nil, err
	}
	return o, n, nil
}

// ToTyped converts one event object (typed, unstructured or a tombstone) to
// *T; nil stays nil.
func ToTyped[T any](obj interface{}) (*T, error) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	switch o := obj.(type) {
	case nil:
		return nil, nil
	case *T:
		return o, nil
	case *unstructured.Unstructured:
		if o == nil {
			return nil, nil
		}
		t := new(T)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.UnstructuredContent(), t); err != nil {
			return nil, fmt.Errorf("converting %s %q: %w", o.GetKind(), o.GetName(), err)
		}
		return t, nil
	}
	return nil, fmt.Errorf("expected %T or *unstructured.Unstructured, got %T", new(T), obj)
}
