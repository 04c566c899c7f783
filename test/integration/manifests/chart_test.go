package manifests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	"sigs.k8s.io/yaml"

	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
	"github.com/mtscn/mtscn/test/integration/harness"
)

func renderChart(t *testing.T, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	objs, err := RenderChart(chartDir(), values)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatal("the chart renders no objects")
	}
	return objs
}

// kustomizeHash is the content hash kustomize's configMapGenerator appends.
var kustomizeHash = regexp.MustCompile(`^(mtscn-scheduler-config)-[a-z0-9]{10}$`)

// comparable returns objs keyed by "Kind namespace/name", with what the two
// installers legitimately do differently taken out: Helm's own labels, the
// generated ConfigMap's hash suffix (the chart rolls the scheduler through
// a checksum/config annotation instead), and the scheduler configuration's
// text, compared as the YAML it holds (the chart writes it without the
// comments). Numbers are compared as JSON numbers.
func comparable(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, o := range objs {
		// A JSON round trip copies the object and makes every number a
		// float64 (kustomize's objects hold ints, Helm's YAML float64s).
		data, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		o = &unstructured.Unstructured{}
		if err := json.Unmarshal(data, &o.Object); err != nil {
			t.Fatal(err)
		}
		if l := o.GetLabels(); l != nil {
			delete(l, "helm.sh/chart")
			delete(l, "app.kubernetes.io/managed-by")
			o.SetLabels(l)
		}
		if m := kustomizeHash.FindStringSubmatch(o.GetName()); m != nil && o.GetKind() == "ConfigMap" {
			o.SetName(m[1])
		}
		switch o.GetKind() {
		case "Deployment", "DaemonSet":
			ann, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "annotations")
			delete(ann, "checksum/config")
			if len(ann) == 0 {
				unstructured.RemoveNestedField(o.Object, "spec", "template", "metadata", "annotations")
			} else {
				_ = unstructured.SetNestedStringMap(o.Object, ann, "spec", "template", "metadata", "annotations")
			}
			vols, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
			for _, v := range vols {
				if cm, ok := v.(map[string]any)["configMap"].(map[string]any); ok {
					if m := kustomizeHash.FindStringSubmatch(cm["name"].(string)); m != nil {
						cm["name"] = m[1]
					}
				}
			}
			_ = unstructured.SetNestedSlice(o.Object, vols, "spec", "template", "spec", "volumes")
		case "ConfigMap":
			if o.GetName() == "mtscn-scheduler-config" {
				data, _, _ := unstructured.NestedStringMap(o.Object, "data")
				parsed := map[string]any{}
				for name, text := range data {
					var cfg any
					if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
						t.Fatalf("%s: %s: %v", describe(o), name, err)
					}
					parsed[name+" (parsed)"] = cfg
				}
				o.Object["data"] = parsed
			}
		}
		key := describe(o)
		if _, dup := out[key]; dup {
			t.Errorf("%s rendered twice", key)
		}
		out[key] = o.Object
	}
	return out
}

// TestChartDefaultsMatchKustomize: `helm install` with the chart's default
// values installs exactly the objects of `kubectl apply -k manifests/`.
func TestChartDefaultsMatchKustomize(t *testing.T) {
	want := comparable(t, render(t, manifestsDir()))
	got := comparable(t, renderChart(t, nil))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the chart's defaults differ from the kustomize install (-kustomize +helm); "+
			"run hack/update-chart.sh after changing manifests/, and update the chart's templates or values.yaml:\n%s", diff)
	}
}

