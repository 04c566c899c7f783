package sandboxfeatures

import (
	"context"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/helper"
	"k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/validation"
	"github.com/mtscn/mtscn/pkg/plugins/internal/classify"
	"github.com/mtscn/mtscn/pkg/plugins/names"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// SandboxFeatures is a plugin that places sandboxed pods only on nodes whose
// virtualization features can run them. It holds only its compiled
// arguments and the runtime classifier.
type SandboxFeatures struct {
	classifier *tenancy.Classifier
	runtime    []runtimeRule
	devices    []deviceRule
	weights    config.VirtModeWeights
}

var (
	_ fwk.PreFilterPlugin   = &SandboxFeatures{}
	_ fwk.FilterPlugin      = &SandboxFeatures{}
	_ fwk.PreScorePlugin    = &SandboxFeatures{}
	_ fwk.ScorePlugin       = &SandboxFeatures{}
	_ fwk.ScoreExtensions   = &SandboxFeatures{}
	_ fwk.EnqueueExtensions = &SandboxFeatures{}
	_ fwk.SignPlugin        = &SandboxFeatures{}
)

const (
	// Name is the name of the plugin used in the registry and configurations.
	Name = names.SandboxFeatures

	preFilterStateKey fwk.StateKey = "PreFilter" + Name

	// ErrReasonNodeLacks prefixes the Filter reason; the names of the unmet
	// requirements follow, e.g. "node lacks: usable /dev/kvm, TDX".
	ErrReasonNodeLacks = "node lacks: "

	// SignerName is the key of this plugin's pod signature fragment: the
	// requirements derived from the pod's runtime handler and devices, and
	// whether virt-mode scoring applies.
	SignerName = "mtscn.io/v1.Pod.Spec.SandboxFeatureRequirements()"
)

// Name returns name of the plugin. It is used in logs, etc.
func (pl *SandboxFeatures) Name() string { return Name }

// New initializes a new plugin and returns it.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	args, err := getArgs(obj)
	if err != nil {
		return nil, err
	}
	argsPath := field.NewPath("pluginConfig").Key(Name).Child("args")
	if err := validation.ValidateSandboxFeaturesArgs(argsPath, args); err != nil {
		return nil, fmt.Errorf("invalid SandboxFeatures args: %w", err)
	}
	pl := &SandboxFeatures{weights: args.VirtModeWeights}
	for i, rr := range args.RuntimeRequirements {
		reqs, err := compileRequirements(argsPath.Child("runtimeRequirements").Index(i).Child("requirements"), rr.Requirements)
		if err != nil {
			return nil, err
		}
		pl.runtime = append(pl.runtime, runtimeRule{handlers: rr.Handlers, reqs: reqs, needsKVM: needsKVM(rr.Requirements)})
	}
	for i, dr := range args.DeviceRequirements {
		reqs, err := compileRequirements(argsPath.Child("deviceRequirements").Index(i).Child("requirements"), dr.Requirements)
		if err != nil {
			return nil, err
		}
		pl.devices = append(pl.devices, deviceRule{resources: dr.Resources, sandboxedOnly: dr.SandboxedOnly, reqs: reqs})
	}
	cfg := tenancy.ConfigFromClassification(args.SandboxClassification, nil, nil)
	if h != nil && h.SharedInformerFactory() != nil {
		f := h.SharedInformerFactory()
		pl.classifier = tenancy.New(cfg, f.Core().V1().Namespaces().Lister(), f.Node().V1().RuntimeClasses().Lister())
		if err := classify.ActivateOnRuntimeClassAdd(ctx, h); err != nil {
			return nil, err
		}
	} else {
		pl.classifier = tenancy.NewStatic(cfg, nil, nil)
	}
	return pl, nil
}

func getArgs(obj runtime.Object) (*config.SandboxFeaturesArgs, error) {
	args, ok := obj.(*config.SandboxFeaturesArgs)
	if !ok {
		return nil, fmt.Errorf("want args to be of type SandboxFeaturesArgs, got %T", obj)
	}
	return args, nil
}

