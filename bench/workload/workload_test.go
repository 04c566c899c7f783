package workload

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
	"sigs.k8s.io/yaml"

	_ "github.com/mtscn/mtscn/pkg/apis/config/scheme"
)

const (
	shippedRuntimeClasses = "../../manifests/runtimeclasses/runtimeclasses.yaml"
	shippedConfig         = "../../manifests/scheduler/scheduler-config.yaml"
)

func build(t *testing.T, size Size, v Variant) *Objects {
	t.Helper()
	rcs, err := os.ReadFile(shippedRuntimeClasses)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Build(size, rcs, v)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return objs
}

func TestSplit(t *testing.T) {
	tests := []struct {
		total   int
		weights []int
		want    []int
	}{
		{total: 500, weights: []int{11, 4, 1, 1, 3}, want: []int{275, 100, 25, 25, 75}},
		{total: 20, weights: []int{11, 4, 1, 1, 3}, want: []int{11, 4, 1, 1, 3}},
		{total: 7, weights: []int{1, 1, 1}, want: []int{3, 2, 2}},
		{total: 3, weights: []int{0, 0}, want: []int{0, 0}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, Split(tc.total, tc.weights)); diff != "" {
			t.Errorf("Split(%d, %v) (-want,+got):\n%s", tc.total, tc.weights, diff)
		}
	}
}

// TestBuildMix checks the proportions the benchmark README promises.
func TestBuildMix(t *testing.T) {
	objs := build(t, Small, Variant{})
	if len(objs.Nodes) != 500 || len(objs.Pods) != 5000 || len(objs.Namespaces) != len(Tenants) {
		t.Fatalf("got %d nodes, %d pods, %d namespaces", len(objs.Nodes), len(objs.Pods), len(objs.Namespaces))
	}
	kata, tdx, qat := 0, 0, 0
	tenantOf := map[string]Tenant{}
	for _, tn := range Tenants {
		tenantOf[tn.Namespace()] = tn
	}
	for _, p := range objs.Pods {
		tn := tenantOf[p.Namespace]
		rc := ""
		if p.Spec.RuntimeClassName != nil {
			rc = *p.Spec.RuntimeClassName
		}
		if tn.Kata != strings.HasPrefix(rc, "kata-") {
			t.Errorf("pod %s/%s of tenant %s has runtime class %q", p.Namespace, p.Name, tn.Name, rc)
		}
		if rc != "" {
			kata++
		}
		if rc == "kata-qemu-tdx" {
			tdx++
			if tn.TDXEvery == 0 {
				t.Errorf("TDX pod in tenant %s", tn.Name)
			}
		}
		if _, ok := p.Spec.Containers[0].Resources.Limits["qat.intel.com/cy"]; ok {
			qat++
			if tn.QATEvery == 0 {
				t.Errorf("QAT pod in tenant %s", tn.Name)
			}
		}
	}
	if kata != 4000 {
		t.Errorf("Kata pods = %d, want 4000 (80%%)", kata)
	}
	if tdx == 0 || qat == 0 {
		t.Errorf("TDX pods = %d, QAT pods = %d, want some of each", tdx, qat)
	}
	unsafe := 0
	for _, n := range objs.Nodes {
		if n.Labels["mtscn.io/cotenancy-safe"] == "false" {
			unsafe++
		}
		if n.Labels[v1.LabelHostname] != n.Name {
			t.Errorf("node %s has hostname label %q", n.Name, n.Labels[v1.LabelHostname])
		}
	}
	if unsafe == 0 {
		t.Error("no node is labelled cotenancy-safe=false")
	}
}

func TestVariants(t *testing.T) {
	anti := build(t, Size{Nodes: 20, Pods: 100}, VariantFor(ProfileAntiAffinity))
	for _, p := range anti.Pods {
		a := p.Spec.Affinity
		if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
			t.Fatalf("pod %s/%s has no required anti-affinity: %+v", p.Namespace, p.Name, a)
		}
		term := a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
		want := []string{strings.TrimSuffix(p.Namespace, "-0")}
		if diff := cmp.Diff(want, term.NamespaceSelector.MatchExpressions[1].Values); diff != "" {
			t.Errorf("pod %s/%s anti-affinity values (-want,+got):\n%s", p.Namespace, p.Name, diff)
		}
	}
	pools := build(t, Size{Nodes: 20, Pods: 100}, VariantFor(ProfileDedicatedPools))
	for _, p := range pools.Pods {
		if got, want := p.Spec.NodeSelector["bench.mtscn.io/pool"], strings.TrimSuffix(p.Namespace, "-0"); got != want {
			t.Errorf("pod %s/%s pool selector = %q, want %q", p.Namespace, p.Name, got, want)
		}
	}
}

