package harness

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/mtscn/mtscn/pkg/devcluster"
)

// BuildCommand builds the repository's ./cmd/<name> into
// bin/.test/<dir>/<name> and returns the binary's path. Each test package
// passes a dir of its own, so that packages building the same command in
// parallel (go test runs packages at once) do not write one file together.
func BuildCommand(dir, name string) (string, error) {
	bin := filepath.Join(RepoRoot(), "bin", ".test", dir, name)
	build := exec.Command("go", "build", "-o", bin, "./cmd/"+name)
	build.Dir = RepoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building %s: %w", name, err)
	}
	return bin, nil
}

// SilenceKlog parses the test binary's flags and turns klog's output off:
// the in-process kube-apiserver logs through klog, and tests that run the
// scheduler as a process read its own log instead. Call it from TestMain.
func SilenceKlog() {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	flag.Parse()
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
}

// WriteSchedulerConfig writes the shipped scheduler configuration, with its
// clientConnection pointed at kubeconfig and then changed by edit (nil:
// nothing more), to a file in a test directory and returns its path: what
// an mtscn-scheduler process started by a test reads with --config.
func WriteSchedulerConfig(t testing.TB, kubeconfig string, edit func(cfg map[string]any)) string {
	t.Helper()
	data, err := os.ReadFile(ShippedConfig())
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%s: %v", ShippedConfig(), err)
	}
	cfg["clientConnection"] = map[string]any{"kubeconfig": kubeconfig}
	if edit != nil {
		edit(cfg)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "scheduler-config.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// StartDevCluster starts pkg/devcluster's etcd and kube-apiserver (the
// control plane `mtscnctl demo` runs) in a test directory, for tests that
// run mtscn-scheduler as a process against its kubeconfig, and stops it
// when the test ends. The context is cancelled when the test ends.
func StartDevCluster(t testing.TB) (context.Context, *devcluster.Cluster) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cluster, err := devcluster.Start(ctx, devcluster.Options{DataDir: filepath.Join(t.TempDir(), "cluster")})
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return ctx, cluster
}
