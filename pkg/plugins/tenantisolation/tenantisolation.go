package tenantisolation

import (
	"context"
	"errors"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/validation"
	"github.com/mtscn/mtscn/pkg/plugins/internal/classify"
	"github.com/mtscn/mtscn/pkg/plugins/internal/metrics"
	"github.com/mtscn/mtscn/pkg/plugins/internal/nodecache"
	"github.com/mtscn/mtscn/pkg/plugins/names"
	"github.com/mtscn/mtscn/pkg/tenancy"
)

// TenantIsolation keeps shared-kernel pods on nodes of their own tenant and
// lets sandboxed pods of many tenants share nodes (docs/design.md).
// It holds only its validated arguments and the classification views over
// the scheduler's Namespace and RuntimeClass listers.
type TenantIsolation struct {
	args *config.TenantIsolationArgs
	// views classify pods; a cycle uses one View throughout (see
	// classify.Views for the race this closes).
	views *classify.Views
	// enforceSideChannel: keep tenants apart on nodes not labelled
	// mtscn.io/cotenancy-safe=true (I4).
	enforceSideChannel bool

	// summaries caches each node's tenancy summary by NodeInfo generation
	// and View version (pkg/plugins/internal/nodecache): a cycle scans only
	// the pods of nodes that changed, and only when Filter or Score asks
	// for them.
	summaries nodecache.Cache[*nodeSummary]
}

var _ fwk.PreFilterPlugin = &TenantIsolation{}
var _ fwk.FilterPlugin = &TenantIsolation{}
var _ fwk.PreScorePlugin = &TenantIsolation{}
var _ fwk.ScorePlugin = &TenantIsolation{}
var _ fwk.ScoreExtensions = &TenantIsolation{}
var _ fwk.EnqueueExtensions = &TenantIsolation{}
var _ fwk.SignPlugin = &TenantIsolation{}

const (
	// Name is the name of the plugin used in the registry and configurations.
	Name = names.TenantIsolation

	preFilterStateKey fwk.StateKey = "PreFilter" + Name

	// ErrReasonSharedKernelOtherTenant (I1): another tenant runs a pod that
	// shares the node's kernel, so the node is that tenant's alone.
	ErrReasonSharedKernelOtherTenant = "node runs shared-kernel pods of another tenant"
	// ErrReasonSharedKernelNeedsOwnNode (I1): the pod shares the node's
	// kernel and the node runs pods of another tenant.
	ErrReasonSharedKernelNeedsOwnNode = "shared-kernel pod needs a node without other tenants' pods"
	// ErrReasonExclusiveOtherTenant (I2): a tenant with
	// mtscn.io/node-sharing=exclusive runs pods on the node.
	ErrReasonExclusiveOtherTenant = "node is reserved by an exclusive tenant"
	// ErrReasonExclusiveNeedsOwnNode (I2): the pod's tenant is exclusive and
	// the node runs pods of another tenant.
	ErrReasonExclusiveNeedsOwnNode = "exclusive tenant needs a node without other tenants' pods"
	// ErrReasonCotenancyUnsafe (I4): the node is not labelled
	// mtscn.io/cotenancy-safe=true and runs pods of another tenant.
	ErrReasonCotenancyUnsafe = "node is not safe for cross-tenant VMs"
	// ErrReasonSandboxRequired (I3): the namespace says
	// mtscn.io/sandbox=required and the pod's runtime class is not sandboxed.
	ErrReasonSandboxRequired = "tenant requires a sandboxed runtime class"

	// namespaceSignerName and runtimeClassNameSignerName are the keys of
	// the sign fragments: the pod's namespace (tenant and policies) and its
	// runtime class (sandboxed or not).
	namespaceSignerName        = "mtscn.io/v1.Pod.Namespace"
	runtimeClassNameSignerName = "mtscn.io/v1.Pod.Spec.RuntimeClassName"

	// Raw scores, mapped to [0, MaxNodeScore] by NormalizeScore.
	scoreEmpty     = 0
	scoreShared    = 1
	scoreOwnTenant = 2
)

// Name returns name of the plugin. It is used in logs, etc.
func (pl *TenantIsolation) Name() string { return Name }

