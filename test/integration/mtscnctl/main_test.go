package mtscnctl

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mtscn/mtscn/test/integration/harness"
)

// mtscnctlBin is the binary under test, built once by TestMain into the
// repository's bin/.test directory (overwritten by every run).
var mtscnctlBin string

func TestMain(m *testing.M) {
	mtscnctlBin = filepath.Join(harness.RepoRoot(), "bin", ".test", "mtscnctl")
	build := exec.Command("go", "build", "-o", mtscnctlBin, "./cmd/mtscnctl")
	build.Dir = harness.RepoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building mtscnctl: %v\n", err)
		os.Exit(1)
	}
	harness.Main(m)
}
