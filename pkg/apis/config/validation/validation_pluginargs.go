package validation

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// HandlerPlaceholder in a requirement key stands for the pod's runtime
// handler; it is substituted before the key is used.
const HandlerPlaceholder = "{handler}"

// ValidateTenantIsolationArgs validates TenantIsolation args.
func ValidateTenantIsolationArgs(p *field.Path, args *config.TenantIsolationArgs) error {
	var errs field.ErrorList
	if len(args.TenantLabelKeys) == 0 {
		errs = append(errs, field.Required(p.Child("tenantLabelKeys"), "list at least one Namespace label key that names a tenant, e.g. "+wellknown.LabelTenant))
	}
	seen := sets.New[string]()
	for i, k := range args.TenantLabelKeys {
		fp := p.Child("tenantLabelKeys").Index(i)
		for _, msg := range metav1validation.ValidateLabelName(k, fp) {
			errs = append(errs, msg)
		}
		if seen.Has(k) {
			errs = append(errs, field.Duplicate(fp, k))
		}
		seen.Insert(k)
	}
	for i, ns := range args.InfrastructureNamespaces {
		for _, msg := range utilvalidation.IsDNS1123Label(ns) {
			errs = append(errs, field.Invalid(p.Child("infrastructureNamespaces").Index(i), ns, msg))
		}
	}
	errs = append(errs, validateClassification(p, &args.SandboxClassification)...)
	switch args.SideChannelPolicy {
	case config.SideChannelEnforce, config.SideChannelIgnore:
	default:
		errs = append(errs, field.NotSupported(p.Child("sideChannelPolicy"), args.SideChannelPolicy,
			[]string{string(config.SideChannelEnforce), string(config.SideChannelIgnore)}))
	}
	return errs.ToAggregate()
}

// ValidateSandboxOverheadArgs validates SandboxOverhead args.
func ValidateSandboxOverheadArgs(p *field.Path, args *config.SandboxOverheadArgs) error {
	var errs field.ErrorList
	errs = append(errs, validateClassification(p, &args.SandboxClassification)...)
	seen := sets.New[string]()
	for i, prof := range args.Profiles {
		fp := p.Child("profiles").Index(i)
		errs = append(errs, validateGlob(fp.Child("handler"), prof.Handler)...)
		if seen.Has(prof.Handler) {
			errs = append(errs, field.Duplicate(fp.Child("handler"), prof.Handler))
		}
		seen.Insert(prof.Handler)
		if prof.Handler != "" && !PatternCovered(args.SandboxedHandlers, prof.Handler) {
			errs = append(errs, field.Invalid(fp.Child("handler"), prof.Handler,
				"matches no sandboxedHandlers pattern, so its pods are not VMs and the profile never applies: add a matching pattern to sandboxedHandlers"))
		}
		switch prof.Sizing {
		case config.SizingHotplug, config.SizingStatic, config.SizingOffNode, config.SizingUserSpace:
		default:
			errs = append(errs, field.NotSupported(fp.Child("sizing"), prof.Sizing,
				[]string{string(config.SizingHotplug), string(config.SizingStatic), string(config.SizingOffNode), string(config.SizingUserSpace)}))
		}
		errs = append(errs, validateNonNegative(fp.Child("defaultMemory"), prof.DefaultMemory)...)
		errs = append(errs, validateNonNegative(fp.Child("overheadMemory"), prof.OverheadMemory)...)
		errs = append(errs, validateNonNegative(fp.Child("hostOverhead"), prof.HostOverhead)...)
		if (prof.Sizing == config.SizingHotplug || prof.Sizing == config.SizingStatic) && prof.DefaultMemory.Sign() <= 0 {
			errs = append(errs, field.Invalid(fp.Child("defaultMemory"), prof.DefaultMemory.String(), "must be positive for an on-node VM (Kata's default_memory, e.g. 2048Mi)"))
		}
	}
	if args.OvercommitRatio < 1.0 || args.OvercommitRatio > 10.0 {
		errs = append(errs, field.Invalid(p.Child("overcommitRatio"), args.OvercommitRatio, "must be between 1.0 (no overcommit) and 10.0"))
	}
	for i, r := range args.VFIOResources {
		errs = append(errs, validateGlob(p.Child("vfioResources").Index(i), r)...)
	}
	errs = append(errs, validateNonNegative(p.Child("vfioPinnedOverhead"), args.VFIOPinnedOverhead)...)
	switch args.ScoringStrategy {
	case config.LeastCommitted, config.MostCommitted:
	default:
		errs = append(errs, field.NotSupported(p.Child("scoringStrategy"), args.ScoringStrategy,
			[]string{string(config.LeastCommitted), string(config.MostCommitted)}))
	}
	errs = append(errs, validateLearnedOverhead(p.Child("learnedOverhead"), &args.LearnedOverhead)...)
	return errs.ToAggregate()
}

