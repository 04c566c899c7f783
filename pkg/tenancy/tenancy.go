package tenancy

import (
	"errors"
	"fmt"
	"path"
	"sync"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"
	nodelisters "k8s.io/client-go/listers/node/v1"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

var (
	// ErrNamespaceNotFound is returned when a pod's Namespace is not (yet)
	// known: its tenant and policies cannot be told.
	ErrNamespaceNotFound = errors.New("namespace not found")
	// ErrRuntimeClassNotFound is returned when a pod names a RuntimeClass
	// that does not exist: whether it is sandboxed cannot be told.
	ErrRuntimeClassNotFound = errors.New("runtime class not found")
)

// Config says how to classify. It mirrors the plugins' args.
type Config struct {
	TenantLabelKeys          []string
	InfrastructureNamespaces []string
	SandboxedHandlers        []string
	OffNodeHandlers          []string
}

// ConfigFromClassification builds a Config from a plugin's classification
// args and the tenant keys and infrastructure namespaces to use.
func ConfigFromClassification(c config.SandboxClassification, tenantLabelKeys, infraNamespaces []string) Config {
	return Config{
		TenantLabelKeys:          tenantLabelKeys,
		InfrastructureNamespaces: infraNamespaces,
		SandboxedHandlers:        c.SandboxedHandlers,
		OffNodeHandlers:          c.OffNodeHandlers,
	}
}

// NamespacePolicy is what a Namespace says about its pods.
type NamespacePolicy struct {
	// Tenant identifies the tenant: the value of the first tenant label
	// found, else NamespaceTenant(namespace), which no label value can
	// name.
	Tenant string
	// Infrastructure pods never block and are never blocked.
	Infrastructure bool
	// Exclusive: mtscn.io/node-sharing=exclusive (I2).
	Exclusive bool
	// SandboxRequired: mtscn.io/sandbox=required (I3).
	SandboxRequired bool
}

// Runtime is what a pod's RuntimeClass says about its isolation.
type Runtime struct {
	// RuntimeClassName is the pod's runtimeClassName, "" for the default.
	RuntimeClassName string
	// Handler is the RuntimeClass handler, "" for the default runtime.
	Handler string
	// Sandboxed pods run in their own kernel.
	Sandboxed bool
	// OffNode sandboxes run their VM off the node (peer pods); they are
	// also Sandboxed.
	OffNode bool
	// Missing: the RuntimeClass of a pod already on a node is gone and was
	// never seen by this classifier. Handler is then the class name (kata-
	// deploy names its classes after their handlers) and Sandboxed says
	// whether that name matches SandboxedHandlers, so that a running VM is
	// still sized as one; for isolation such a pod counts as shared-kernel
	// (see PodClass.SharedKernel).
	Missing bool
}

// PodClass is a pod's full classification.
type PodClass struct {
	NamespacePolicy
	Runtime
}

// SharedKernel reports whether the pod shares the node's kernel and is not
// infrastructure: the pods that turn a node into a single-tenant node (I1).
func (c PodClass) SharedKernel() bool {
	return !c.Infrastructure && (!c.Sandboxed || c.Missing)
}

// namespaceTenantPrefix starts the tenant of a namespace without tenant
// labels. Label values cannot contain '/', so no namespace label can
// claim such a tenant: unlabelled namespace "acme" and a namespace labelled
// mtscn.io/tenant=acme are two tenants.
const namespaceTenantPrefix = "namespace/"

// NamespaceTenant returns the tenant of a namespace that carries none of
// the tenant labels: the namespace itself.
func NamespaceTenant(namespace string) string { return namespaceTenantPrefix + namespace }

// Classifier classifies pods from Namespaces and RuntimeClasses.
type Classifier struct {
	cfg            Config
	infra          sets.Set[string]
	namespaces     corelisters.NamespaceLister
	runtimeClasses nodelisters.RuntimeClassLister
	// seen remembers the classification of RuntimeClasses (name ->
	// Runtime), so that pods already running keep their class's
	// classification after the RuntimeClass is deleted. Snapshots share
	// it with the classifier they were taken from.
	seen *sync.Map
	// snapshot: the listers hold fixed objects, all remembered in seen
	// when the snapshot was taken; lookups do not write seen, so that an
	// older snapshot still in use cannot overwrite what a newer one
	// remembered.
	snapshot bool
}

// New returns a Classifier reading from the given listers (typically the
// scheduler's shared informers).
func New(cfg Config, namespaces corelisters.NamespaceLister, runtimeClasses nodelisters.RuntimeClassLister) *Classifier {
	return &Classifier{cfg: cfg, infra: sets.New(cfg.InfrastructureNamespaces...), namespaces: namespaces, runtimeClasses: runtimeClasses, seen: &sync.Map{}}
}

// NewStatic returns a Classifier over fixed lists of objects, for offline
// tools (audit, simulate) and tests.
func NewStatic(cfg Config, namespaces []*v1.Namespace, runtimeClasses []*nodev1.RuntimeClass) *Classifier {
	return New(cfg, newNamespaceMap(namespaces), newRuntimeClassMap(runtimeClasses))
}

// Snapshot returns a Classifier over fixed lists of objects (a copy of
// the listers' contents at one point) that shares c's configuration and
// its memory of RuntimeClasses. It remembers every RuntimeClass in the
// list, so that c and every later snapshot classify a pod whose class is
// deleted afterwards as this snapshot does. Snapshots are what lets a
// scheduling cycle classify every pod from the same objects while
// informers keep updating their stores.
func (c *Classifier) Snapshot(namespaces []*v1.Namespace, runtimeClasses []*nodev1.RuntimeClass) *Classifier {
	s := &Classifier{cfg: c.cfg, infra: c.infra, namespaces: newNamespaceMap(namespaces), runtimeClasses: newRuntimeClassMap(runtimeClasses),
		seen: c.seen, snapshot: true}
	for _, rc := range runtimeClasses {
		s.seen.Store(rc.Name, s.RuntimeOf(rc))
	}
	return s
}

// Config returns the configuration the classifier was built with.
func (c *Classifier) Config() Config { return c.cfg }

// Classify returns the pod's classification. It fails with an error wrapping
// ErrNamespaceNotFound or ErrRuntimeClassNotFound when an object it needs
// does not exist; callers must tell the pod, not guess.
func (c *Classifier) Classify(pod *v1.Pod) (PodClass, error) {
	nsp, err := c.Namespace(pod.Namespace)
	if err != nil {
		return PodClass{}, err
	}
	rt, err := c.Runtime(pod.Spec.RuntimeClassName)
	if err != nil {
		return PodClass{NamespacePolicy: nsp}, err
	}
	return PodClass{NamespacePolicy: nsp, Runtime: rt}, nil
}

// Namespace returns the policy of the named namespace. A namespace in
// InfrastructureNamespaces is infrastructure even when it cannot be found.
func (c *Classifier) Namespace(name string) (NamespacePolicy, error) {
	ns, err := c.namespaces.Get(name)
	if err != nil {
		if c.infra.Has(name) {
			return NamespacePolicy{Tenant: NamespaceTenant(name), Infrastructure: true}, nil
		}
		if apierrors.IsNotFound(err) {
			return NamespacePolicy{}, fmt.Errorf("namespace %q: %w", name, ErrNamespaceNotFound)
		}
		return NamespacePolicy{}, fmt.Errorf("reading namespace %q: %w", name, err)
	}
	return c.PolicyOf(ns), nil
}

// PolicyOf returns what a Namespace object says about its pods.
func (c *Classifier) PolicyOf(ns *v1.Namespace) NamespacePolicy {
	p := NamespacePolicy{Tenant: NamespaceTenant(ns.Name)}
	for _, k := range c.cfg.TenantLabelKeys {
		if v, ok := ns.Labels[k]; ok && v != "" {
			p.Tenant = v
			break
		}
	}
	p.Infrastructure = c.infra.Has(ns.Name) || ns.Labels[wellknown.LabelInfrastructure] == "true"
	p.Exclusive = ns.Labels[wellknown.LabelNodeSharing] == wellknown.NodeSharingExclusive
	p.SandboxRequired = ns.Labels[wellknown.LabelSandboxPolicy] == wellknown.SandboxRequired
	return p
}

// Runtime classifies a pod's runtimeClassName (nil or "" is the node's
// default runtime: shared kernel).
func (c *Classifier) Runtime(runtimeClassName *string) (Runtime, error) {
	if runtimeClassName == nil || *runtimeClassName == "" {
		return Runtime{}, nil
	}
	rc, err := c.runtimeClasses.Get(*runtimeClassName)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return Runtime{RuntimeClassName: *runtimeClassName}, fmt.Errorf("runtime class %q: %w", *runtimeClassName, ErrRuntimeClassNotFound)
		}
		return Runtime{RuntimeClassName: *runtimeClassName}, fmt.Errorf("reading runtime class %q: %w", *runtimeClassName, err)
	}
	rt := c.RuntimeOf(rc)
	if !c.snapshot {
		c.seen.Store(rc.Name, rt)
	}
	return rt, nil
}

