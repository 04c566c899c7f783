package tenancy

import (
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	nodelisters "k8s.io/client-go/listers/node/v1"
)

// namespaceMap is a NamespaceLister over a fixed set of Namespaces.
type namespaceMap map[string]*v1.Namespace

var _ corelisters.NamespaceLister = namespaceMap(nil)

func newNamespaceMap(namespaces []*v1.Namespace) namespaceMap {
	m := make(namespaceMap, len(namespaces))
	for _, ns := range namespaces {
		m[ns.Name] = ns
	}
	return m
}

func (m namespaceMap) List(selector labels.Selector) ([]*v1.Namespace, error) {
	var out []*v1.Namespace
	for _, ns := range m {
		if selector.Matches(labels.Set(ns.Labels)) {
			out = append(out, ns)
		}
	}
	return out, nil
}

func (m namespaceMap) Get(name string) (*v1.Namespace, error) {
	if ns, ok := m[name]; ok {
		return ns, nil
	}
	return nil, apierrors.NewNotFound(v1.Resource("namespace"), name)
}

// runtimeClassMap is a RuntimeClassLister over a fixed set of
// RuntimeClasses.
type runtimeClassMap map[string]*nodev1.RuntimeClass

var _ nodelisters.RuntimeClassLister = runtimeClassMap(nil)

func newRuntimeClassMap(runtimeClasses []*nodev1.RuntimeClass) runtimeClassMap {
	m := make(runtimeClassMap, len(runtimeClasses))
	for _, rc := range runtimeClasses {
		m[rc.Name] = rc
	}
	return m
}

func (m runtimeClassMap) List(selector labels.Selector) ([]*nodev1.RuntimeClass, error) {
	var out []*nodev1.RuntimeClass
	for _, rc := range m {
		if selector.Matches(labels.Set(rc.Labels)) {
			out = append(out, rc)
		}
	}
	return out, nil
}

func (m runtimeClassMap) Get(name string) (*nodev1.RuntimeClass, error) {
	if rc, ok := m[name]; ok {
		return rc, nil
	}
	return nil, apierrors.NewNotFound(nodev1.Resource("runtimeclass"), name)
}