// preFilterState holds what a pod needs from a node.
type preFilterState struct {
	reqs []*requirement
}

// Clone returns the state itself: it is never modified after PreFilter
// and does not depend on other pods.
func (s *preFilterState) Clone() fwk.StateData { return s }

// PreFilter derives the pod's node requirements from its runtime handler
// and its device requests; a pod that needs nothing is skipped.
func (pl *SandboxFeatures) PreFilter(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, _ []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	rt, err := pl.classifier.Runtime(pod.Spec.RuntimeClassName)
	if err != nil {
		return nil, classify.Status(pod, err)
	}
	reqs, err := pl.requirementsOf(pod, rt)
	if err != nil {
		return nil, fwk.AsStatus(err)
	}
	if len(reqs) == 0 {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	if loggerV := klog.FromContext(ctx).V(5); loggerV.Enabled() {
		loggerV.Info("pod needs node features", "pod", klog.KObj(pod), "requirements", requirementNames(reqs))
	}
	cycleState.Write(preFilterStateKey, &preFilterState{reqs: reqs})
	return nil, nil
}

// PreFilterExtensions returns nil: the state does not depend on other pods.
func (pl *SandboxFeatures) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// Filter rejects a node that lacks one of the pod's requirements. Labels do
// not change by preempting pods, so the rejection is unresolvable.
func (pl *SandboxFeatures) Filter(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	s, err := getPreFilterState(cycleState)
	if err != nil {
		return fwk.AsStatus(err)
	}
	node := nodeInfo.Node()
	missing := missingOn(s.reqs, node)
	if len(missing) == 0 {
		return nil
	}
	if loggerV := klog.FromContext(ctx).V(4); loggerV.Enabled() {
		loggerV.Info("node lacks sandbox features", "pod", klog.KObj(pod), "node", klog.KObj(node), "missing", missing)
	}
	return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonNodeLacks+strings.Join(missing, ", "))
}

// PreScore skips pods that do not run in a VM on the node (their handler
// matches no runtimeRequirements entry that needs KVM, e.g. gVisor): VM
// speed does not matter to them.
func (pl *SandboxFeatures) PreScore(_ context.Context, _ fwk.CycleState, pod *v1.Pod, _ []fwk.NodeInfo) *fwk.Status {
	rt, err := pl.classifier.Runtime(pod.Spec.RuntimeClassName)
	if err != nil {
		return fwk.AsStatus(fmt.Errorf("classifying the runtime of pod %s: %w", klog.KObj(pod), err))
	}
	if !pl.runsVM(rt) {
		return fwk.NewStatus(fwk.Skip)
	}
	return nil
}

// runsVM reports whether the pod's runtime starts a VM on the node: an
// on-node sandbox whose handler's runtime requirements ask for KVM.
func (pl *SandboxFeatures) runsVM(rt tenancy.Runtime) bool {
	if !rt.Sandboxed || rt.OffNode || rt.Handler == "" {
		return false
	}
	for _, rr := range pl.runtime {
		if rr.needsKVM && tenancy.MatchAny(rr.handlers, rt.Handler) {
			return true
		}
	}
	return false
}

// Score rates a node by how fast it runs VMs: the configured weight of its
// mtscn.io/virt-mode (hardware > pvm > nested by default), 0 without one.
func (pl *SandboxFeatures) Score(_ context.Context, _ fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	return int64(pl.virtModeWeight(nodeInfo.Node().Labels[wellknown.LabelVirtMode])), nil
}

// ScoreExtensions returns the plugin itself: scores are normalized.
func (pl *SandboxFeatures) ScoreExtensions() fwk.ScoreExtensions { return pl }

// NormalizeScore scales the scores so that the best node gets MaxNodeScore.
func (pl *SandboxFeatures) NormalizeScore(_ context.Context, _ fwk.CycleState, _ *v1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	return helper.DefaultNormalizeScore(fwk.MaxNodeScore, false, scores)
}

