package validation_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/scheme"
	"github.com/mtscn/mtscn/pkg/apis/config/validation"
)

// validate decodes one plugin's args as kube-scheduler would (strict,
// defaulted) and validates them as the plugin's New does.
func validate(t *testing.T, plugin, args string) error {
	t.Helper()
	yaml := "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- pluginConfig:\n  - name: " + plugin + "\n    args:\n" + args
	obj, _, err := scheme.Codecs.UniversalDecoder().Decode([]byte(yaml), nil, nil)
	if err != nil {
		t.Fatalf("decoding: %v", err)
	}
	a := obj.(*schedconfig.KubeSchedulerConfiguration).Profiles[0].PluginConfig[0].Args
	p := field.NewPath("args")
	switch a := a.(type) {
	case *config.TenantIsolationArgs:
		return validation.ValidateTenantIsolationArgs(p, a)
	case *config.SandboxOverheadArgs:
		return validation.ValidateSandboxOverheadArgs(p, a)
	case *config.SandboxFeaturesArgs:
		return validation.ValidateSandboxFeaturesArgs(p, a)
	}
	t.Fatalf("unexpected args type %T", a)
	return nil
}

func TestValidDefaults(t *testing.T) {
	for _, plugin := range []string{"TenantIsolation", "SandboxOverhead", "SandboxFeatures"} {
		if err := validate(t, plugin, "      {}\n"); err != nil {
			t.Errorf("%s defaults are invalid: %v", plugin, err)
		}
	}
}

// TestInvalidArgs: every invalid value is refused with an error that names
// the field path and says what would be valid.
func TestInvalidArgs(t *testing.T) {
	for _, tc := range []struct {
		name, plugin, args string
		want               []string
	}{
		{"empty tenant keys", "TenantIsolation", "      tenantLabelKeys: []\n",
			[]string{"args.tenantLabelKeys", "Required"}},
		{"bad tenant key", "TenantIsolation", "      tenantLabelKeys: [\"not a/valid/key\"]\n",
			[]string{"args.tenantLabelKeys[0]"}},
		{"duplicate tenant key", "TenantIsolation", "      tenantLabelKeys: [a.io/t, a.io/t]\n",
			[]string{"args.tenantLabelKeys[1]", "Duplicate"}},
		{"bad infra namespace", "TenantIsolation", "      infrastructureNamespaces: [Kube_System]\n",
			[]string{"args.infrastructureNamespaces[0]"}},
		{"unknown side-channel policy", "TenantIsolation", "      sideChannelPolicy: Maybe\n",
			[]string{"args.sideChannelPolicy", `"Enforce"`, `"Ignore"`}},
		{"bad handler glob", "TenantIsolation", "      sandboxedHandlers: [\"kata[\"]\n",
			[]string{"args.sandboxedHandlers[0]", "glob"}},
		{"off-node handler not sandboxed", "TenantIsolation", "      offNodeHandlers: [remote-vm]\n",
			[]string{"args.offNodeHandlers[0]", "sandboxedHandlers"}},
		{"overcommit below 1", "SandboxOverhead", "      overcommitRatio: 0.5\n",
			[]string{"args.overcommitRatio", "1.0"}},
		{"unknown scoring strategy", "SandboxOverhead", "      scoringStrategy: Random\n",
			[]string{"args.scoringStrategy", "LeastCommitted", "MostCommitted"}},
		{"unknown sizing", "SandboxOverhead", "      profiles:\n      - handler: kata-qemu\n        sizing: Elastic\n",
			[]string{"args.profiles[0].sizing", "Hotplug"}},
		{"negative host overhead", "SandboxOverhead", "      profiles:\n      - handler: kata-qemu\n        sizing: Hotplug\n        hostOverhead: -1Mi\n",
			[]string{"args.profiles[0].hostOverhead", "negative"}},
		{"zero default memory", "SandboxOverhead", "      profiles:\n      - handler: kata-qemu\n        sizing: Static\n        defaultMemory: \"0\"\n",
			[]string{"args.profiles[0].defaultMemory", "default_memory"}},
		{"duplicate profile", "SandboxOverhead", "      profiles:\n      - {handler: kata-qemu, sizing: Hotplug}\n      - {handler: kata-qemu, sizing: Static}\n",
			[]string{"args.profiles[1].handler", "Duplicate"}},
		{"learned overhead without samples", "SandboxOverhead", "      learnedOverhead: {minSamples: 0}\n",
			[]string{"args.learnedOverhead.minSamples", "between 1 and 256"}},
		{"learned overhead beyond the agent's window", "SandboxOverhead", "      learnedOverhead: {minSamples: 257}\n",
			[]string{"args.learnedOverhead.minSamples", "256 samples"}},
		{"learned overhead factor below 1", "SandboxOverhead", "      learnedOverhead: {maxFactor: 0.5}\n",
			[]string{"args.learnedOverhead.maxFactor", "between 1"}},
		{"requirement without handlers", "SandboxFeatures", "      runtimeRequirements:\n      - handlers: []\n        requirements:\n        - name: kvm\n          matchExpressions: [{key: mtscn.io/kvm, operator: Exists}]\n",
			[]string{"args.runtimeRequirements[0].handlers", "Required"}},
		{"requirement without name", "SandboxFeatures", "      runtimeRequirements:\n      - handlers: [kata*]\n        requirements:\n        - matchExpressions: [{key: mtscn.io/kvm, operator: Exists}]\n",
			[]string{"args.runtimeRequirements[0].requirements[0].name"}},
		{"bad operator", "SandboxFeatures", "      deviceRequirements:\n      - resources: [qat.intel.com/*]\n        requirements:\n        - name: iommu\n          matchExpressions: [{key: mtscn.io/iommu, operator: Equals, values: [\"true\"]}]\n",
			[]string{"args.deviceRequirements[0].requirements[0].matchExpressions[0].operator", "In"}},
		{"In without values", "SandboxFeatures", "      deviceRequirements:\n      - resources: [qat.intel.com/*]\n        requirements:\n        - name: iommu\n          matchExpressions: [{key: mtscn.io/iommu, operator: In}]\n",
			[]string{"args.deviceRequirements[0].requirements[0].matchExpressions[0]"}},
		{"weight out of range", "SandboxFeatures", "      virtModeWeights: {hardware: 101}\n",
			[]string{"args.virtModeWeights.hardware", "between 0 and 100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validate(t, tc.plugin, tc.args)
			if err == nil {
				t.Fatalf("validation passed, want an error naming %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