// TestRenderPerfMatchesBuild checks that scheduler_perf gets the same
// pods and nodes as bench/quality: rendering the written templates with
// the same .Index gives Build's objects (up to the names Build assigns).
func TestRenderPerfMatchesBuild(t *testing.T) {
	dir := t.TempDir()
	cfgPath, err := RenderPerf(PerfOptions{Dir: dir, RuntimeClasses: shippedRuntimeClasses, SchedulerConfig: shippedConfig, Sizes: []Size{Small, Full}})
	if err != nil {
		t.Fatalf("RenderPerf: %v", err)
	}
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name                   string
		Labels                 []string
		MetricsCollectorConfig map[string]any
		SchedulerConfigPath    string
		WorkloadTemplate       []map[string]any
		Workloads              []struct {
			Name   string
			Labels []string
			Params map[string]int
		}
	}
	if err := yaml.UnmarshalStrict(raw, &cases); err != nil {
		t.Fatalf("decoding %s: %v", cfgPath, err)
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.Name)
		pods := 0
		for _, w := range c.Workloads {
			if w.Name != Small.Name {
				continue
			}
			for _, op := range c.WorkloadTemplate {
				if op["opcode"] == "createPods" {
					pods += w.Params[strings.TrimPrefix(op["countParam"].(string), "$")]
				}
			}
		}
		if pods != Small.Pods {
			t.Errorf("test case %s creates %d pods in %s, want %d", c.Name, pods, Small.Name, Small.Pods)
		}
	}
	if diff := cmp.Diff([]string{"Default", "AntiAffinity", "Mtscn"}, names); diff != "" {
		t.Errorf("test cases (-want,+got):\n%s", diff)
	}

	for _, prof := range []string{ProfileDefault, ProfileAntiAffinity} {
		objs := build(t, Small, VariantFor(prof))
		suffix := ".yaml"
		if prof == ProfileAntiAffinity {
			suffix = "-anti-affinity.yaml"
		}
		tenant := Tenants[2] // TDX pods
		text, err := os.ReadFile(filepath.Join(dir, "pod-"+tenant.Name+suffix))
		if err != nil {
			t.Fatal(err)
		}
		count := RoundCount(PodCounts(Small.Pods)[2], 0)
		tmpl, err := stage2(string(text))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range objs.Pods {
			if want.Namespace != tenant.Namespace() || !strings.HasPrefix(want.Name, "pod-0-") {
				continue
			}
			var index int
			if _, err := fmtSscanf(want.Name, &index); err != nil {
				t.Fatal(err)
			}
			got := &v1.Pod{}
			if err := render(tmpl, index, count, got); err != nil {
				t.Fatal(err)
			}
			got.Name, got.Namespace, got.GenerateName = want.Name, want.Namespace, ""
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s pod %s rendered from the perf template differs (-build,+perf):\n%s", prof, want.Name, diff)
			}
		}
	}

	mtscn, err := os.ReadFile(filepath.Join(dir, "scheduler-config-mtscn.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := schedscheme.Codecs.UniversalDecoder().Decode(mtscn, nil, nil)
	if err != nil {
		t.Fatalf("decoding the benchmark's mtscn configuration: %v", err)
	}
	cfg := obj.(*schedconfig.KubeSchedulerConfiguration)
	if cfg.LeaderElection.LeaderElect || len(cfg.Profiles) != 1 || cfg.Profiles[0].SchedulerName != "default-scheduler" {
		t.Errorf("leaderElect=%v profiles=%d", cfg.LeaderElection.LeaderElect, len(cfg.Profiles))
	}
	var enabled []string
	for _, p := range cfg.Profiles[0].Plugins.MultiPoint.Enabled {
		enabled = append(enabled, p.Name)
	}
	for _, want := range []string{"TenantIsolation", "SandboxOverhead", "SandboxFeatures"} {
		if !strings.Contains(strings.Join(enabled, ","), want) {
			t.Errorf("benchmark profile lacks %s: %v", want, enabled)
		}
	}
}

func fmtSscanf(name string, index *int) (int, error) {
	var round int
	return fmt.Sscanf(name, "pod-%d-%d", &round, index)
}
