package install

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// fakeContainerd serves runtimes like a containerd that loses runc after
// the first restart (a broken install), and lists running sandboxes.
type fakeContainerd struct {
	restarter *countingRestarter
	// breakAfter is the restart count from which runc is lost (0: never).
	breakAfter int
	sandboxes  []string
	handlers   []string
}

func (f *fakeContainerd) Runtimes(context.Context) (map[string]string, error) {
	out := map[string]string{"runc": runcShimType}
	n := f.restarter.n()
	for _, h := range f.handlers {
		out[h] = "io.containerd." + h + ".v2"
	}
	if f.breakAfter > 0 && n >= f.breakAfter && n%2 == 1 { // broken config live
		delete(out, "runc")
	}
	if n%2 == 0 && f.breakAfter > 0 {
		out = map[string]string{"runc": runcShimType} // rolled back
	}
	return out, nil
}

func (f *fakeContainerd) RunningSandboxes(_ context.Context, handlers []string) ([]string, error) {
	return f.sandboxes, nil
}

// TestRollbackWhenContainerdLosesARuntime is issue 14 items 1 and 7: when
// containerd no longer serves runc after the change, the previous config is
// put back byte for byte, containerd restarted, the node stays tainted and
// failed, and serve's next attempt does not restart containerd again.
func TestRollbackWhenContainerdLosesARuntime(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	env := newEnv(t, "containerd-1.6")
	cfg := filepath.Join(env.root, DefaultContainerdConfig)
	orig, _ := os.ReadFile(cfg)
	fake := &fakeContainerd{restarter: env.restarter, breakAfter: 1, handlers: []string{"kata-qemu"}}
	env.verifier = fake
	in := env.installer(t, nil, func(o *Options) { o.Shims = []string{"qemu"}; o.ContainerdMajor = 1 })
	res, err := in.Install(ctx)
	if err == nil || !strings.Contains(err.Error(), "install rolled back: containerd no longer serves runc, which it served before") {
		t.Fatalf("Install = %v, want a rollback naming runc", err)
	}
	if !res.RolledBack || env.restarter.n() != 2 {
		t.Errorf("rolledBack=%v restarts=%d, want a rollback with two restarts", res.RolledBack, env.restarter.n())
	}
	if got, _ := os.ReadFile(cfg); string(got) != string(orig) {
		t.Errorf("config.toml after the rollback differs from before")
	}
	if env.node.Labels[wellknown.LabelSandboxRuntime] != wellknown.SandboxRuntimeFailed || len(env.node.Taints) != 1 {
		t.Errorf("labels %v taints %v, want failed and tainted", env.node.Labels, env.node.Taints)
	}
	// serve's retry: same plan, no restart.
	_, err = in.installOnce(ctx, true)
	if !errors.Is(err, ErrRolledBack) || env.restarter.n() != 2 {
		t.Errorf("retry after rollback: %v, restarts %d; want ErrRolledBack and no restart", err, env.restarter.n())
	}
}

// TestUninstallRefusesWhileSandboxesRun is issue 14 item 9: uninstall is
// refused while pods run with the handlers, unless forced.
func TestUninstallRefusesWhileSandboxesRun(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	env := newEnv(t, "containerd-1.6")
	if _, err := env.installer(t, nil).Install(ctx); err != nil {
		t.Fatal(err)
	}
	installed := snapshot(t, env.root)
	env.lister = &fakeContainerd{restarter: env.restarter, sandboxes: []string{"team-a/web (kata-qemu)"}}
	n := env.restarter.n()
	_, err := env.installer(t, nil).Uninstall(ctx)
	if !errors.Is(err, ErrSandboxesRunning) || !strings.Contains(err.Error(), "team-a/web (kata-qemu)") {
		t.Fatalf("Uninstall with a running sandbox = %v, want a refusal naming it", err)
	}
	if diff := cmp.Diff(installed, snapshot(t, env.root)); diff != "" || env.restarter.n() != n {
		t.Errorf("refused uninstall changed the host or restarted containerd:\n%s", diff)
	}
	if _, err := env.installer(t, nil, func(o *Options) { o.Force = true }).Uninstall(ctx); err != nil {
		t.Fatalf("forced Uninstall: %v", err)
	}
}
