package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// shippedConfig is the configuration the Deployment runs the scheduler with.
const shippedConfig = "../../manifests/scheduler/scheduler-config.yaml"

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	data := "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n" + body
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// allThree enables mtscn's plugins in a profile.
const allThree = `    plugins:
      multiPoint:
        enabled: [{name: TenantIsolation}, {name: SandboxOverhead}, {name: SandboxFeatures}]
`

func TestDefaultPolicyIsTheShippedOne(t *testing.T) {
	def, err := DefaultPolicy()
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := LoadPolicy(shippedConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	if def.Source != "built-in defaults" || shipped.Source != shippedConfig || shipped.Profile != DefaultProfile {
		t.Errorf("sources: default %q, shipped %q profile %q", def.Source, shipped.Source, shipped.Profile)
	}
	wantRules := []Rule{RuleI1, RuleI2, RuleI3, RuleI4, RuleF1, RuleF2, RuleF3}
	for _, p := range []*Policy{def, shipped} {
		if diff := cmp.Diff(wantRules, p.Rules); diff != "" {
			t.Errorf("%s: rules (-want,+got):\n%s", p.Source, diff)
		}
	}
	if diff := cmp.Diff(def.Isolation, shipped.Isolation); diff != "" {
		t.Errorf("the shipped TenantIsolation args differ from the defaults (-default,+shipped):\n%s", diff)
	}
	if diff := cmp.Diff(def.Resources.Tenancy, shipped.Resources.Tenancy); diff != "" {
		t.Errorf("the shipped SandboxOverhead classification differs from the defaults (-default,+shipped):\n%s", diff)
	}
	if got := shipped.String(); got != `profile "mtscn-scheduler" of `+shippedConfig+`; checking I1 I2 I3 I4 F1 F2 F3` {
		t.Errorf("String() = %q", got)
	}
}

// A profile not named mtscn-scheduler, with its own tenant label key, its
// own classification (the same in every plugin) and sideChannelPolicy
// Ignore: audit must apply all of it.
func TestLoadPolicyAppliesTheProfilesArgs(t *testing.T) {
	path := writeConfig(t, `profiles:
  - schedulerName: default-scheduler
  - schedulerName: tenants
`+allThree+`    pluginConfig:
    - name: TenantIsolation
      args:
        tenantLabelKeys: [example.com/team]
        sandboxedHandlers: ["kata*", "vm-*"]
        sideChannelPolicy: Ignore
    - name: SandboxOverhead
      args:
        sandboxedHandlers: ["vm-*", "kata*"]
        overcommitRatio: 2
    - name: SandboxFeatures
      args:
        sandboxedHandlers: ["kata*", "vm-*"]
`)
	p, err := LoadPolicy(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Profile != "tenants" {
		t.Errorf("profile = %q, want the only one enabling TenantIsolation, tenants", p.Profile)
	}
	if diff := cmp.Diff([]Rule{RuleI1, RuleI2, RuleI3, RuleF1, RuleF2, RuleF3}, p.Rules); diff != "" {
		t.Errorf("rules without I4 (-want,+got):\n%s", diff)
	}
	if got := p.Isolation.Tenancy.TenantLabelKeys; !cmp.Equal(got, []string{"example.com/team"}) {
		t.Errorf("tenant label keys = %v", got)
	}
	if got := p.Resources.Tenancy.SandboxedHandlers; !cmp.Equal(got, []string{"kata*", "vm-*"}) {
		t.Errorf("SandboxOverhead's sandboxed handlers = %v, want the profile's [kata* vm-*]", got)
	}
	if r := p.Resources.Model.OvercommitRatio(); r != 2 {
		t.Errorf("overcommit ratio = %v, want 2", r)
	}

	// What the args change in findings: the team label makes t1 and t2
	// one tenant; vm-x is a sandbox.
	node := st.MakeNode().Name("n").Label(wellknown.LabelCotenancySafe, "false").
		Capacity(map[v1.ResourceName]string{v1.ResourceMemory: "4Gi"}).Obj()
	node.Status.Allocatable = node.Status.Capacity
	snap := Snapshot{
		Nodes: []*v1.Node{node},
		Namespaces: []*v1.Namespace{
			{ObjectMeta: metav1.ObjectMeta{Name: "t1", Labels: map[string]string{"example.com/team": "red"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "t2", Labels: map[string]string{"example.com/team": "red"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
		},
		RuntimeClasses: []*nodev1.RuntimeClass{{ObjectMeta: metav1.ObjectMeta{Name: "vm"}, Handler: "vm-x"}},
		Pods:           []*v1.Pod{pod("t1", "a", "", "n"), pod("t2", "b", "", "n"), pod("other", "c", "vm", "n")},
	}
	vs, err := Audit(snap, p)
	if err != nil {
		t.Fatal(err)
	}
	var rules []Rule
	for _, v := range vs {
		rules = append(rules, v.Rule)
	}
	// I1 (red's runc pods beside other's VM); no I4 (Ignore); no F1: no
	// VM profile matches vm-x, so its pod commits only its requests.
	if diff := cmp.Diff([]Rule{RuleI1}, rules); diff != "" {
		t.Errorf("violations (-want,+got):\n%s\n%v", diff, vs)
	}
}

func TestLoadPolicyErrors(t *testing.T) {
	tests := []struct {
		name, body, profile string
		want                string
	}{
		{name: "strict decoding", body: "profiles:\n  - schedulerName: x\n" + allThree + "    pluginConfig:\n    - name: TenantIsolation\n      args: {tenantLabelKey: [a]}\n",
			want: `unknown field "tenantLabelKey"`},
		{name: "invalid args name the field", body: "profiles:\n  - schedulerName: x\n" + allThree + "    pluginConfig:\n    - name: TenantIsolation\n      args: {sideChannelPolicy: Sometimes}\n    - name: SandboxOverhead\n      args: {}\n",
			want: `profiles[x].pluginConfig[TenantIsolation].args.sideChannelPolicy`},
		{name: "plugins that classify pods differently", body: "profiles:\n  - schedulerName: x\n" + allThree + "    pluginConfig:\n    - name: TenantIsolation\n      args: {offNodeHandlers: []}\n    - name: SandboxOverhead\n      args: {}\n",
			want: `profiles[x].pluginConfig[SandboxFeatures].args.offNodeHandlers: Invalid value: ["kata-remote*"]: must equal profiles[x].pluginConfig[TenantIsolation].args.offNodeHandlers []`},
		{name: "no isolating profile", body: "profiles:\n  - schedulerName: a\n  - schedulerName: b\n",
			want: `no profile enables TenantIsolation (profiles: a, b)`},
		{name: "two isolating profiles", body: "profiles:\n  - schedulerName: a\n" + allThree + "  - schedulerName: b\n" + allThree,
			want: `several profiles enable TenantIsolation (a, b): name the one to audit with --profile`},
		{name: "unknown profile", profile: "c", body: "profiles:\n  - schedulerName: a\n" + allThree,
			want: `no profile "c" (profiles: a)`},
		{name: "profile without TenantIsolation", profile: "b", body: "profiles:\n  - schedulerName: a\n" + allThree + "  - schedulerName: b\n",
			want: `profile "b" does not enable TenantIsolation`},
		{name: "disabled at filter", body: "profiles:\n  - schedulerName: a\n" + allThree + "      filter:\n        disabled: [{name: \"*\"}]\n",
			want: `no profile enables TenantIsolation`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadPolicy(writeConfig(t, tc.body), tc.profile)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadPolicyPicksTheNamedProfile(t *testing.T) {
	path := writeConfig(t, "profiles:\n  - schedulerName: a\n"+allThree+`    pluginConfig:
    - {name: TenantIsolation, args: {}}
    - {name: SandboxOverhead, args: {}}
  - schedulerName: b
    plugins:
      multiPoint:
        enabled: [{name: TenantIsolation}]
    pluginConfig:
    - {name: TenantIsolation, args: {infrastructureNamespaces: [ops]}}
  - schedulerName: c
`+allThree)
	p, err := LoadPolicy(path, "b")
	if err != nil {
		t.Fatal(err)
	}
	if p.Profile != "b" || p.Resources != nil || !cmp.Equal(p.Isolation.Tenancy.InfrastructureNamespaces, []string{"ops"}) {
		t.Errorf("policy = %+v, want profile b, no SandboxOverhead, infrastructure [ops]", p)
	}
	if diff := cmp.Diff([]Rule{RuleI1, RuleI2, RuleI3, RuleI4}, p.Rules); diff != "" {
		t.Errorf("rules (-want,+got):\n%s", diff)
	}

	// A profile that enables the plugins without pluginConfig gets their
	// default args, as the scheduler's decoding gives them.
	c, err := LoadPolicy(path, "c")
	if err != nil {
		t.Fatal(err)
	}
	def, err := DefaultPolicy()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(def.Isolation, c.Isolation); diff != "" || c.Resources == nil {
		t.Errorf("profile c without pluginConfig: isolation (-default,+got):\n%s; resources %v", diff, c.Resources)
	}
}
