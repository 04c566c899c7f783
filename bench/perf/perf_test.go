package perf

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/klog/v2"
	"k8s.io/kubernetes/test/integration/framework"
	perf "k8s.io/kubernetes/test/integration/scheduler_perf"

	"github.com/mtscn/mtscn/bench/workload"
	"github.com/mtscn/mtscn/pkg/schedulercmd"
)

// TestMain sets up scheduler_perf's flags and, when benchmarks run, one
// etcd for all workloads (each workload starts its own kube-apiserver on
// it). Without -test.bench there is nothing to run and no etcd is needed,
// so `go test ./...` passes without it.
func TestMain(m *testing.M) {
	if err := perf.InitTests(); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		os.Exit(1)
	}
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	url, stop, err := framework.RunCustomEtcd(klog.Background(), "mtscn_bench_etcd", nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting etcd (run `make etcd` and put bin/ on PATH): %v\n", err)
		os.Exit(1)
	}
	os.Setenv("KUBE_INTEGRATION_ETCD_URL", url)
	code := m.Run()
	stop()
	os.Exit(code)
}

// BenchmarkPerfScheduling runs every profile on every size; select one
// with -perf-scheduling-label-filter=performance,small (or full) or with
// -bench 'BenchmarkPerfScheduling/Mtscn/500Nodes'.
func BenchmarkPerfScheduling(b *testing.B) {
	dir := b.TempDir()
	cfg, err := workload.RenderPerf(workload.PerfOptions{
		Dir:             dir,
		RuntimeClasses:  filepath.Join("..", "..", "manifests", "runtimeclasses", "runtimeclasses.yaml"),
		SchedulerConfig: filepath.Join("..", "..", "manifests", "scheduler", "scheduler-config.yaml"),
		Sizes:           []workload.Size{workload.Small, workload.Full},
	})
	if err != nil {
		b.Fatal(err)
	}
	perf.RunBenchmarkPerfScheduling(b, cfg, "mtscn", schedulercmd.Registry())
}
