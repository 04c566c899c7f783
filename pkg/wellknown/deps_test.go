package wellknown_test

import (
	"go/build"
	"os/exec"
	"strings"
	"testing"
)

// TestStdlibOnly keeps the vocabulary importable by every binary: it may
// import the standard library only.
func TestStdlibOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
			t.Errorf("pkg/wellknown imports %s; it must import the standard library only", imp)
		}
	}
}

// TestNodeAgentDoesNotLinkScheduler checks that the node agent's binary
// reaches the vocabulary without linking the scheduler's config, scheme or
// framework packages.
func TestNodeAgentDoesNotLinkScheduler(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/mtscn/mtscn/cmd/mtscn-node").Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/mtscn-node: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/mtscn/mtscn/pkg/apis/config", "k8s.io/kubernetes/pkg/scheduler", "github.com/mtscn/mtscn/pkg/plugins"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("mtscn-node links %s", dep)
			}
		}
	}
}
