package nfdrules

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/sets"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"
	"sigs.k8s.io/node-feature-discovery/pkg/apis/nfd/validate"
	"sigs.k8s.io/yaml"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// TestRulesAreValid checks every rule the way nfd-master's NodeFeatureRule
// validation does, and that each rule can produce output (a rule with a
// typo in a feature name would silently never match).
func TestRulesAreValid(t *testing.T) {
	rules := loadRules(t)
	names := sets.New[string]()
	seen := sets.New[string]()
	for _, obj := range rules {
		if names.Has(obj.Name) {
			t.Errorf("duplicate NodeFeatureRule name %q", obj.Name)
		}
		names.Insert(obj.Name)
		for _, r := range obj.Spec.Rules {
			var errs []error
			errs = append(errs, validate.MatchFeatures(r.MatchFeatures)...)
			errs = append(errs, validate.MatchAny(r.MatchAny)...)
			errs = append(errs, validate.Template(r.LabelsTemplate)...)
			errs = append(errs, validate.Labels(r.Labels)...)
			errs = append(errs, validate.Taints(r.Taints)...)
			for k, v := range r.ExtendedResources {
				if strings.HasPrefix(v, "@") {
					v = "1"
				}
				if err := validate.ExtendedResource(k, v); err != nil {
					errs = append(errs, fmt.Errorf("extended resource %s: %w", k, err))
				}
			}
			for _, err := range errs {
				t.Errorf("%s rule %q: %v", obj.Name, r.Name, err)
			}
			if seen.Has(r.Name) {
				t.Errorf("duplicate rule name %q", r.Name)
			}
			seen.Insert(r.Name)
			for _, term := range allTerms(r) {
				if !strings.HasPrefix(term, wellknown.FeatureDomain+".") && !knownNFDFeature.MatchString(term) {
					t.Errorf("%s rule %q matches feature %q that neither mtscn-node nor NFD publishes", obj.Name, r.Name, term)
				}
			}
		}
	}
}

var knownNFDFeature = regexp.MustCompile(`^(cpu\.(cpuid|security|topology)|kernel\.(loadedmodule|config)|pci\.device)$`)

func allTerms(r nfdv1alpha1.Rule) []string {
	var out []string
	for _, m := range r.MatchFeatures {
		out = append(out, m.Feature)
	}
	for _, a := range r.MatchAny {
		for _, m := range a.MatchFeatures {
			out = append(out, m.Feature)
		}
	}
	return out
}

// TestKustomizationListsEveryRule keeps kustomization.yaml, Files and the
// directory in step.
func TestKustomizationListsEveryRule(t *testing.T) {
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("decoding kustomization.yaml: %v", err)
	}
	if diff := cmp.Diff(Files, k.Resources); diff != "" {
		t.Errorf("kustomization resources (-Files,+kustomization.yaml):\n%s", diff)
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var yamls []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "kustomization.yaml" {
			yamls = append(yamls, e.Name())
		}
	}
	want := append([]string(nil), Files...)
	sort.Strings(want)
	if diff := cmp.Diff(want, yamls); diff != "" {
		t.Errorf("rule files in the directory (-Files,+directory):\n%s", diff)
	}
}