// New initializes a new plugin and returns it.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	args, err := getArgs(obj)
	if err != nil {
		return nil, err
	}
	if err := validation.ValidateTenantIsolationArgs(field.NewPath("pluginConfig").Key(Name).Child("args"), args); err != nil {
		return nil, fmt.Errorf("invalid TenantIsolation args: %w", err)
	}
	if err := classify.OneClassification(h, Name, args.SandboxClassification); err != nil {
		return nil, err
	}
	if h.SharedInformerFactory() == nil {
		return nil, errors.New("TenantIsolation needs the scheduler's shared informer factory to read Namespaces and RuntimeClasses")
	}
	informers := h.SharedInformerFactory()
	cfg := tenancy.ConfigFromClassification(args.SandboxClassification, args.TenantLabelKeys, args.InfrastructureNamespaces)
	pl := &TenantIsolation{
		args:               args,
		views:              classify.NewViews(cfg, informers.Core().V1().Namespaces().Lister(), informers.Node().V1().RuntimeClasses().Lister()),
		enforceSideChannel: args.SideChannelPolicy != config.SideChannelIgnore,
	}
	if err := pl.addActivationHandlers(ctx, h); err != nil {
		return nil, err
	}
	pl.summaries.CountLookups(Name)
	if err := pl.summaries.ForgetDeletedNodes(h); err != nil {
		return nil, err
	}
	return pl, nil
}

func getArgs(obj runtime.Object) (*config.TenantIsolationArgs, error) {
	args, ok := obj.(*config.TenantIsolationArgs)
	if !ok {
		return nil, fmt.Errorf("want args to be of type TenantIsolationArgs, got %T", obj)
	}
	return args, nil
}

// PreFilter classifies the pod once (tenant, sandboxed, policies), rejects
// I3 violations and pods whose Namespace or RuntimeClass is missing, and
// skips infrastructure pods. It does not look at nodes: Filter and Score
// read each node's tenancy summary from the plugin's cache, so the cycle's
// cost does not grow with the number of nodes.
func (pl *TenantIsolation) PreFilter(_ context.Context, cycleState fwk.CycleState, pod *v1.Pod, _ []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	view := pl.views.Current()
	class, status := pl.classifyIncoming(view, pod)
	if status != nil {
		return nil, status
	}
	cycleState.Write(preFilterStateKey, &preFilterState{class: class, view: view, cycle: pl.summaries.Begin(view.Version)})
	return nil, nil
}

// summary returns the tenancy summary of the node's pods, nil when it runs
// no tenant pods: from the cache when this NodeInfo generation was
// summarized under the cycle's View, else computed from its pods. Nominated
// pods and preemption victims are in the NodeInfo copies the framework
// passes (with their own generation), so they are counted right.
func (pl *TenantIsolation) summary(s *preFilterState, ni fwk.NodeInfo) *nodeSummary {
	return pl.summaries.Get(ni, s.cycle, func(ni fwk.NodeInfo) *nodeSummary { return summarize(s.view, ni) })
}

// summarize scans the node's pods once, classifying them through view.
func summarize(view *classify.View, ni fwk.NodeInfo) *nodeSummary {
	var sum *nodeSummary
	memo := newClassMemo(view.Classifier)
	for _, pi := range ni.GetPods() {
		c, ok := memo.contribution(pi.GetPod())
		if !ok {
			continue
		}
		if sum == nil {
			sum = &nodeSummary{}
		}
		sum.add(c, 1)
	}
	return sum
}

// classifyIncoming returns the pod's class, or the status ending its
// scheduling here: Skip for infrastructure, UnschedulableAndUnresolvable
// when no preemption can help.
func (pl *TenantIsolation) classifyIncoming(view *classify.View, pod *v1.Pod) (tenancy.PodClass, *fwk.Status) {
	nsp, err := view.Namespace(pod.Namespace)
	if err != nil {
		return tenancy.PodClass{}, classify.Status(Name, pod, err)
	}
	if nsp.Infrastructure {
		return tenancy.PodClass{}, fwk.NewStatus(fwk.Skip)
	}
	rt, err := view.Runtime(pod.Spec.RuntimeClassName)
	if err != nil {
		return tenancy.PodClass{}, classify.Status(Name, pod, err)
	}
	if nsp.SandboxRequired && !rt.Sandboxed {
		metrics.Rejected(Name, ErrReasonSandboxRequired)
		return tenancy.PodClass{}, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonSandboxRequired)
	}
	return tenancy.PodClass{NamespacePolicy: nsp, Runtime: rt}, nil
}