// SignPod signs the pod by what this plugin derives from it: its node
// requirements and whether virt-mode scoring applies. Pods with the same
// signature get the same Filter and Score results on every node.
func (pl *SandboxFeatures) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	reqs, rt, err := pl.requirementsFor(pod)
	if err != nil {
		return nil, fwk.AsStatus(err)
	}
	keys := make([]string, 0, len(reqs))
	for _, r := range reqs {
		keys = append(keys, r.key)
	}
	sort.Strings(keys)
	return []fwk.SignFragment{{Key: SignerName, Value: podSignature{
		Requirements:  keys,
		ScoreVirtMode: pl.runsVM(rt),
	}}}, nil
}

type podSignature struct {
	Requirements  []string `json:"requirements"`
	ScoreVirtMode bool     `json:"scoreVirtMode"`
}

// EventsToRegister returns the events that can make a pod rejected by this
// plugin schedulable: a node that appears, or a node whose labels change
// (the NFD rules and the agent publish features as labels), and the
// creation of the RuntimeClass the pod names. Pod events cannot help: a
// pod's runtimeClassName is immutable and its extended resource requests
// cannot be resized.
func (pl *SandboxFeatures) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		{
			Event:          fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel},
			QueueingHintFn: pl.isSchedulableAfterNodeChange,
		},
		classify.RuntimeClassAdded(),
	}, nil
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
	if err != nil {
		// The pod cannot be classified now; let a scheduling attempt
		// report why.
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

func getPreFilterState(cycleState fwk.CycleState) (*preFilterState, error) {
	c, err := cycleState.Read(preFilterStateKey)
	if err != nil {
		return nil, fmt.Errorf("reading %q from cycle state: %w", preFilterStateKey, err)
	}
	s, ok := c.(*preFilterState)
	if !ok {
		return nil, fmt.Errorf("invalid PreFilter state, got type %T, expected %T", c, &preFilterState{})
	}
	return s, nil
}

// requirement is one named node requirement, compiled to a label selector.
// A templated requirement (a key with {handler}) is compiled per pod.
type requirement struct {
	name      string
	exprs     []v1.NodeSelectorRequirement
	templated bool
	sel       labels.Selector
	// key identifies the requirement after templating, for deduplication
	// and pod signatures.
	key string
}

type runtimeRule struct {
	handlers []string
	reqs     []*requirement
	// needsKVM: the handler starts a VM on the node (its requirements ask
	// for mtscn.io/kvm), so virt-mode scoring applies; gVisor's do not.
	needsKVM bool
}

// needsKVM reports whether the requirements ask for a usable /dev/kvm.
func needsKVM(reqs []config.NodeRequirement) bool {
	for _, r := range reqs {
		for _, e := range r.MatchExpressions {
			if e.Key == wellknown.LabelKVM {
				return true
			}
		}
	}
	return false
}

type deviceRule struct {
	resources     []string
	sandboxedOnly bool
	reqs          []*requirement
}

func compileRequirements(fp *field.Path, in []config.NodeRequirement) ([]*requirement, error) {
	out := make([]*requirement, 0, len(in))
	for i, nr := range in {
		r := &requirement{name: nr.Name, exprs: nr.MatchExpressions}
		for _, e := range nr.MatchExpressions {
			if strings.Contains(e.Key, validation.HandlerPlaceholder) {
				r.templated = true
			}
		}
		if !r.templated {
			sel, key, err := selectorFor(nr.Name, nr.MatchExpressions, "")
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fp.Index(i).String(), err)
			}
			r.sel, r.key = sel, key
		}
		out = append(out, r)
	}
	return out, nil
}

// selectorFor builds the label selector of a requirement, with {handler}
// replaced by handler in its keys, and a key identifying it.
func selectorFor(name string, exprs []v1.NodeSelectorRequirement, handler string) (labels.Selector, string, error) {
	sel := labels.NewSelector()
	for _, e := range exprs {
		key := strings.ReplaceAll(e.Key, validation.HandlerPlaceholder, handler)
		op, ok := selectorOps[e.Operator]
		if !ok {
			return nil, "", fmt.Errorf("requirement %q: unsupported operator %q", name, e.Operator)
		}
		r, err := labels.NewRequirement(key, op, e.Values)
		if err != nil {
			return nil, "", fmt.Errorf("requirement %q: %w", name, err)
		}
		sel = sel.Add(*r)
	}
	return sel, name + ":" + sel.String(), nil
}

