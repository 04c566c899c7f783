package sandboxfeatures

import (
	"context"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/validation"
	"github.com/mtscn/mtscn/pkg/plugins/internal/classify"
	"github.com/mtscn/mtscn/pkg/plugins/internal/metrics"
	"github.com/mtscn/mtscn/pkg/plugins/names"
	"github.com/mtscn/mtscn/pkg/tenancy"
)

// SandboxFeatures is a plugin that places sandboxed pods only on nodes whose
// virtualization features can run them. It holds only its compiled
// arguments and the runtime classifier.
type SandboxFeatures struct {
	classifier *tenancy.Classifier
	runtime    []runtimeRule
	devices    []deviceRule
	weights    config.VirtModeWeights
	// scans remember, per requirement set, which nodes met it, for
	// PreFilter's candidate nodes (candidates.go).
	scans scans
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

	// requirementsSignerName is the key of the sign fragment: the
	// requirements derived from the pod's runtime handler and devices, and
	// whether virt-mode scoring applies.
	requirementsSignerName = "mtscn.io/v1.Pod.Spec.SandboxFeatureRequirements()"
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
	if err := classify.OneClassification(h, Name, args.SandboxClassification); err != nil {
		return nil, err
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
	metrics.Register()
	return pl, nil
}

func getArgs(obj runtime.Object) (*config.SandboxFeaturesArgs, error) {
	args, ok := obj.(*config.SandboxFeaturesArgs)
	if !ok {
		return nil, fmt.Errorf("want args to be of type SandboxFeaturesArgs, got %T", obj)
	}
	return args, nil
}

// PreFilter derives the pod's node requirements from its runtime handler
// and its device requests; a pod that needs nothing is skipped. When the
// requirements select a small part of a large cluster (scarce hardware such
// as TDX or QAT VFs on vfio-pci), the result names the nodes that meet them,
// so the scheduler runs the filters on those nodes only instead of on every
// node while it looks for enough feasible ones (candidates.go). Filter
// still checks every requirement.
func (pl *SandboxFeatures) PreFilter(ctx context.Context, cycleState fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	rt, err := pl.classifier.Runtime(pod.Spec.RuntimeClassName)
	if err != nil {
		return nil, classify.Status(Name, pod, err)
	}
	reqs, err := pl.requirementsOf(pod, rt)
	if err != nil {
		return nil, fwk.AsStatus(err)
	}
	if len(reqs) == 0 {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	cycleState.Write(preFilterStateKey, &preFilterState{reqs: reqs})
	names := pl.candidates(reqs, nodes)
	if loggerV := klog.FromContext(ctx).V(5); loggerV.Enabled() {
		loggerV.Info("pod needs node features", "pod", klog.KObj(pod), "requirements", requirementNames(reqs), "candidates", len(names), "nodes", len(nodes))
	}
	if names == nil {
		return nil, nil
	}
	return &fwk.PreFilterResult{NodeNames: names}, nil
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
	metrics.Rejected(Name, ErrReasonNodeLacks)
	return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonNodeLacks+strings.Join(missing, ", "))
}

// SignPod signs the pod by what this plugin derives from it: its node
// requirements and whether virt-mode scoring applies. Pods with the same
// signature get the same Filter and Score results on every node.
func (pl *SandboxFeatures) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	reqs, rt, err := pl.requirementsFor(pod)
	if classify.IsMissing(err) {
		// PreFilter rejects the pod; there is nothing to share.
		return nil, fwk.NewStatus(fwk.Unschedulable, err.Error())
	}
	if err != nil {
		return nil, fwk.AsStatus(err)
	}
	keys := make([]string, 0, len(reqs))
	for _, r := range reqs {
		keys = append(keys, r.key)
	}
	sort.Strings(keys)
	return []fwk.SignFragment{{Key: requirementsSignerName, Value: podSignature{
		Requirements:  keys,
		ScoreVirtMode: pl.runsVM(rt),
	}}}, nil
}

type podSignature struct {
	Requirements  []string `json:"requirements"`
	ScoreVirtMode bool     `json:"scoreVirtMode"`
}
