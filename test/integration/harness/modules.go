package harness

import (
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	moduleDirsMu sync.Mutex
	moduleDirs   = map[string]string{}
)

// ModuleDir returns the directory of a module of go.mod's build list in the
// module cache. NFD's and scheduler-plugins' own manifests and CRDs live
// there, at exactly the versions mtscn is built with.
func ModuleDir(t testing.TB, module string) string {
	t.Helper()
	moduleDirsMu.Lock()
	defer moduleDirsMu.Unlock()
	if dir, ok := moduleDirs[module]; ok {
		return dir
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = RepoRoot()
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

// NFDCRDs is the CRD file (NodeFeature, NodeFeatureRule, NodeFeatureGroup)
// shipped in the node-feature-discovery module mtscn is built with.
func NFDCRDs(t testing.TB) string {
	return filepath.Join(ModuleDir(t, "sigs.k8s.io/node-feature-discovery"), "deployment", "base", "nfd-crds", "nfd-api-crds.yaml")
}
