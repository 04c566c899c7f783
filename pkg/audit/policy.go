package audit

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/scheme"
	"github.com/mtscn/mtscn/pkg/apis/config/validation"
	"github.com/mtscn/mtscn/pkg/plugins/names"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// DefaultProfile is the name of the shipped configuration's profile
// (manifests/scheduler/scheduler-config.yaml), the one pods choose with
// spec.schedulerName: mtscn-scheduler.
const DefaultProfile = "mtscn-scheduler"

// Policy is what one profile of a scheduler configuration enforces, as
// audit checks it: TenantIsolation's classification and rules (I1-I4) and
// SandboxOverhead's classification and VM model (F1-F3).
type Policy struct {
	// Source names where the policy came from: a configuration file, or
	// "built-in defaults".
	Source string `json:"source"`
	// Profile is the schedulerName of the profile it was read from.
	Profile string `json:"profile"`
	// Rules are the rules checked, in order (I4 is left out under
	// sideChannelPolicy: Ignore, F1-F3 when the profile does not enable
	// SandboxOverhead).
	Rules []Rule `json:"rules"`

	// Isolation is TenantIsolation's view (its args).
	Isolation IsolationOptions `json:"-"`
	// Resources is SandboxOverhead's view (its args); nil when the
	// profile does not enable SandboxOverhead.
	Resources *ResourceOptions `json:"-"`
}

// String says where the policy came from and what it checks, for the
// first line of a report.
func (p *Policy) String() string {
	rules := make([]string, len(p.Rules))
	for i, r := range p.Rules {
		rules[i] = string(r)
	}
	return fmt.Sprintf("profile %q of %s; checking %s", p.Profile, p.Source, strings.Join(rules, " "))
}

// defaultConfig is the smallest configuration that enables mtscn's three
// plugins: decoding it fills every args field with the default the
// shipped manifests/scheduler/scheduler-config.yaml spells out.
const defaultConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: ` + DefaultProfile + `
  plugins:
    multiPoint:
      enabled:
      - name: ` + names.TenantIsolation + `
      - name: ` + names.SandboxOverhead + `
      - name: ` + names.SandboxFeatures + `
  pluginConfig:
  - name: ` + names.TenantIsolation + `
    args: {}
  - name: ` + names.SandboxOverhead + `
    args: {}
  - name: ` + names.SandboxFeatures + `
    args: {}
