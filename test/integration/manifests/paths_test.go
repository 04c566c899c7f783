package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mtscn/mtscn/test/integration/harness"
)

// manifestsDir is the repository's manifests/ directory.
func manifestsDir() string {
	return filepath.Join(harness.RepoRoot(), "manifests")
}

var (
	moduleDirsMu sync.Mutex
	moduleDirs   = map[string]string{}
)

// moduleDir returns the directory of a module of go.mod's build list in the
// module cache (NFD's and scheduler-plugins' own manifests and CRDs live
// there, at exactly the versions mtscn is built with).
func moduleDir(t testing.TB, module string) string {
	t.Helper()
	moduleDirsMu.Lock()
	defer moduleDirsMu.Unlock()
	if dir, ok := moduleDirs[module]; ok {
		return dir
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = harness.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("locating module %s (go list -m): %v", module, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatalf("module %s is not in the module cache: run `go mod download %s`", module, module)
	}
	moduleDirs[module] = dir
	return dir
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
	return filepath.Join(moduleDir(t, nfdModule), "deployment", "base", "nfd-crds", "nfd-api-crds.yaml")
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
