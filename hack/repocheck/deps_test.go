package repocheck

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPackageGraph keeps the layering of docs/contributing.md: each entry
// names a package (with /... its subtree) and the packages it must not
// link, directly or not (pkg/wellknown's own TestStdlibOnly keeps the
// vocabulary standard library only). It logs the size of each binary's graph
// (go test -v -run TestPackageGraph ./hack/repocheck).
func TestPackageGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list -deps")
	}
	const mod = "github.com/mtscn/mtscn/"
	tests := []struct {
		pkg     string
		banned  []string
		allowed []string // exceptions below a banned prefix
		why     string
	}{{
		pkg:    "./cmd/mtscn-node",
		banned: []string{mod + "pkg/apis/config", "k8s.io/kubernetes/pkg/scheduler", mod + "pkg/plugins", mod + "pkg/devcluster", "go.etcd.io/etcd/server"},
		why:    "the node agent reaches the vocabulary through pkg/wellknown, not through the scheduler's config, scheme or framework",
	}, {
		pkg:     "./pkg/audit/...",
		banned:  []string{mod + "pkg/devcluster", mod + "pkg/simulate", mod + "pkg/plugins", "go.etcd.io/etcd/server", "k8s.io/kubernetes/pkg/controlplane"},
		allowed: []string{mod + "pkg/plugins/names"},
		why:     "the read-only audit path links neither the embedded control plane nor the plugins' decision code",
	}}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	deps := func(pkg string) []string {
		cmd := exec.Command(gobin, "list", "-deps", pkg)
		cmd.Dir = repoRoot
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	under := func(dep, prefix string) bool {
		return dep == prefix || strings.HasPrefix(dep, strings.TrimSuffix(prefix, "/")+"/")
	}
	for _, tc := range tests {
		for _, dep := range deps(tc.pkg) {
			for _, banned := range tc.banned {
				if !under(dep, banned) {
					continue
				}
				ok := false
				for _, a := range tc.allowed {
					ok = ok || under(dep, a)
				}
				if !ok {
					t.Errorf("%s links %s: %s", tc.pkg, dep, tc.why)
				}
			}
		}
	}
	for _, bin := range []string{"./cmd/mtscn-node", "./cmd/mtscn-scheduler", "./cmd/mtscnctl"} {
		all := deps(bin)
		own := 0
		for _, d := range all {
			if strings.HasPrefix(d, mod) {
				own++
			}
		}
		t.Logf("%s: %d packages (%d of mtscn)", bin, len(all), own)
	}
}
