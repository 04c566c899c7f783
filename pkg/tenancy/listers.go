package tenancy

import (
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	corelisters "k8s.io/client-go/listers/core/v1"
	nodelisters "k8s.io/client-go/listers/node/v1"
)

// fixedLister lists a fixed set of cluster-scoped objects by name: a
// NamespaceLister or RuntimeClassLister over a snapshot, cheaper to build
// than an informer indexer (Classifier.Snapshot builds one per
// classification change).
type fixedLister[T metav1.Object] struct {
	resource schema.GroupResource
	items    map[string]T
}

var (
	_ corelisters.NamespaceLister    = fixedLister[*v1.Namespace]{}
	_ nodelisters.RuntimeClassLister = fixedLister[*nodev1.RuntimeClass]{}
)

func newFixedLister[T metav1.Object](resource schema.GroupResource, objs []T) fixedLister[T] {
	l := fixedLister[T]{resource: resource, items: make(map[string]T, len(objs))}
	for _, o := range objs {
		l.items[o.GetName()] = o
	}
	return l
}

func (l fixedLister[T]) List(selector labels.Selector) ([]T, error) {
	var out []T
	for _, o := range l.items {
		if selector.Matches(labels.Set(o.GetLabels())) {
			out = append(out, o)
		}
	}
	return out, nil
}

func (l fixedLister[T]) Get(name string) (T, error) {
	if o, ok := l.items[name]; ok {
		return o, nil
	}
	var zero T
	return zero, apierrors.NewNotFound(l.resource, name)
}

func newNamespaceMap(namespaces []*v1.Namespace) fixedLister[*v1.Namespace] {
	return newFixedLister(v1.Resource("namespace"), namespaces)
}

func newRuntimeClassMap(runtimeClasses []*nodev1.RuntimeClass) fixedLister[*nodev1.RuntimeClass] {
	return newFixedLister(nodev1.Resource("runtimeclass"), runtimeClasses)
}