`

// DefaultPolicy is the policy of a scheduler running with every mtscn
// plugin and default args (what the shipped configuration sets).
func DefaultPolicy() (*Policy, error) {
	cfg, err := DecodeSchedulerConfig([]byte(defaultConfig))
	if err != nil {
		return nil, fmt.Errorf("decoding the built-in configuration: %w", err)
	}
	return PolicyFromConfig(cfg, "", "built-in defaults")
}

// LoadPolicy reads a KubeSchedulerConfiguration file, as mtscn-scheduler
// --config does, and returns the policy of its profile named profile. An
// empty profile picks the only profile that enables TenantIsolation.
func LoadPolicy(path, profile string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading scheduler configuration: %w", err)
	}
	cfg, err := DecodeSchedulerConfig(data)
	if err != nil {
		return nil, fmt.Errorf("scheduler configuration %s: %w", path, err)
	}
	return PolicyFromConfig(cfg, profile, path)
}

// DecodeSchedulerConfig decodes a KubeSchedulerConfiguration the way
// kube-scheduler's --config loader does
// (k8s.io/kubernetes/cmd/kube-scheduler/app/options.LoadConfigFromFile): strictly, with
// defaulting, through kube-scheduler's scheme with mtscn's args registered
// (pkg/apis/config/scheme). It does not link the scheduler itself.
func DecodeSchedulerConfig(data []byte) (*schedconfig.KubeSchedulerConfiguration, error) {
	obj, gvk, err := scheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		return nil, err
	}
	cfg, ok := obj.(*schedconfig.KubeSchedulerConfiguration)
	if !ok {
		return nil, fmt.Errorf("got %s, want a KubeSchedulerConfiguration", gvk)
	}
	cfg.TypeMeta.APIVersion = gvk.GroupVersion().String()
	return cfg, nil
}

// PolicyFromConfig returns the policy of the profile named profile of a
// decoded configuration (empty: the only profile that enables
// TenantIsolation). Args are validated as the plugins validate them at
// start-up; a profile that enables a plugin without args, or a profile
// that does not enable TenantIsolation, is an error: such a scheduler
// would not start, or would not enforce what audit checks.
func PolicyFromConfig(cfg *schedconfig.KubeSchedulerConfiguration, profile, source string) (*Policy, error) {
	prof, err := selectProfile(cfg, profile)
	if err != nil {
		return nil, err
	}
	p := &Policy{Source: source, Profile: prof.SchedulerName}
	argsOf := func(name string) any {
		for _, pc := range prof.PluginConfig {
			if pc.Name == name {
				return pc.Args
			}
		}
		return nil
	}
	path := func(name string) *field.Path {
		return field.NewPath("profiles").Key(prof.SchedulerName).Child("pluginConfig").Key(name).Child("args")
	}

	ti, ok := argsOf(names.TenantIsolation).(*config.TenantIsolationArgs)
	if !ok || ti == nil {
		return nil, fmt.Errorf("%s: profile %q enables %s but sets no args for it: mtscn-scheduler would not start (add pluginConfig: [{name: %s, args: {}}])",
			source, prof.SchedulerName, names.TenantIsolation, names.TenantIsolation)
	}
	if err := validation.ValidateTenantIsolationArgs(path(names.TenantIsolation), ti); err != nil {
		return nil, fmt.Errorf("%s: invalid %s args: %w", source, names.TenantIsolation, err)
	}
	p.Isolation = IsolationOptions{
		Tenancy:           tenancy.ConfigFromClassification(ti.SandboxClassification, ti.TenantLabelKeys, ti.InfrastructureNamespaces),
		IgnoreSideChannel: ti.SideChannelPolicy == config.SideChannelIgnore,
	}
	if sf, ok := argsOf(names.SandboxFeatures).(*config.SandboxFeaturesArgs); ok && sf != nil && pluginEnabled(prof, names.SandboxFeatures) {
		// The scheduler refuses to start when its plugins classify pods
		// differently; so does audit.
		if err := validation.ValidateSameClassification(path(names.SandboxFeatures), &sf.SandboxClassification,
			path(names.TenantIsolation), &ti.SandboxClassification); err != nil {
			return nil, fmt.Errorf("%s: invalid %s args: %w", source, names.SandboxFeatures, err)
		}
	}
	p.Rules = []Rule{RuleI1, RuleI2, RuleI3}
	if !p.Isolation.IgnoreSideChannel {
		p.Rules = append(p.Rules, RuleI4)
	}

	if pluginEnabled(prof, names.SandboxOverhead) {
		so, ok := argsOf(names.SandboxOverhead).(*config.SandboxOverheadArgs)
		if !ok || so == nil {
			return nil, fmt.Errorf("%s: profile %q enables %s but sets no args for it: mtscn-scheduler would not start (add pluginConfig: [{name: %s, args: {}}])",
				source, prof.SchedulerName, names.SandboxOverhead, names.SandboxOverhead)
		}
		if err := validation.ValidateSandboxOverheadArgs(path(names.SandboxOverhead), so); err != nil {
			return nil, fmt.Errorf("%s: invalid %s args: %w", source, names.SandboxOverhead, err)
		}
		if err := validation.ValidateSameClassification(path(names.SandboxOverhead), &so.SandboxClassification,
			path(names.TenantIsolation), &ti.SandboxClassification); err != nil {
			return nil, fmt.Errorf("%s: invalid %s args: %w", source, names.SandboxOverhead, err)
		}
		p.Resources = &ResourceOptions{
			// One classification for the profile (checked above, as the
			// plugins check it at start-up).
			Tenancy: p.Isolation.Tenancy,
			Model:   vmsize.NewModel(so),
		}
		p.Rules = append(p.Rules, RuleF1, RuleF2, RuleF3)
	}
	return p, nil
}

// selectProfile finds the profile named name, or the only one that
// enables TenantIsolation.
func selectProfile(cfg *schedconfig.KubeSchedulerConfiguration, name string) (*schedconfig.KubeSchedulerProfile, error) {
	var all, isolating []string
	for i := range cfg.Profiles {
		prof := &cfg.Profiles[i]
		all = append(all, prof.SchedulerName)
		if name != "" && prof.SchedulerName == name {
			if !pluginEnabled(prof, names.TenantIsolation) {
				return nil, fmt.Errorf("profile %q does not enable %s, so it does not enforce the isolation invariant: audit the profile that does", name, names.TenantIsolation)
			}
			return prof, nil
		}
		if pluginEnabled(prof, names.TenantIsolation) {
			isolating = append(isolating, prof.SchedulerName)
		}
	}
	switch {
	case name != "":
		return nil, fmt.Errorf("no profile %q (profiles: %s)", name, strings.Join(all, ", "))
	case len(isolating) == 0:
		return nil, fmt.Errorf("no profile enables %s (profiles: %s): the configuration does not enforce the isolation invariant", names.TenantIsolation, strings.Join(all, ", "))
	case len(isolating) > 1:
		return nil, errors.New("several profiles enable " + names.TenantIsolation + " (" + strings.Join(isolating, ", ") + "): name the one to audit with --profile")
	}
	for i := range cfg.Profiles {
		if cfg.Profiles[i].SchedulerName == isolating[0] {
			return &cfg.Profiles[i], nil
		}
	}
	return nil, fmt.Errorf("profile %q vanished", isolating[0]) // unreachable
}

// pluginEnabled reports whether a (defaulted) profile runs the plugin's
// Filter, as kube-scheduler expands multiPoint: enabled at Filter, or
// enabled through multiPoint and disabled neither at Filter (by name or
// "*") nor at multiPoint (by name).
func pluginEnabled(prof *schedconfig.KubeSchedulerProfile, name string) bool {
	if prof.Plugins == nil {
		return false
	}
	named := func(ps []schedconfig.Plugin, alsoStar bool) bool {
		return slices.ContainsFunc(ps, func(p schedconfig.Plugin) bool { return p.Name == name || (alsoStar && p.Name == "*") })
	}
	filter, multi := prof.Plugins.Filter, prof.Plugins.MultiPoint
	if named(filter.Enabled, false) {
		return true
	}
	if named(filter.Disabled, true) || named(multi.Disabled, false) {
		return false
	}
	return named(multi.Enabled, false)
}
