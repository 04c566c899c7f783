package manifests

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/mtscn/mtscn/test/integration/harness"
)

// manifestsDir is the repository's manifests/ directory.
func manifestsDir() string {
	return filepath.Join(harness.RepoRoot(), "manifests")
}

// moduleDir returns a module's directory in the module cache.
func moduleDir(t testing.TB, module string) string {
	return harness.ModuleDir(t, module)
}

// moduleVersion returns the version go.mod requires for module.
func moduleVersion(t testing.TB, module string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "go.mod"))
	if err != nil {
		t.Fatalf("reading go.mod: %v", err)
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+(v\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("go.mod does not require %s", module)
	}
	return string(m[1])
}

const (
	nfdModule = "sigs.k8s.io/node-feature-discovery"
	spModule  = "sigs.k8s.io/scheduler-plugins"
)

// nfdCRDs is NFD's CRD file (NodeFeature, NodeFeatureRule, NodeFeatureGroup).
func nfdCRDs(t testing.TB) string {
	return harness.NFDCRDs(t)
}

// schedulerPluginsCRDs are the CRDs scheduler-plugins' optional plugins read.
func schedulerPluginsCRDs(t testing.TB) []string {
	sp := moduleDir(t, spModule)
	return []string{
		filepath.Join(sp, "config", "crd", "bases", "scheduling.x-k8s.io_elasticquotas.yaml"),
		filepath.Join(sp, "config", "crd", "bases", "scheduling.x-k8s.io_podgroups.yaml"),
		filepath.Join(moduleDir(t, nfdModule), "deployment", "base", "noderesourcetopologies-crd", "noderesourcetopologies.yaml"),
	}
}
