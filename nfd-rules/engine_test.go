package nfdrules

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// TestEvaluate checks Evaluate itself: it leaves the caller's features
// alone and reports what nfd-master would drop instead of hiding it.
func TestEvaluate(t *testing.T) {
	features := newNode().kvm(wellknown.ModuleKVMIntel).attrs(wellknown.FeatureCPU, wellknown.CPUHypervisor, "false").f
	before := features.DeepCopy()
	rules := loadRules(t)
	if _, err := Evaluate(rules, features); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, features); diff != "" {
		t.Errorf("Evaluate changed its input (-before,+after):\n%s", diff)
	}

	broken := nfdv1alpha1.NodeFeatureRule{Spec: nfdv1alpha1.NodeFeatureRuleSpec{Rules: []nfdv1alpha1.Rule{{
		Name:              "typo",
		ExtendedResources: map[string]string{"mtscn.io/sandboxes": "@mtscn.capacity.sandbox"},
		Labels:            map[string]string{"kubernetes.io/forbidden": "true", "mtscn.io/fine": "true"},
		MatchFeatures:     nfdv1alpha1.FeatureMatcher{{Feature: wellknown.FeatureKVM}},
	}}}}
	got, err := Evaluate([]nfdv1alpha1.NodeFeatureRule{broken}, newNode().kvm(wellknown.ModuleKVMIntel).capacity("1", "2").f)
	if err == nil {
		t.Fatal("Evaluate accepted a dynamic value naming a missing element and a label in a denied namespace")
	}
	for _, want := range []string{"element sandbox not found on feature mtscn.capacity", "label kubernetes.io/forbidden"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if diff := cmp.Diff(Output{Labels: map[string]string{"mtscn.io/fine": "true"}, ExtendedResources: map[string]string{}}, got); diff != "" {
		t.Errorf("output next to the error (-want,+got):\n%s", diff)
	}
}