// ClassifyBound classifies a pod that is already on a node (or nominated
// to one), for the checks of the pods it runs next to. Unlike Classify it
// never fails: a pod whose Namespace is gone is its namespace's own tenant
// without policies; a pod whose RuntimeClass is gone keeps the
// classification this classifier last saw for that class, or else is
// Missing (see Runtime.Missing). Every plugin, audit and simulate read
// bound pods through it.
func (c *Classifier) ClassifyBound(pod *v1.Pod) PodClass {
	return PodClass{NamespacePolicy: c.BoundNamespace(pod.Namespace), Runtime: c.BoundRuntime(pod.Spec.RuntimeClassName)}
}

// BoundNamespace is the namespace half of ClassifyBound.
func (c *Classifier) BoundNamespace(name string) NamespacePolicy {
	nsp, err := c.Namespace(name)
	if err != nil {
		return NamespacePolicy{Tenant: NamespaceTenant(name)}
	}
	return nsp
}

// BoundRuntime is the runtime half of ClassifyBound.
func (c *Classifier) BoundRuntime(runtimeClassName *string) Runtime {
	rt, err := c.Runtime(runtimeClassName)
	if err == nil {
		return rt
	}
	name := *runtimeClassName
	if v, ok := c.seen.Load(name); ok {
		return v.(Runtime)
	}
	sandboxed := MatchAny(c.cfg.SandboxedHandlers, name)
	return Runtime{RuntimeClassName: name, Handler: name, Sandboxed: sandboxed,
		OffNode: sandboxed && MatchAny(c.cfg.OffNodeHandlers, name), Missing: true}
}

