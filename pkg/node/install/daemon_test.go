package install

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2/ktesting"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// The DaemonSet mode keeps retrying a failing install with /readyz at 503,
// becomes ready once the host is fixed, and does not uninstall on stop
// (issue 14 item 9: a DaemonSet rollout must not uninstall).
func TestServeRetriesUntilInstalledAndKeepsInstallOnStop(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	env := newEnv(t, "unparsable")
	in := env.installer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- in.Serve(runCtx, ln, DaemonOptions{RetryInterval: 20 * time.Millisecond, MaxRetryInterval: 40 * time.Millisecond})
	}()

	// Failing: alive, not ready, node marked failed.
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		env.node.mu.Lock()
		defer env.node.mu.Unlock()
		return env.node.Labels[wellknown.LabelSandboxRuntime] == wellknown.SandboxRuntimeFailed, nil
	}); err != nil {
		t.Fatalf("the node was never marked failed: %v", err)
	}
	if got := status(t, base+"/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz while failing = %d, want 503", got)
	}
	if got := status(t, base+"/healthz"); got != http.StatusOK {
		t.Errorf("/healthz while failing = %d, want 200", got)
	}

	// The operator fixes config.toml: the next attempt succeeds.
	fixed, err := os.ReadFile("testdata/hosts/containerd-1.6/etc/containerd/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(env.root, DefaultContainerdConfig)
	if err := os.WriteFile(cfg, fixed, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return status(t, base+"/readyz") == http.StatusOK, nil
	}); err != nil {
		t.Fatalf("/readyz never became 200: %v", err)
	}
	env.node.mu.Lock()
	state, taints := env.node.Labels[wellknown.LabelSandboxRuntime], len(env.node.Taints)
	env.node.mu.Unlock()
	if state != wellknown.SandboxRuntimeTrue || taints != 0 {
		t.Errorf("ready but %s=%q with %d taints", wellknown.LabelSandboxRuntime, state, taints)
	}

	// SIGTERM (a rollout): the runtimes stay, no restart.
	restarts := env.restarter.n()
	installed := snapshot(t, env.root)
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after stop")
	}
	if diff := cmp.Diff(installed, snapshot(t, env.root)); diff != "" {
		t.Errorf("stopping Serve changed the host (-before,+after):\n%s", diff)
	}
	if env.restarter.n() != restarts {
		t.Errorf("stopping Serve restarted containerd")
	}
	if env.node.Labels[wellknown.LabelSandboxRuntime] != wellknown.SandboxRuntimeTrue {
		t.Errorf("labels after stop = %v, want still installed", env.node.Labels)
	}
	got, err := os.ReadFile(cfg)
	if err != nil || string(got) == string(fixed) {
		t.Errorf("config.toml after stop: %v", err)
	}
}

func TestSystemdRestarterWithoutSystemd(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	root := t.TempDir()
	err := SystemdRestarter{HostRoot: root}.Restart(ctx, "containerd.service")
	want := "restarting containerd.service through systemd: no systemd socket at " + filepath.Join(root, "run/systemd/private") + " (use --restart-mode=signal, command or none on hosts without systemd)"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Restart() = %v, want prefix %q", err, want)
	}
}

// BenchmarkReinstallNoop measures what the DaemonSet pays at every start on
// an installed node: plan the containerd files, compare the install dir
// with the artifacts, find nothing to do.
func BenchmarkReinstallNoop(b *testing.B) {
	_, ctx := ktesting.NewTestContext(b)
	env := newEnv(b, "containerd-1.6")
	in := env.installer(b, nil)
	if _, err := in.Install(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := in.Install(ctx)
		if err != nil || len(res.Changed) != 0 {
			b.Fatalf("reinstall: %v %v", err, res.Changed)
		}
	}
}

// BenchmarkPlanContainerd measures reading and planning containerd's
// config (parse, effective CRI section, drop-in and imports edit).
func BenchmarkPlanContainerd(b *testing.B) {
	for _, fixture := range []string{"containerd-1.6", "containerd-2.0"} {
		b.Run(fixture, func(b *testing.B) {
			env := newEnv(b, fixture)
			in := env.installer(b, nil)
			sbs, err := in.sandboxes()
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := in.planContainerd(sbs, record{}, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
