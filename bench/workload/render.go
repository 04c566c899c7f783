package workload

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// PerfOptions say where RenderPerf finds its inputs and which sizes it
// defines.
type PerfOptions struct {
	// Dir receives the rendered files.
	Dir string
	// RuntimeClasses is the RuntimeClass manifest file (multi-document).
	RuntimeClasses string
	// SchedulerConfig is the shipped KubeSchedulerConfiguration; the mtscn
	// test case runs a copy made by MtscnSchedulerConfig.
	SchedulerConfig string
	// Sizes become one scheduler_perf workload each.
	Sizes []Size
}

type perfProfile struct {
	Name            string
	SchedulerConfig string
}

type perfTenant struct {
	Tenant
	Namespace     string
	NamespacePath string
	PodPaths      map[string]string
}

type perfNodeClass struct {
	NodeClass
	TemplatePath string
}

type perfSize struct {
	Size
	Params map[string]int
}

// PerfTestCases are the scheduler_perf test case names, one per profile.
var PerfTestCases = map[string]string{
	ProfileDefault:      "Default",
	ProfileAntiAffinity: "AntiAffinity",
	ProfileMtscn:        "Mtscn",
}

// RenderPerf writes a scheduler_perf configuration with one test case per
// profile (default, anti-affinity, mtscn) and one workload per size, plus
// the node, namespace, pod and RuntimeClass templates it references, into
// opts.Dir. It returns the configuration's path.
func RenderPerf(opts PerfOptions) (string, error) {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", opts.Dir, err)
	}
	write := func(name string, data []byte) (string, error) {
		path := filepath.Join(opts.Dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return "", fmt.Errorf("writing %s: %w", path, err)
		}
		return path, nil
	}

	rcData, err := os.ReadFile(opts.RuntimeClasses)
	if err != nil {
		return "", fmt.Errorf("reading RuntimeClasses: %w", err)
	}
	var rcFiles []string
	for i, doc := range SplitYAML(rcData) {
		if _, err := RuntimeClasses(doc); err != nil {
			return "", err
		}
		path, err := write(fmt.Sprintf("runtimeclass-%d.yaml", i), doc)
		if err != nil {
			return "", err
		}
		rcFiles = append(rcFiles, path)
	}

	shipped, err := os.ReadFile(opts.SchedulerConfig)
	if err != nil {
		return "", fmt.Errorf("reading the shipped scheduler configuration: %w", err)
	}
	mtscnCfg, err := MtscnSchedulerConfig(shipped, "default-scheduler")
	if err != nil {
		return "", err
	}
	mtscnPath, err := write("scheduler-config-mtscn.yaml", mtscnCfg)
	if err != nil {
		return "", err
	}
	defaultPath, err := write("scheduler-config-default.yaml", []byte(DefaultSchedulerConfig))
	if err != nil {
		return "", err
	}
	data := struct {
		Profiles          []perfProfile
		RuntimeClassFiles []string
		NodeClasses       []perfNodeClass
		Tenants           []perfTenant
		Rounds            []int
		Sizes             []perfSize
	}{
		Profiles: []perfProfile{
			{Name: PerfTestCases[ProfileDefault], SchedulerConfig: defaultPath},
			{Name: PerfTestCases[ProfileAntiAffinity], SchedulerConfig: defaultPath},
			{Name: PerfTestCases[ProfileMtscn], SchedulerConfig: mtscnPath},
		},
		RuntimeClassFiles: rcFiles,
	}
	for r := 0; r < Rounds; r++ {
		data.Rounds = append(data.Rounds, r)
	}
	for _, c := range NodeClasses {
		text, err := stage1("node.yaml", c)
		if err != nil {
			return "", err
		}
		path, err := write("node-"+c.Name+".yaml", []byte(text))
		if err != nil {
			return "", err
		}
		data.NodeClasses = append(data.NodeClasses, perfNodeClass{NodeClass: c, TemplatePath: path})
	}
	for _, t := range Tenants {
		pt := perfTenant{Tenant: t, Namespace: t.Namespace(), PodPaths: map[string]string{}}
		text, err := stage1("namespace.yaml", t)
		if err != nil {
			return "", err
		}
		if pt.NamespacePath, err = write("namespace-"+t.Name+".yaml", []byte(text)); err != nil {
			return "", err
		}
		for _, prof := range []string{ProfileDefault, ProfileAntiAffinity, ProfileMtscn} {
			v := VariantFor(prof)
			text, err := stage1("pod.yaml", podData{Tenant: t, AntiAffinity: v.AntiAffinity, PoolSelector: v.PoolSelector})
			if err != nil {
				return "", err
			}
			name := "pod-" + t.Name + ".yaml"
			if v.AntiAffinity {
				name = "pod-" + t.Name + "-anti-affinity.yaml"
			}
			path, err := write(name, []byte(text))
			if err != nil {
				return "", err
			}
			pt.PodPaths[PerfTestCases[prof]] = path
		}
		data.Tenants = append(data.Tenants, pt)
	}
	for _, s := range opts.Sizes {
		ps := perfSize{Size: s, Params: map[string]int{}}
		for i, n := range NodeCounts(s.Nodes) {
			ps.Params[NodeClasses[i].Name+"Nodes"] = n
		}
		for i, n := range PodCounts(s.Pods) {
			for r := 0; r < Rounds; r++ {
				ps.Params[fmt.Sprintf("%sr%d", Tenants[i].Name, r)] = RoundCount(n, r)
			}
		}
		data.Sizes = append(data.Sizes, ps)
	}
	text, err := stage1("performance-config.yaml", data)
	if err != nil {
		return "", err
	}
	return write("performance-config.yaml", []byte(text))
}

// DefaultSchedulerConfig is kube-scheduler's default configuration: one
// profile, default-scheduler, with the upstream plugins.
const DefaultSchedulerConfig = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"

// MtscnSchedulerConfig copies the shipped configuration for an in-process
// benchmark: leader election off, no clientConnection, and the
// mtscn-scheduler profile renamed to schedulerName (scheduler_perf's pods
// go to default-scheduler). Plugins and args stay exactly as shipped.
func MtscnSchedulerConfig(shipped []byte, schedulerName string) ([]byte, error) {
	var cfg map[string]any
	if err := yaml.Unmarshal(shipped, &cfg); err != nil {
		return nil, fmt.Errorf("decoding the shipped scheduler configuration: %w", err)
	}
	cfg["leaderElection"] = map[string]any{"leaderElect": false}
	delete(cfg, "clientConnection")
	profiles, _ := cfg["profiles"].([]any)
	renamed := 0
	for _, p := range profiles {
		prof, ok := p.(map[string]any)
		if ok && prof["schedulerName"] == "mtscn-scheduler" {
			prof["schedulerName"] = schedulerName
			renamed++
		}
	}
	if renamed != 1 {
		return nil, fmt.Errorf("the shipped scheduler configuration has %d mtscn-scheduler profiles, want 1", renamed)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding the benchmark scheduler configuration: %w", err)
	}
	return out, nil
}
