package sandboxfeatures

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/validation"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

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
