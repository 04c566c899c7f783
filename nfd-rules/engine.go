package nfdrules

import (
	"embed"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"

	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"
	"sigs.k8s.io/node-feature-discovery/pkg/apis/nfd/nodefeaturerule"
	"sigs.k8s.io/node-feature-discovery/pkg/apis/nfd/validate"
	"sigs.k8s.io/yaml"
)

//go:embed kvm.yaml devices.yaml cotenancy.yaml runtimes.yaml
var embedded embed.FS

// Load returns the NodeFeatureRules of this directory, decoded strictly and
// sorted by name, the order in which nfd-master runs them.
func Load() ([]nfdv1alpha1.NodeFeatureRule, error) {
	var out []nfdv1alpha1.NodeFeatureRule
	for _, f := range Files {
		data, err := embedded.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f, err)
		}
		var r nfdv1alpha1.NodeFeatureRule
		if err := yaml.UnmarshalStrict(data, &r); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", f, err)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Output is what nfd-master would set on the Node: labels and extended
// resources (capacity).
type Output struct {
	Labels            map[string]string
	ExtendedResources map[string]string
}

// Evaluate runs rules against a node's merged features the way nfd-master
// v0.18.3 does (processNodeFeatureRule, filterFeatureLabels,
// filterExtendedResources): objects in the given order, rules in order, with
// NFD's own engine (failFast), each rule's labels and vars fed back as the
// rule.matched feature, keys without a prefix put in
// feature.node.kubernetes.io, "@domain.feature.element" values resolved
// against the features, and invalid outputs dropped. features is not
// modified. The error lists what nfd-master would have dropped or failed to
// run; Output holds the rest.
func Evaluate(rules []nfdv1alpha1.NodeFeatureRule, features *nfdv1alpha1.Features) (Output, error) {
	features = features.DeepCopy()
	if features.Attributes == nil {
		features.Attributes = map[string]nfdv1alpha1.AttributeFeatureSet{}
	}
	var errs []error
	labels := map[string]string{}
	ers := map[string]string{}
	for _, obj := range rules {
		for i := range obj.Spec.Rules {
			rule := &obj.Spec.Rules[i]
			out, err := nodefeaturerule.Execute(rule, features, true)
			if err != nil {
				errs = append(errs, fmt.Errorf("rule %q of NodeFeatureRule %s: %w", rule.Name, obj.Name, err))
				continue
			}
			maps.Copy(labels, addNs(out.Labels, nfdv1alpha1.FeatureLabelNs))
			maps.Copy(ers, addNs(out.ExtendedResources, nfdv1alpha1.ExtendedResourceNs))
			features.InsertAttributeFeatures(nfdv1alpha1.RuleBackrefDomain, nfdv1alpha1.RuleBackrefFeature, out.Labels)
			features.InsertAttributeFeatures(nfdv1alpha1.RuleBackrefDomain, nfdv1alpha1.RuleBackrefFeature, out.Vars)
		}
	}
	res := Output{Labels: map[string]string{}, ExtendedResources: map[string]string{}}
	for k, v := range labels {
		v, err := dynamicValue(v, features)
		if err == nil {
			err = validate.Label(k, v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("label %s: %w", k, err))
			continue
		}
		res.Labels[k] = v
	}
	for k, v := range ers {
		v, err := dynamicValue(v, features)
		if err == nil {
			err = validate.ExtendedResource(k, v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("extended resource %s: %w", k, err))
			continue
		}
		res.ExtendedResources[k] = v
	}
	return res, errors.Join(errs...)
}

func addNs(in map[string]string, ns string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		if !strings.Contains(k, "/") {
			k = ns + "/" + k
		}
		out[k] = v
	}
	return out
}

// dynamicValue is nfd-master's getDynamicValue: "@domain.feature.element"
// names an attribute element; other values are literal.
func dynamicValue(value string, features *nfdv1alpha1.Features) (string, error) {
	if !strings.HasPrefix(value, "@") {
		return value, nil
	}
	split := strings.SplitN(value[1:], ".", 3)
	if len(split) != 3 {
		return "", fmt.Errorf("value %s is not in the form of '@domain.feature.element'", value)
	}
	set, ok := features.Attributes[split[0]+"."+split[1]]
	if !ok {
		return "", fmt.Errorf("feature %s.%s not found", split[0], split[1])
	}
	v, ok := set.Elements[split[2]]
	if !ok {
		return "", fmt.Errorf("element %s not found on feature %s.%s", split[2], split[0], split[1])
	}
	return v, nil
}