// RuntimeOf classifies a RuntimeClass object. Its mtscn.io/sandboxed label
// wins; without it the handler is matched against SandboxedHandlers.
func (c *Classifier) RuntimeOf(rc *nodev1.RuntimeClass) Runtime {
	r := Runtime{RuntimeClassName: rc.Name, Handler: rc.Handler}
	switch rc.Labels[wellknown.LabelSandboxed] {
	case "true":
		r.Sandboxed = true
	case "false":
		r.Sandboxed = false
	default:
		r.Sandboxed = MatchAny(c.cfg.SandboxedHandlers, rc.Handler)
	}
	r.OffNode = r.Sandboxed && MatchAny(c.cfg.OffNodeHandlers, rc.Handler)
	return r
}

// MatchAny reports whether name matches one of the glob patterns
// (path.Match syntax; patterns are validated when args are loaded).
func MatchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// IsTerminal reports whether a pod has finished (Succeeded or Failed): such
// pods hold no node and are ignored by the isolation invariant.
func IsTerminal(pod *v1.Pod) bool {
	return pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
}

// CotenancySafe reports whether a node with these labels may host pods of
// more than one tenant as far as CPU side channels go (I4). Only the node
// agent's explicit mtscn.io/cotenancy-safe=true says so: a node without the
// label (no agent, or its state unknown) is unsafe, so the check fails
// closed.
func CotenancySafe(nodeLabels map[string]string) bool {
	return nodeLabels[wellknown.LabelCotenancySafe] == wellknown.ValueTrue
}
