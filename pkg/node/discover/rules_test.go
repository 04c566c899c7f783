package discover

import (
	"maps"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"
	"sigs.k8s.io/node-feature-discovery/pkg/apis/nfd/nodefeaturerule"
	"sigs.k8s.io/yaml"

	nfdrules "github.com/mtscn/mtscn/nfd-rules"
	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// ruleOutput is what nfd-master puts on the Node from mtscn's rules.
type ruleOutput struct {
	Labels            map[string]string
	ExtendedResources map[string]string
}

// runRules runs nfd-rules/ through NFD's rule engine the way nfd-master
// v0.18.3 does: rule objects sorted by name, rules in order, each rule's
// labels fed back as rule.matched, "@domain.feature.element" values resolved
// against the features.
func runRules(t *testing.T, features *nfdv1alpha1.Features) ruleOutput {
	t.Helper()
	var rules []nfdv1alpha1.NodeFeatureRule
	for _, p := range nfdrules.Paths() {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("reading rule file: %v", err)
		}
		var r nfdv1alpha1.NodeFeatureRule
		if err := yaml.UnmarshalStrict(data, &r); err != nil {
			t.Fatalf("decoding %s: %v", p, err)
		}
		rules = append(rules, r)
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].Name < rules[j].Name })
	out := ruleOutput{Labels: map[string]string{}, ExtendedResources: map[string]string{}}
	for _, obj := range rules {
		for i := range obj.Spec.Rules {
			res, err := nodefeaturerule.Execute(&obj.Spec.Rules[i], features, true)
			if err != nil {
				t.Fatalf("rule %q of %s: %v", obj.Spec.Rules[i].Name, obj.Name, err)
			}
			maps.Copy(out.Labels, res.Labels)
			maps.Copy(out.ExtendedResources, res.ExtendedResources)
			features.InsertAttributeFeatures(nfdv1alpha1.RuleBackrefDomain, nfdv1alpha1.RuleBackrefFeature, res.Labels)
			features.InsertAttributeFeatures(nfdv1alpha1.RuleBackrefDomain, nfdv1alpha1.RuleBackrefFeature, res.Vars)
		}
	}
	for k, v := range out.ExtendedResources {
		if ref, ok := strings.CutPrefix(v, "@"); ok {
			parts := strings.SplitN(ref, ".", 3)
			if len(parts) != 3 {
				t.Fatalf("extended resource %s: bad reference %q", k, v)
			}
			val, ok := features.Attributes[parts[0]+"."+parts[1]].Elements[parts[2]]
			if !ok {
				t.Fatalf("extended resource %s: %s not among the agent's features", k, v)
			}
			out.ExtendedResources[k] = val
		}
	}
	return out
}

// TestFixturesThroughNFDRules feeds each fixture's NodeFeature features
// through NFD's rule engine with nfd-rules/ and checks the labels and
// extended resources the scheduler plugins will see; the node-labels
// fallback (Labels) must produce the same labels.
func TestFixturesThroughNFDRules(t *testing.T) {
	tests := []struct {
		fixture string
		want    ruleOutput
	}{
		{"intel-qat-baremetal", ruleOutput{
			Labels: map[string]string{
				"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "hardware", "mtscn.io/iommu": "true", "mtscn.io/qat-vfio": "true",
				"mtscn.io/runtime.kata-qemu": "true", "mtscn.io/runtime.kata-clh": "true",
			},
			ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "270247219200", "mtscn.io/sandboxes": "110"},
		}},
		{"amd-sev-snp", ruleOutput{
			Labels: map[string]string{
				"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "hardware", "mtscn.io/iommu": "true",
				"mtscn.io/runtime.kata-qemu": "true", "mtscn.io/runtime.kata-qemu-snp": "true",
			},
			ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "405736701952", "mtscn.io/sandboxes": "110"},
		}},
		{"nested-cloud-vm", ruleOutput{
			Labels:            map[string]string{"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "nested", "mtscn.io/runtime.kata-qemu": "true"},
			ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "8384286720", "mtscn.io/sandboxes": "3"},
		}},
		{"vm-no-kvm", ruleOutput{
			Labels:            map[string]string{},
			ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "0", "mtscn.io/sandboxes": "0"},
		}},
		{"smt-l1tf-vulnerable", ruleOutput{
			Labels: map[string]string{
				"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "hardware", "mtscn.io/cotenancy-safe": "false",
				"mtscn.io/runtime.kata-qemu": "true", "mtscn.io/runtime.kata-fc": "true", "mtscn.io/runtime.runsc": "true",
			},
			ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "100663296000", "mtscn.io/sandboxes": "32"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			res := Discover(ctx, fixtureOptions(tc.fixture))
			got := runRules(t, res.Features())
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("nfd-rules on %s (-want,+got):\n%s", tc.fixture, diff)
			}
			if diff := cmp.Diff(tc.want.Labels, Labels(res.Features())); diff != "" {
				t.Errorf("node-labels fallback on %s differs from nfd-rules (-want,+got):\n%s", tc.fixture, diff)
			}
		})
	}
}

