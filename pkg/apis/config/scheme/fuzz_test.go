package scheme

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/validation"
	"github.com/mtscn/mtscn/pkg/plugins/names"
)

// fuzzArgs decodes args (a JSON document) as the pluginConfig args of the
// named plugin, the way kube-scheduler reads its configuration file, and
// validates them. Any input must either decode to args that pass
// validation, or fail with an error that names the offending field; it
// must never panic.
func fuzzArgs(t *testing.T, plugin string, args []byte) {
	if !json.Valid(args) {
		return // not a JSON value: the YAML/JSON reader rejects it before us
	}
	doc := `{"apiVersion":"kubescheduler.config.k8s.io/v1","kind":"KubeSchedulerConfiguration",` +
		`"profiles":[{"schedulerName":"fuzz","pluginConfig":[{"name":"` + plugin + `","args":` + string(args) + `}]}]}`
	obj, _, err := Codecs.UniversalDecoder().Decode([]byte(doc), nil, nil)
	if err != nil {
		// Strict decoding names the field (unknown field "x", cannot
		// unmarshal ... into Go struct field ...), a malformed quantity
		// names its path, or the args are not an object.
		if msg := err.Error(); !strings.Contains(msg, "field") && !strings.Contains(msg, "cannot unmarshal") && !fieldPrefix.MatchString(msg) {
			t.Errorf("decoding %s args %s: error names no field: %v", plugin, args, err)
		}
		return
	}
	cfg := obj.(*schedconfig.KubeSchedulerConfiguration)
	var decoded runtime.Object
	for _, pc := range cfg.Profiles[0].PluginConfig {
		if pc.Name == plugin {
			decoded = pc.Args
		}
	}
	p := field.NewPath("pluginConfig").Key(plugin).Child("args")
	switch a := decoded.(type) {
	case *config.TenantIsolationArgs:
		err = validation.ValidateTenantIsolationArgs(p, a)
	case *config.SandboxOverheadArgs:
		err = validation.ValidateSandboxOverheadArgs(p, a)
	case *config.SandboxFeaturesArgs:
		err = validation.ValidateSandboxFeaturesArgs(p, a)
	default:
		t.Fatalf("%s args decoded to %T", plugin, decoded)
	}
	if err != nil && !strings.Contains(err.Error(), p.String()) {
		t.Errorf("validating %s args %s: error has no field path under %s: %v", plugin, args, p, err)
	}
}

// fieldPrefix matches an error that starts with the path of the field it
// is about, e.g. "decoding args for plugin X: profiles[0].defaultMemory: ...".
var fieldPrefix = regexp.MustCompile(`args for plugin \w+: [a-z][A-Za-z0-9]*(\[\d+\])?(\.[a-z][A-Za-z0-9]*)*: `)

func seeds(f *testing.F, docs ...string) {
	for _, d := range docs {
		f.Add([]byte(d))
	}
}

func FuzzTenantIsolationArgs(f *testing.F) {
	seeds(f, `{}`, `{"tenantLabelKeys":["mtscn.io/tenant"],"sideChannelPolicy":"Ignore"}`,
		`{"sandboxedHandlers":["kata-[x"],"infrastructureNamespaces":["Bad_NS"]}`, `{"sideChannelPolicy":"Maybe"}`, `[]`, `null`)
	f.Fuzz(func(t *testing.T, args []byte) { fuzzArgs(t, names.TenantIsolation, args) })
}

func FuzzSandboxOverheadArgs(f *testing.F) {
	seeds(f, `{}`, `{"overcommitRatio":1.5,"scoringStrategy":"MostCommitted"}`,
		`{"profiles":[{"handler":"kata-qemu","sizing":"Hotplug","defaultMemory":"2Gi"}]}`,
		`{"profiles":[{"handler":"runsc*","sizing":"UserSpace","hostOverhead":"35Mi"}]}`,
		`{"profiles":[{"handler":"x","sizing":"Static","defaultMemory":"-1"}],"vfioPinnedOverhead":"1Ki"}`,
		`{"learnedOverhead":{"enabled":true,"minSamples":20,"maxFactor":4,"allowBelowModel":false}}`,
		`{"learnedOverhead":{"minSamples":0,"maxFactor":0.5}}`, `{"learnedOverhead":null}`)
	f.Fuzz(func(t *testing.T, args []byte) { fuzzArgs(t, names.SandboxOverhead, args) })
}

func FuzzSandboxFeaturesArgs(f *testing.F) {
	seeds(f, `{}`, `{"virtModeWeights":{"hardware":100,"pvm":0,"nested":-1}}`,
		`{"runtimeRequirements":[{"handlers":["kata*"],"requirements":[{"name":"kvm","matchExpressions":[{"key":"mtscn.io/kvm","operator":"In","values":["true"]}]}]}]}`,
		`{"deviceRequirements":[{"resources":["qat.intel.com/*"],"requirements":[{"name":"x","matchExpressions":[{"key":"a","operator":"Gt","values":["x"]}]}]}]}`)
	f.Fuzz(func(t *testing.T, args []byte) { fuzzArgs(t, names.SandboxFeatures, args) })
}