// PreFilterExtensions returns nil: the state holds nothing per node, and
// the NodeInfo copies the framework filters for nominated pods and
// preemption victims carry their pods (see summary).
func (pl *TenantIsolation) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// Filter enforces I1, I2 and I4 on the node. Every rejection is
// Unschedulable: evicting the other tenant's pods would make the node
// eligible, so preemption may help.
func (pl *TenantIsolation) Filter(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	s, err := getPreFilterState(cycleState)
	if err != nil {
		return fwk.AsStatus(err)
	}
	node := nodeInfo.Node()
	if reason := pl.conflict(s, pl.summary(s, nodeInfo), node); reason != "" {
		klog.FromContext(ctx).V(4).Info("tenant conflict", "pod", klog.KObj(pod), "node", klog.KObj(node), "tenant", s.class.Tenant, "reason", reason)
		metrics.Rejected(Name, reason)
		return fwk.NewStatus(fwk.Unschedulable, reason)
	}
	return nil
}

// conflict returns the reason the pod may not join the node, "" if it may.
func (pl *TenantIsolation) conflict(s *preFilterState, sum *nodeSummary, node *v1.Node) string {
	others := sum.others(s.class.Tenant)
	switch {
	case others.exclusive > 0:
		return ErrReasonExclusiveOtherTenant
	case others.sharedKernel > 0:
		return ErrReasonSharedKernelOtherTenant
	case others.pods == 0:
		return ""
	case s.class.Exclusive:
		return ErrReasonExclusiveNeedsOwnNode
	case s.class.SharedKernel():
		return ErrReasonSharedKernelNeedsOwnNode
	case pl.enforceSideChannel && !tenancy.CotenancySafe(node.Labels):
		return ErrReasonCotenancyUnsafe
	}
	return ""
}

// SignPod signs the pod by its namespace (tenant and policies) and its
// runtime class (sandboxed or not): two pods that agree on both get the same
// Filter and Score results on every node. Batching is safe although
// feasibility depends on other pods, because a node's result depends only on
// the pods of that node: placing the previous pod changes only the node it
// chose, and the batch reuses the ranking only after re-filtering that node.
func (pl *TenantIsolation) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	rc := ""
	if pod.Spec.RuntimeClassName != nil {
		rc = *pod.Spec.RuntimeClassName
	}
	return []fwk.SignFragment{
		{Key: namespaceSignerName, Value: pod.Namespace},
		{Key: runtimeClassNameSignerName, Value: rc},
	}, nil
}

// classMemo classifies existing pods, remembering each Namespace and
// RuntimeClass it looked up (PreFilter sees many pods of few namespaces).
type classMemo struct {
	classifier *tenancy.Classifier
	namespaces map[string]tenancy.NamespacePolicy
	runtimes   map[string]tenancy.Runtime
}

func newClassMemo(c *tenancy.Classifier) *classMemo {
	return &classMemo{classifier: c, namespaces: map[string]tenancy.NamespacePolicy{}, runtimes: map[string]tenancy.Runtime{}}
}

// contribution returns what an existing pod counts for on its node, and
// false for pods that do not count (infrastructure, terminal). Missing
// Namespaces and RuntimeClasses are pkg/tenancy's (ClassifyBound) to
// answer: when in doubt, isolate.
func (m *classMemo) contribution(pod *v1.Pod) (contribution, bool) {
	if tenancy.IsTerminal(pod) {
		return contribution{}, false
	}
	return m.classify(pod)
}

// classify is contribution for a pod as it was while it ran.
func (m *classMemo) classify(pod *v1.Pod) (contribution, bool) {
	nsp, ok := m.namespaces[pod.Namespace]
	if !ok {
		nsp = m.classifier.BoundNamespace(pod.Namespace)
		m.namespaces[pod.Namespace] = nsp
	}
	if nsp.Infrastructure {
		return contribution{}, false
	}
	rcName := ""
	if pod.Spec.RuntimeClassName != nil {
		rcName = *pod.Spec.RuntimeClassName
	}
	rt, ok := m.runtimes[rcName]
	if !ok {
		rt = m.classifier.BoundRuntime(pod.Spec.RuntimeClassName)
		m.runtimes[rcName] = rt
	}
	class := tenancy.PodClass{NamespacePolicy: nsp, Runtime: rt}
	return contribution{tenant: nsp.Tenant, sharedKernel: class.SharedKernel(), exclusive: nsp.Exclusive}, true
}