// MaxObservedSamples is the most samples a node's observed overhead can
// rest on: the node agent keeps a window of 256 per handler
// (pkg/node/overhead).
const MaxObservedSamples = 256

func validateLearnedOverhead(p *field.Path, l *config.LearnedOverhead) field.ErrorList {
	var errs field.ErrorList
	if l.MinSamples < 1 || l.MinSamples > MaxObservedSamples {
		errs = append(errs, field.Invalid(p.Child("minSamples"), l.MinSamples,
			fmt.Sprintf("must be between 1 and %d (the node agent keeps at most %d samples per handler)", MaxObservedSamples, MaxObservedSamples)))
	}
	// NaN fails both comparisons' negation: test for the valid range.
	if !(l.MaxFactor >= 1 && l.MaxFactor <= 100) {
		errs = append(errs, field.Invalid(p.Child("maxFactor"), l.MaxFactor,
			"must be between 1 (never above the profile's hostOverhead) and 100"))
	}
	return errs
}

// ValidateSandboxFeaturesArgs validates SandboxFeatures args.
func ValidateSandboxFeaturesArgs(p *field.Path, args *config.SandboxFeaturesArgs) error {
	var errs field.ErrorList
	errs = append(errs, validateClassification(p, &args.SandboxClassification)...)
	for i, rr := range args.RuntimeRequirements {
		fp := p.Child("runtimeRequirements").Index(i)
		if len(rr.Handlers) == 0 {
			errs = append(errs, field.Required(fp.Child("handlers"), "list the runtime handler patterns this requirement applies to, e.g. kata-qemu*"))
		}
		for j, h := range rr.Handlers {
			errs = append(errs, validateGlob(fp.Child("handlers").Index(j), h)...)
		}
		errs = append(errs, validateRequirements(fp.Child("requirements"), rr.Requirements)...)
	}
	for i, dr := range args.DeviceRequirements {
		fp := p.Child("deviceRequirements").Index(i)
		if len(dr.Resources) == 0 {
			errs = append(errs, field.Required(fp.Child("resources"), "list the extended resource patterns this requirement applies to, e.g. qat.intel.com/*"))
		}
		for j, r := range dr.Resources {
			errs = append(errs, validateGlob(fp.Child("resources").Index(j), r)...)
		}
		errs = append(errs, validateRequirements(fp.Child("requirements"), dr.Requirements)...)
		if !dr.SandboxedOnly {
			// A pod on the default runtime has no handler to substitute.
			for j, r := range dr.Requirements {
				for k, e := range r.MatchExpressions {
					if strings.Contains(e.Key, HandlerPlaceholder) {
						errs = append(errs, field.Invalid(fp.Child("requirements").Index(j).Child("matchExpressions").Index(k).Child("key"), e.Key,
							"\""+HandlerPlaceholder+"\" needs a runtime handler: set sandboxedOnly: true or use a fixed key"))
					}
				}
			}
		}
	}
	w := args.VirtModeWeights
	wp := p.Child("virtModeWeights")
	for _, wv := range []struct {
		name string
		v    int32
	}{{"hardware", w.Hardware}, {"pvm", w.PVM}, {"nested", w.Nested}} {
		if wv.v < 0 || wv.v > 100 {
			errs = append(errs, field.Invalid(wp.Child(wv.name), wv.v, "must be between 0 and 100"))
		}
	}
	return errs.ToAggregate()
}

// ValidateSameClassification checks that a plugin classifies runtimes like
// the first mtscn plugin of its profile did (docs/design.md, "Vocabulary":
// one classification for the whole profile). p and c are the plugin's
// args path and classification, refPath and ref the other plugin's. The
// patterns are compared as sets: their order does not change what they
// match.
func ValidateSameClassification(p *field.Path, c *config.SandboxClassification, refPath *field.Path, ref *config.SandboxClassification) error {
	var errs field.ErrorList
	for _, f := range []struct {
		name     string
		got, ref []string
	}{
		{"sandboxedHandlers", c.SandboxedHandlers, ref.SandboxedHandlers},
		{"offNodeHandlers", c.OffNodeHandlers, ref.OffNodeHandlers},
	} {
		if !sets.New(f.got...).Equal(sets.New(f.ref...)) {
			errs = append(errs, field.Invalid(p.Child(f.name), f.got, fmt.Sprintf(
				"must equal %s [%s]: the mtscn plugins of one profile classify pods alike; set the same list in every mtscn plugin's args, or leave it out of all of them for the default",
				refPath.Child(f.name), quoted(f.ref))))
		}
	}
	return errs.ToAggregate()
}

