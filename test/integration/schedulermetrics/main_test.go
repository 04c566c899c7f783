package schedulermetrics

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"k8s.io/klog/v2"
)

// schedulerBin is the binary under test, built once by TestMain into a
// directory of its own under bin/.test (test/integration/failover builds
// the same command into bin/.test, maybe at the same time).
var schedulerBin string

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

func TestMain(m *testing.M) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	flag.Parse()
	// The in-process kube-apiserver logs through klog; keep the test
	// output to the scheduler's log, which the test prints on failure.
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)

	schedulerBin = filepath.Join(repoRoot(), "bin", ".test", "schedulermetrics", "mtscn-scheduler")
	build := exec.Command("go", "build", "-o", schedulerBin, "./cmd/mtscn-scheduler")
	build.Dir = repoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building mtscn-scheduler: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