// TestChartWithoutNFDMatchesKustomize: with nfd.enabled=false the chart
// installs what the kustomize install with components/node-labels does,
// less the NodeFeatureRules (which need NFD's CRDs).
func TestChartWithoutNFDMatchesKustomize(t *testing.T) {
	var objs []*unstructured.Unstructured
	for _, o := range render(t, componentOverlay(t, "components/node-labels")) {
		if o.GetKind() == "NodeFeatureRule" {
			continue
		}
		// The component's own objects (its RBAC) are not under
		// manifests/kustomization.yaml's labels; the chart labels every
		// object it installs.
		if l := o.GetLabels(); l["app.kubernetes.io/part-of"] == "" {
			if l == nil {
				l = map[string]string{}
			}
			l["app.kubernetes.io/part-of"] = "mtscn"
			o.SetLabels(l)
		}
		objs = append(objs, o)
	}
	want := comparable(t, objs)
	got := comparable(t, renderChart(t, chartValues(`{nfd: {enabled: false}}`)))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the chart with nfd.enabled=false differs from manifests/ + components/node-labels without NodeFeatureRules (-kustomize +helm):\n%s", diff)
	}
}

// TestChartFilesUpToDate: the chart's copies of the kustomize sources are
// those of the working tree (hack/update-chart.sh --verify, also in make
// verify).
func TestChartFilesUpToDate(t *testing.T) {
	if out, err := runScript(t, "hack/update-chart.sh", "--verify"); err != nil {
		t.Errorf("hack/update-chart.sh --verify: %v\n%s", err, out)
	}
}

// TestChartLint runs Helm's own linter (`helm lint`) on the chart with its
// defaults and with the other choices.
func TestChartLint(t *testing.T) {
	for _, values := range []map[string]any{nil, chartValues(`{scheduler: {profile: spread}, nfd: {enabled: false}}`)} {
		linter := lint.All(chartDir(), values, "default", false)
		for _, msg := range linter.Messages {
			if msg.Severity >= support.WarningSev {
				t.Errorf("helm lint (values %v): %s", values, msg)
			}
		}
	}
}

func chartValues(s string) map[string]any {
	var v map[string]any
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		panic(err)
	}
	return v
}