// TestKataLabels checks the per-handler sizing labels and that pkg/vmsize
// parses them back into the fixture's values.
func TestKataLabels(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	got := KataLabels(Discover(ctx, fixtureOptions("amd-sev-snp")))
	want := map[string]string{
		"mtscn.io/kata.kata-qemu.default-memory":     "2048",
		"mtscn.io/kata.kata-qemu.sizing":             "hotplug",
		"mtscn.io/kata.kata-qemu.shm-backed":         "true",
		"mtscn.io/kata.kata-qemu-snp.default-memory": "2048",
		"mtscn.io/kata.kata-qemu-snp.sizing":         "static",
		"mtscn.io/kata.kata-qemu-snp.shm-backed":     "false",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("KataLabels (-want,+got):\n%s", diff)
	}
	values, errs := vmsize.ParseNodeLabels(got)
	if len(errs) > 0 {
		t.Fatalf("vmsize cannot parse the agent's labels: %v", errs)
	}
	if v := values["kata-qemu-snp"]; v.DefaultMemory == nil || *v.DefaultMemory != 2048<<20 || v.Sizing == nil || *v.Sizing != config.SizingStatic {
		t.Errorf("vmsize read kata-qemu-snp as %+v, want 2Gi default memory and static sizing", v)
	}
	for k := range got {
		if !IsOwnedLabel(k) {
			t.Errorf("label %s is not owned by the agent: node-labels mode would never remove it", k)
		}
	}
	// A handler whose configuration cannot be read publishes nothing.
	if got := KataLabels(Discover(ctx, fixtureOptions("smt-l1tf-vulnerable"))); got["mtscn.io/kata.kata-fc.sizing"] != "" {
		t.Errorf("kata-fc has no readable configuration: want no labels, got %v", got)
	}
}

// TestRealHostThroughNFDRules runs this machine's features through
// nfd-rules: the kvm and virt-mode labels must agree with discovery.
func TestRealHostThroughNFDRules(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	res := Discover(ctx, Options{})
	got := runRules(t, res.Features())
	want := map[string]string{}
	if res.KVM.Usable {
		want["mtscn.io/kvm"] = "true"
		want["mtscn.io/virt-mode"] = res.KVM.Mode
	}
	for _, k := range []string{"mtscn.io/kvm", "mtscn.io/virt-mode"} {
		if got.Labels[k] != want[k] {
			t.Errorf("label %s: rules say %q, discovery says %q (kvm %+v)", k, got.Labels[k], want[k], res.KVM)
		}
	}
	if diff := cmp.Diff(got.Labels, Labels(res.Features())); diff != "" {
		t.Errorf("node-labels fallback differs from nfd-rules on this machine (-rules,+fallback):\n%s", diff)
	}
}
