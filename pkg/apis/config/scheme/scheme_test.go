package scheme

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/mtscn/mtscn/pkg/apis/config"
)

func decode(t *testing.T, yaml string) (*schedconfig.KubeSchedulerConfiguration, error) {
	t.Helper()
	obj, _, err := Codecs.UniversalDecoder().Decode([]byte(yaml), nil, nil)
	if err != nil {
		return nil, err
	}
	cfg, ok := obj.(*schedconfig.KubeSchedulerConfiguration)
	if !ok {
		t.Fatalf("decoded %T, want KubeSchedulerConfiguration", obj)
	}
	return cfg, nil
}

func argsOf(t *testing.T, cfg *schedconfig.KubeSchedulerConfiguration, name string) runtime.Object {
	t.Helper()
	for _, pc := range cfg.Profiles[0].PluginConfig {
		if pc.Name == name {
			return pc.Args
		}
	}
	t.Fatalf("no args for %s", name)
	return nil
}

const header = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: mtscn-scheduler
  pluginConfig:
`

func TestDecodeDefaults(t *testing.T) {
	cfg, err := decode(t, header+`  - name: TenantIsolation
    args: {}
  - name: SandboxOverhead
    args: {}
  - name: SandboxFeatures
    args: {}
`)
	if err != nil {
		t.Fatal(err)
	}

	ti := argsOf(t, cfg, "TenantIsolation").(*config.TenantIsolationArgs)
	wantTI := &config.TenantIsolationArgs{
		TenantLabelKeys:          []string{"mtscn.io/tenant", "capsule.clastix.io/tenant", "projectcapsule.dev/tenant"},
		InfrastructureNamespaces: []string{"kube-system", "kube-public", "kube-node-lease", "mtscn-system", "node-feature-discovery"},
		SandboxClassification: config.SandboxClassification{
			SandboxedHandlers: []string{"kata*", "runsc*", "gvisor*"},
			OffNodeHandlers:   []string{"kata-remote*"},
		},
		SideChannelPolicy: config.SideChannelEnforce,
	}
	if diff := cmp.Diff(wantTI, ti, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "TypeMeta" }, cmp.Ignore())); diff != "" {
		t.Errorf("TenantIsolationArgs (-want,+got):\n%s", diff)
	}

	so := argsOf(t, cfg, "SandboxOverhead").(*config.SandboxOverheadArgs)
	if so.OvercommitRatio != 1.0 || so.ScoringStrategy != config.LeastCommitted {
		t.Errorf("SandboxOverhead defaults: ratio %v strategy %q, want 1.0 LeastCommitted", so.OvercommitRatio, so.ScoringStrategy)
	}
	if diff := cmp.Diff(config.LearnedOverhead{Enabled: true, MinSamples: 20, MaxFactor: 4}, so.LearnedOverhead); diff != "" {
		t.Errorf("learnedOverhead defaults (-want,+got):\n%s", diff)
	}
	if q := resource.MustParse("1Gi"); so.VFIOPinnedOverhead.Cmp(q) != 0 {
		t.Errorf("vfioPinnedOverhead = %s, want 1Gi", so.VFIOPinnedOverhead.String())
	}
	byHandler := map[string]config.HypervisorProfile{}
	for _, p := range so.Profiles {
		byHandler[p.Handler] = p
	}
	qemu, ok := byHandler["kata-qemu*"]
	if !ok {
		t.Fatalf("no default kata-qemu* profile in %v", so.Profiles)
	}
	if qemu.Sizing != config.SizingHotplug || qemu.DefaultMemory.Cmp(resource.MustParse("2Gi")) != 0 || !qemu.SharedMemoryBacked {
		t.Errorf("kata-qemu* profile = %+v, want Hotplug, 2Gi default memory, shm-backed", qemu)
	}
	if rs := byHandler["kata-qemu-runtime-rs"]; rs.Sizing != config.SizingStatic {
		t.Errorf("kata-qemu-runtime-rs sizing = %q, want Static", rs.Sizing)
	}
	if remote := byHandler["kata-remote*"]; remote.Sizing != config.SizingOffNode {
		t.Errorf("kata-remote* sizing = %q, want OffNode", remote.Sizing)
	}

	sf := argsOf(t, cfg, "SandboxFeatures").(*config.SandboxFeaturesArgs)
	if diff := cmp.Diff(config.VirtModeWeights{Hardware: 100, PVM: 60, Nested: 30}, sf.VirtModeWeights); diff != "" {
		t.Errorf("virtModeWeights (-want,+got):\n%s", diff)
	}
	if len(sf.RuntimeRequirements) == 0 || len(sf.DeviceRequirements) == 0 {
		t.Fatalf("SandboxFeatures requirements not defaulted: %+v", sf)
	}
	qat := sf.DeviceRequirements[0]
	if !qat.SandboxedOnly || qat.Resources[0] != "qat.intel.com/*" {
		t.Errorf("default device requirement = %+v, want sandboxed-only qat.intel.com/*", qat)
	}
}

func TestDecodeOverrides(t *testing.T) {
	cfg, err := decode(t, header+`  - name: TenantIsolation
    args:
      tenantLabelKeys: [example.com/team]
      sideChannelPolicy: Ignore
  - name: SandboxOverhead
    args:
      overcommitRatio: 1.5
      scoringStrategy: MostCommitted
      learnedOverhead: {enabled: false, allowBelowModel: true}
      profiles:
      - handler: kata-qemu
        sizing: Hotplug
        defaultMemory: 1Gi
        sharedMemoryBacked: true
  - name: SandboxFeatures
    args:
      runtimeRequirements:
      - handlers: ["kata-*"]
        requirements:
        - name: usable /dev/kvm
          matchExpressions:
          - {key: mtscn.io/kvm, operator: In, values: ["true"]}
      virtModeWeights: {nested: 0}