// TestChartValues checks what each value changes, and that the scheduler
// loads the configuration the chart writes.
func TestChartValues(t *testing.T) {
	objs := renderChart(t, chartValues(`
image: {repository: registry.example/mtscn, tag: v1.2.3, pullPolicy: Always}
scheduler:
  profile: spread
  tenantLabelKeys: [example.com/team]
sandboxRuntimes: [kata-qemu, kata-qemu-tdx]
installer: {sandboxes: [gvisor, kata]}
nfd: {enabled: false}
namespace: {create: false}
`))
	t.Run("image", func(t *testing.T) {
		n := 0
		for _, o := range objs {
			if o.GetKind() != "Deployment" && o.GetKind() != "DaemonSet" {
				continue
			}
			spec := convert[appsv1.Deployment](t, &unstructured.Unstructured{Object: map[string]any{"spec": o.Object["spec"]}}).Spec.Template.Spec
			for _, c := range append(spec.InitContainers, spec.Containers...) {
				n++
				if c.Image != "registry.example/mtscn:v1.2.3" || c.ImagePullPolicy != v1.PullAlways {
					t.Errorf("%s container %s runs %s (%s), want registry.example/mtscn:v1.2.3 (Always)", describe(o), c.Name, c.Image, c.ImagePullPolicy)
				}
			}
		}
		if n == 0 {
			t.Error("no containers rendered")
		}
	})
	t.Run("scheduler configuration", func(t *testing.T) {
		dep := find(objs, "Deployment", "mtscn-system", "mtscn-scheduler")
		if dep == nil {
			t.Fatal("no Deployment mtscn-system/mtscn-scheduler")
		}
		d := convert[appsv1.Deployment](t, dep)
		if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--config=/etc/mtscn/scheduler-config-spread.yaml") {
			t.Errorf("profile spread: scheduler args %v do not load scheduler-config-spread.yaml", d.Spec.Template.Spec.Containers[0].Args)
		}
		if d.Spec.Template.Annotations["checksum/config"] == "" {
			t.Error("the scheduler's pod template has no checksum/config annotation: changing values would not roll it")
		}
		for file, wantScoring := range map[string]string{"scheduler-config.yaml": "MostCommitted", "scheduler-config-spread.yaml": "LeastCommitted"} {
			cfg := loadChartConfig(t, objs, file)
			var overhead, tenant bool
			for _, pc := range cfg.Profiles[0].PluginConfig {
				switch pc.Name {
				case "SandboxOverhead":
					overhead = true
					if !strings.Contains(mustJSON(t, pc.Args), `"ScoringStrategy":"`+wantScoring+`"`) {
						t.Errorf("%s: SandboxOverhead args %s, want scoringStrategy %s", file, mustJSON(t, pc.Args), wantScoring)
					}
				case "TenantIsolation":
					tenant = true
					if !strings.Contains(mustJSON(t, pc.Args), `"TenantLabelKeys":["example.com/team"]`) {
						t.Errorf("%s: TenantIsolation args %s, want tenantLabelKeys [example.com/team]", file, mustJSON(t, pc.Args))
					}
				}
			}
			if !overhead || !tenant {
				t.Errorf("%s lacks args: SandboxOverhead %v, TenantIsolation %v", file, overhead, tenant)
			}
		}
		vap := find(objs, "ValidatingAdmissionPolicy", "", "mtscn-namespace-labels")
		if vap == nil {
			t.Fatal("no ValidatingAdmissionPolicy mtscn-namespace-labels")
		}
		if !strings.Contains(mustJSON(t, vap.Object["spec"]), `"expression":"['example.com/team']","name":"tenantLabelKeys"`) {
			t.Errorf("mtscn-namespace-labels does not protect the tenant label keys the scheduler reads: %s", mustJSON(t, vap.Object["spec"]))
		}
	})
	t.Run("sandbox runtimes", func(t *testing.T) {
		var rcs []string
		for _, o := range objs {
			if o.GetKind() == "RuntimeClass" {
				rcs = append(rcs, o.GetName())
			}
		}
		if diff := cmp.Diff([]string{"kata-qemu", "kata-qemu-tdx"}, rcs); diff != "" {
			t.Errorf("RuntimeClasses (-want,+got):\n%s", diff)
		}
		params := find(objs, "ConfigMap", "mtscn-system", "mtscn-sandbox-policy")
		if got := convert[v1.ConfigMap](t, params).Data["sandboxedRuntimeClasses"]; got != "kata-qemu,kata-qemu-tdx" {
			t.Errorf("mtscn-sandbox-policy admits %q, want kata-qemu,kata-qemu-tdx", got)
		}
	})
	t.Run("installer sandboxes", func(t *testing.T) {
		ds := find(objs, "DaemonSet", "mtscn-system", "mtscn-node-install")
		if ds == nil {
			t.Fatal("no DaemonSet mtscn-system/mtscn-node-install")
		}
		args := convert[appsv1.DaemonSet](t, ds).Spec.Template.Spec.Containers[0].Args
		if !slices.Contains(args, "--sandboxes=gvisor,kata") || slices.Contains(args, "--sandboxes=gvisor") {
			t.Errorf("installer.sandboxes=[gvisor, kata]: mtscn-node-install args %v, want --sandboxes=gvisor,kata once", args)
		}
	})
	t.Run("without NFD", func(t *testing.T) {
		for _, o := range objs {
			if o.GetKind() == "NodeFeatureRule" {
				t.Errorf("nfd.enabled=false renders %s", describe(o))
			}
		}
		ds := find(objs, "DaemonSet", "mtscn-system", "mtscn-node")
		if ds == nil {
			t.Fatal("no DaemonSet mtscn-system/mtscn-node")
		}
		args := convert[appsv1.DaemonSet](t, ds).Spec.Template.Spec.Containers[0].Args
		if !slices.Contains(args, "--publish=node-labels") {
			t.Errorf("nfd.enabled=false: mtscn-node args %v lack --publish=node-labels", args)
		}
	})
	t.Run("namespace not created", func(t *testing.T) {
		if find(objs, "Namespace", "", "mtscn-system") != nil {
			t.Error("namespace.create=false renders the Namespace")
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// loadChartConfig loads the rendered scheduler ConfigMap the way
// mtscn-scheduler does (strict decoding, defaults, validation).
func loadChartConfig(t *testing.T, objs []*unstructured.Unstructured, file string) *schedconfig.KubeSchedulerConfiguration {
	t.Helper()
	cm := find(objs, "ConfigMap", "mtscn-system", "mtscn-scheduler-config")
	if cm == nil {
		t.Fatal("the chart renders no ConfigMap mtscn-system/mtscn-scheduler-config")
	}
	text, ok := convert[v1.ConfigMap](t, cm).Data[file]
	if !ok {
		t.Fatalf("ConfigMap mtscn-scheduler-config has no %s", file)
	}
	path := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return harness.LoadConfig(t, path)
}

// TestChartRejectsBadValues: a mistyped value stops `helm install` with a
// message naming the value and what it may be.
func TestChartRejectsBadValues(t *testing.T) {
	for _, tc := range []struct{ values, want string }{
		{`{scheduler: {profile: binpack}}`, `at '/scheduler/profile': value must be one of 'pack', 'spread'`},
		{`{scheduler: {tenantLabelKey: [a]}}`, `tenantLabelKey`},
		{`{scheduler: {tenantLabelKeys: []}}`, `/scheduler/tenantLabelKeys`},
		{`{sandboxRuntimes: [kata-qemu, gvisr]}`, `sandboxRuntimes: "gvisr" is not a RuntimeClass the chart ships; choose from kata-qemu,`},
		{`{installer: {sandboxes: [runsc]}}`, `at '/installer/sandboxes/0': value must be one of 'gvisor', 'kata'`},
		{`{nfd: {enabled: "no"}}`, `at '/nfd/enabled': got string, want boolean`},
	} {
		_, err := RenderChart(chartDir(), chartValues(tc.values))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %s: got error %v, want one containing %q", tc.values, err, tc.want)
		}
	}
}

// TestChartInstall server-side applies the chart, strictly validated, to a
// real kube-apiserver: first without NFD (no NFD CRDs on the server), then
// upgraded with the defaults once NFD's CRDs are installed; the scheduler
// configuration read back from the server loads.
func TestChartInstall(t *testing.T) {
	cp := harness.StartFullControlPlane(t)
	applier, err := NewApplier(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := applier.Apply(cp.Ctx, renderChart(t, chartValues(`{nfd: {enabled: false}, scheduler: {profile: spread}}`)), false); err != nil {
		t.Fatalf("chart with nfd.enabled=false on a cluster without NFD: %v", err)
	}
	cp.InstallCRDs(t, nfdCRDs(t))
	objs := renderChart(t, nil)
	if err := applier.Apply(cp.Ctx, objs, false); err != nil {
		t.Fatalf("chart with default values: %v", err)
	}
	waitForSandboxPolicy(t, cp)
	cm, err := cp.Client.CoreV1().ConfigMaps("mtscn-system").Get(cp.Ctx, "mtscn-scheduler-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"})
	u.SetNamespace("mtscn-system")
	u.SetName("mtscn-scheduler-config")
	u.Object["data"] = map[string]any{"scheduler-config.yaml": cm.Data["scheduler-config.yaml"]}
	cfg := loadChartConfig(t, []*unstructured.Unstructured{u}, "scheduler-config.yaml")
	for _, pc := range cfg.Profiles[0].PluginConfig {
		if pc.Name == "SandboxOverhead" && !strings.Contains(mustJSON(t, pc.Args), `"ScoringStrategy":"MostCommitted"`) {
			t.Errorf("after the upgrade to the defaults, SandboxOverhead args are %s", mustJSON(t, pc.Args))
		}
		if pc.Name == "TenantIsolation" && !strings.Contains(mustJSON(t, pc.Args), mustJSON(t, configv1.DefaultTenantLabelKeys)) {
			t.Errorf("after the upgrade to the defaults, TenantIsolation args are %s", mustJSON(t, pc.Args))
		}
	}
}

// runScript runs a script of the repository from its root.
func runScript(t *testing.T, script string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(harness.RepoRoot(), script)}, args...)...)
	cmd.Dir = harness.RepoRoot()
	return cmd.CombinedOutput()
}