var selectorOps = map[v1.NodeSelectorOperator]selection.Operator{
	v1.NodeSelectorOpIn:           selection.In,
	v1.NodeSelectorOpNotIn:        selection.NotIn,
	v1.NodeSelectorOpExists:       selection.Exists,
	v1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	v1.NodeSelectorOpGt:           selection.GreaterThan,
	v1.NodeSelectorOpLt:           selection.LessThan,
}

// requirementsFor returns what the pod needs from a node, deduplicated, in
// configuration order (runtime requirements, then device requirements), and
// the pod's runtime classification.
func (pl *SandboxFeatures) requirementsFor(pod *v1.Pod) ([]*requirement, tenancy.Runtime, error) {
	rt, err := pl.classifier.Runtime(pod.Spec.RuntimeClassName)
	if err != nil {
		return nil, rt, fmt.Errorf("classifying the runtime of pod %s: %w", klog.KObj(pod), err)
	}
	reqs, err := pl.requirementsOf(pod, rt)
	return reqs, rt, err
}

// requirementsOf is requirementsFor with the pod's runtime classified.
func (pl *SandboxFeatures) requirementsOf(pod *v1.Pod, rt tenancy.Runtime) ([]*requirement, error) {
	var out []*requirement
	seen := map[string]bool{}
	add := func(reqs []*requirement) error {
		for _, r := range reqs {
			if r.templated {
				sel, key, err := selectorFor(r.name, r.exprs, rt.Handler)
				if err != nil {
					return fmt.Errorf("runtime handler %q of pod %s: %w", rt.Handler, klog.KObj(pod), err)
				}
				name := strings.ReplaceAll(r.name, validation.HandlerPlaceholder, rt.Handler)
				r = &requirement{name: name, sel: sel, key: key}
			}
			if !seen[r.key] {
				seen[r.key] = true
				out = append(out, r)
			}
		}
		return nil
	}
	// An off-node sandbox's VM runs elsewhere: the node's features do not
	// matter to it.
	if rt.Handler != "" && !rt.OffNode {
		for _, rr := range pl.runtime {
			if tenancy.MatchAny(rr.handlers, rt.Handler) {
				if err := add(rr.reqs); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, dr := range pl.devices {
		if dr.sandboxedOnly && !rt.Sandboxed {
			continue
		}
		if requestsAny(pod, dr.resources) {
			if err := add(dr.reqs); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// requestsAny reports whether a container or init container of the pod
// requests or limits a resource whose name matches one of patterns.
func requestsAny(pod *v1.Pod, patterns []string) bool {
	match := func(cs []v1.Container) bool {
		for i := range cs {
			for name := range cs[i].Resources.Requests {
				if tenancy.MatchAny(patterns, string(name)) {
					return true
				}
			}
			for name := range cs[i].Resources.Limits {
				if tenancy.MatchAny(patterns, string(name)) {
					return true
				}
			}
		}
		return false
	}
	return match(pod.Spec.Containers) || match(pod.Spec.InitContainers)
}

// missingOn returns the names of the requirements the node does not meet,
// in requirement order, each once.
func missingOn(reqs []*requirement, node *v1.Node) []string {
	var missing []string
	set := labels.Set(node.Labels)
	for _, r := range reqs {
		if !r.sel.Matches(set) && !contains(missing, r.name) {
			missing = append(missing, r.name)
		}
	}
	return missing
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func requirementNames(reqs []*requirement) []string {
	out := make([]string, 0, len(reqs))
	for _, r := range reqs {
		out = append(out, r.name)
	}
	return out
}

func (pl *SandboxFeatures) virtModeWeight(mode string) int32 {
	switch mode {
	case wellknown.VirtModeHardware:
		return pl.weights.Hardware
	case wellknown.VirtModePVM:
		return pl.weights.PVM
	case wellknown.VirtModeNested:
		return pl.weights.Nested
	}
	return 0
}