`)
	if err != nil {
		t.Fatal(err)
	}
	ti := argsOf(t, cfg, "TenantIsolation").(*config.TenantIsolationArgs)
	if diff := cmp.Diff([]string{"example.com/team"}, ti.TenantLabelKeys); diff != "" {
		t.Errorf("tenantLabelKeys (-want,+got):\n%s", diff)
	}
	if ti.SideChannelPolicy != config.SideChannelIgnore {
		t.Errorf("sideChannelPolicy = %q, want Ignore", ti.SideChannelPolicy)
	}
	so := argsOf(t, cfg, "SandboxOverhead").(*config.SandboxOverheadArgs)
	want := []config.HypervisorProfile{{
		Handler: "kata-qemu", Sizing: config.SizingHotplug, DefaultMemory: resource.MustParse("1Gi"),
		OverheadMemory: resource.MustParse("0"), HostOverhead: resource.MustParse("0"), SharedMemoryBacked: true,
	}}
	if diff := cmp.Diff(want, so.Profiles, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
		t.Errorf("profiles: a user's list replaces the defaults, unset fields defaulted (-want,+got):\n%s", diff)
	}
	if so.OvercommitRatio != 1.5 || so.ScoringStrategy != config.MostCommitted {
		t.Errorf("ratio %v strategy %q, want 1.5 MostCommitted", so.OvercommitRatio, so.ScoringStrategy)
	}
	if diff := cmp.Diff(config.LearnedOverhead{Enabled: false, MinSamples: 20, MaxFactor: 4, AllowBelowModel: true}, so.LearnedOverhead); diff != "" {
		t.Errorf("learnedOverhead: explicit false survives, unset fields defaulted (-want,+got):\n%s", diff)
	}
	sf := argsOf(t, cfg, "SandboxFeatures").(*config.SandboxFeaturesArgs)
	if got := sf.RuntimeRequirements[0].Requirements[0].MatchExpressions[0]; got.Operator != v1.NodeSelectorOpIn {
		t.Errorf("operator = %q", got.Operator)
	}
	if diff := cmp.Diff(config.VirtModeWeights{Hardware: 100, PVM: 60, Nested: 0}, sf.VirtModeWeights); diff != "" {
		t.Errorf("an explicit 0 weight must survive defaulting (-want,+got):\n%s", diff)
	}
}

// TestDecodeStrict: a misspelled or unknown field fails decoding and the
// error names it, so kube-scheduler refuses to start with a fixable message.
func TestDecodeStrict(t *testing.T) {
	for name, tc := range map[string]struct {
		args string
		want string
	}{
		"misspelled tenantLabelKeys": {"  - name: TenantIsolation\n    args:\n      tenantLabelKey: [a]\n", `unknown field "tenantLabelKey"`},
		"unknown profile field":      {"  - name: SandboxOverhead\n    args:\n      profiles:\n      - handler: kata-qemu\n        sizing: Hotplug\n        memory: 1Gi\n", `unknown field "profiles[0].memory"`},
		"duplicate field":            {"  - name: SandboxFeatures\n    args:\n      virtModeWeights: {}\n      virtModeWeights: {}\n", `"virtModeWeights"`},
		"wrong type":                 {"  - name: SandboxOverhead\n    args:\n      overcommitRatio: lots\n", "overcommitRatio"},
		"misspelled learned field":   {"  - name: SandboxOverhead\n    args:\n      learnedOverhead: {minSample: 3}\n", `unknown field "learnedOverhead.minSample"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decode(t, header+tc.args)
			if err == nil {
				t.Fatalf("decoding succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