// quoted lists patterns as the Invalid value does: `"a","b"`.
func quoted(patterns []string) string {
	q := make([]string, len(patterns))
	for i, p := range patterns {
		q[i] = strconv.Quote(p)
	}
	return strings.Join(q, ",")
}

func validateClassification(p *field.Path, c *config.SandboxClassification) field.ErrorList {
	var errs field.ErrorList
	for i, h := range c.SandboxedHandlers {
		errs = append(errs, validateGlob(p.Child("sandboxedHandlers").Index(i), h)...)
	}
	for i, h := range c.OffNodeHandlers {
		fp := p.Child("offNodeHandlers").Index(i)
		errs = append(errs, validateGlob(fp, h)...)
		if !PatternCovered(c.SandboxedHandlers, h) {
			errs = append(errs, field.Invalid(fp, h, "an off-node handler must also be sandboxed: add a matching pattern to sandboxedHandlers"))
		}
	}
	return errs
}

// matchesAny reports whether the pattern h (taken literally, with its glob
// characters dropped) is covered by one of patterns.
// PatternCovered reports whether the handler pattern h is covered by one
// of patterns: whether a profile or rule for h can ever apply to a handler
// that patterns classify as sandboxed.
func PatternCovered(patterns []string, h string) bool {
	literal := strings.NewReplacer("*", "x", "?", "x", "[", "", "]", "").Replace(h)
	for _, p := range patterns {
		if ok, _ := path.Match(p, literal); ok || p == h {
			return true
		}
	}
	return false
}

func validateGlob(fp *field.Path, pattern string) field.ErrorList {
	if pattern == "" {
		return field.ErrorList{field.Required(fp, "must be a non-empty glob pattern, e.g. kata-qemu*")}
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return field.ErrorList{field.Invalid(fp, pattern, fmt.Sprintf("not a valid glob pattern: %v", err))}
	}
	return nil
}

func validateNonNegative(fp *field.Path, q resource.Quantity) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(fp, q.String(), "must not be negative")}
	}
	return nil
}

func validateRequirements(fp *field.Path, reqs []config.NodeRequirement) field.ErrorList {
	var errs field.ErrorList
	if len(reqs) == 0 {
		errs = append(errs, field.Required(fp, "list at least one node requirement"))
	}
	for i, r := range reqs {
		rp := fp.Index(i)
		if strings.TrimSpace(r.Name) == "" {
			errs = append(errs, field.Required(rp.Child("name"), "give the requirement a name for scheduling failure messages, e.g. \"usable /dev/kvm\""))
		}
		if len(r.MatchExpressions) == 0 {
			errs = append(errs, field.Required(rp.Child("matchExpressions"), "list at least one node label requirement"))
		}
		for j, e := range r.MatchExpressions {
			ep := rp.Child("matchExpressions").Index(j)
			// Substitute a sample handler so that templated keys validate.
			key := strings.ReplaceAll(e.Key, HandlerPlaceholder, "kata-qemu")
			op := nodeSelectorOp(e.Operator)
			if op == "" {
				errs = append(errs, field.NotSupported(ep.Child("operator"), e.Operator,
					[]string{string(v1.NodeSelectorOpIn), string(v1.NodeSelectorOpNotIn), string(v1.NodeSelectorOpExists),
						string(v1.NodeSelectorOpDoesNotExist), string(v1.NodeSelectorOpGt), string(v1.NodeSelectorOpLt)}))
				continue
			}
			if _, err := labels.NewRequirement(key, op, e.Values); err != nil {
				errs = append(errs, field.Invalid(ep, e.Key, err.Error()))
			}
		}
	}
	return errs
}

func nodeSelectorOp(op v1.NodeSelectorOperator) selection.Operator {
	switch op {
	case v1.NodeSelectorOpIn:
		return selection.In
	case v1.NodeSelectorOpNotIn:
		return selection.NotIn
	case v1.NodeSelectorOpExists:
		return selection.Exists
	case v1.NodeSelectorOpDoesNotExist:
		return selection.DoesNotExist
	case v1.NodeSelectorOpGt:
		return selection.GreaterThan
	case v1.NodeSelectorOpLt:
		return selection.LessThan
	}
	return ""
}
