package install

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"

	"github.com/mtscn/mtscn/pkg/node/withdrawal"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// recordingNode records every change the installer asks of its Node.
type recordingNode struct {
	*MemoryNode
	mu      sync.Mutex
	changes []NodeChange
}

func (r *recordingNode) Apply(ctx context.Context, c NodeChange) (bool, error) {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
	return r.MemoryNode.Apply(ctx, c)
}

// runtimeKeys returns the mtscn.io/runtime.* keys a change sets or removes.
func (r *recordingNode) runtimeKeys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.changes {
		for k := range c.Set {
			if strings.HasPrefix(k, wellknown.LabelRuntimePrefix) {
				out = append(out, "set "+k)
			}
		}
		for _, k := range c.Remove {
			if strings.HasPrefix(k, wellknown.LabelRuntimePrefix) {
				out = append(out, "remove "+k)
			}
		}
	}
	return out
}

// TestInstallerNeverWritesRuntimeLabels: through install, an upgrade, a
// rolled back install, a failed one and uninstall, the installer asks its
// Node for no change of mtscn.io/runtime.*, and still the labels follow
// what containerd has, because discovery writes them.
func TestInstallerNeverWritesRuntimeLabels(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	env := newEnv(t, "containerd-1.6")
	rec := &recordingNode{MemoryNode: env.node}
	build := func(v Verifier, mutate ...func(*Options)) *Installer {
		o := Options{HostRoot: env.root, ArtifactsDir: mustAbs(t, artifactsFixture)}
		for _, m := range mutate {
			m(&o)
		}
		in, err := New(o, WithNode(rec), WithRestarter(env.restarter), WithVerifier(v), WithSandboxLister(env.lister), WithPollInterval(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	in := build(env.verifier)
	if _, err := in.Install(ctx); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if env.node.Labels[wellknown.RuntimeLabel("kata-qemu")] != "true" {
		t.Fatalf("labels after install %v: discovery did not report kata-qemu", env.node.Labels)
	}
	// An upgrade (new artifacts) that containerd then fails to serve:
	// claimed, changed, rolled back.
	failing := failingVerifier{}
	if _, err := build(failing, func(o *Options) { o.Shims = []string{"qemu"} }).Install(ctx); err == nil {
		t.Fatal("Install with a failing verifier succeeded")
	}
	if _, err := in.Install(ctx); err != nil {
		t.Fatalf("Install again: %v", err)
	}
	if _, err := in.Uninstall(ctx); err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	if _, _, err := env.node.ReadLabels(ctx); err != nil { // discovery's next round
		t.Fatal(err)
	}
	for k := range env.node.Labels {
		if strings.HasPrefix(k, wellknown.LabelRuntimePrefix) {
			t.Errorf("label %s left after uninstall", k)
		}
	}
	// The rolled back upgrade left a record uninstall could follow.
	if diff := cmp.Diff(snapshot(t, newHost(t, "containerd-1.6")), snapshot(t, env.root)); diff != "" {
		t.Errorf("uninstall after a rolled back upgrade did not restore the host (-want,+got):\n%s", diff)
	}
	if got := rec.runtimeKeys(); len(got) != 0 {
		t.Errorf("the installer asked for changes of discovery's labels: %v", got)
	}
}

// failingVerifier: containerd cannot be asked what it serves.
type failingVerifier struct{}

func (failingVerifier) Runtimes(context.Context) (map[string]string, error) {
	return nil, errors.New("containerd is down")
}

// TestUninstallTimeout: when discovery does not drop the runtime labels,
// uninstall changes nothing on the host and records one Warning naming the
// label; with --force it goes on after the timeout.
func TestUninstallTimeout(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	env := newEnv(t, "containerd-1.6")
	if _, err := env.installer(t, nil).Install(ctx); err != nil {
		t.Fatalf("Install: %v", err)
	}
	installed := snapshot(t, env.root)
	restarts := env.restarter.n()
	env.node.Discovery = func(map[string]string) {} // stopped: the labels stay
	env.node.Events = nil
	short := func(o *Options) { o.DiscoveryTimeout = 50 * time.Millisecond }
	_, err := env.installer(t, nil, short).Uninstall(ctx)
	if !errors.Is(err, ErrDiscoveryTimeout) {
		t.Fatalf("Uninstall: %v, want ErrDiscoveryTimeout", err)
	}
	after := snapshot(t, env.root)
	if _, ok := after[strings.TrimPrefix(withdrawal.DefaultPath, "/")]; !ok {
		t.Errorf("no withdrawal note: %v", sortedKeys(after))
	}
	delete(after, strings.TrimPrefix(withdrawal.DefaultPath, "/"))
	if diff := cmp.Diff(installed, after); diff != "" {
		t.Errorf("the host changed although discovery kept the labels (-before,+after):\n%s", diff)
	}
	if env.restarter.n() != restarts {
		t.Errorf("containerd restarted")
	}
	if len(env.node.Events) != 2 || !strings.HasPrefix(env.node.Events[1], "Warning "+EventDiscoveryTimeout+": mtscn.io/runtime.kata-clh, mtscn.io/runtime.kata-qemu") ||
		!strings.Contains(env.node.Events[1], "is mtscn-node discovery") {
		t.Errorf("events = %q, want SandboxUninstalling and one %s naming the labels", env.node.Events, EventDiscoveryTimeout)
	}

	env.node.Events = nil
	if _, err := env.installer(t, nil, short, func(o *Options) { o.Force = true }).Uninstall(ctx); err != nil {
		t.Fatalf("Uninstall --force: %v", err)
	}
	if !slices.ContainsFunc(env.node.Events, func(e string) bool {
		return strings.HasPrefix(e, "Warning "+EventDiscoveryTimeout) && strings.Contains(e, "--force: going on")
	}) {
		t.Errorf("events = %q, want a Warning that --force went on", env.node.Events)
	}
	if diff := cmp.Diff(snapshot(t, newHost(t, "containerd-1.6")), snapshot(t, env.root)); diff != "" {
		t.Errorf("uninstall --force did not restore the host (-want,+got):\n%s", diff)
	}
}

// TestInstallWaitsForDiscoveryToPublish: a verified install whose runtime
// labels discovery does not publish keeps the startup taint, marks the
// node failed with one Warning; once discovery publishes, the retry marks
// it ready without changing containerd again.
func TestInstallWaitsForDiscoveryToPublish(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	env := newEnv(t, "containerd-1.6")
	publish := false
	real := env.node.Discovery
	env.node.Discovery = func(l map[string]string) {
		if publish {
			real(l)
		}
	}
	short := func(o *Options) { o.DiscoveryTimeout = 50 * time.Millisecond }
	_, err := env.installer(t, nil, short).Install(ctx)
	if !errors.Is(err, ErrDiscoveryTimeout) {
		t.Fatalf("Install: %v, want ErrDiscoveryTimeout", err)
	}
	if len(env.node.Taints) != 1 || env.node.Labels[wellknown.LabelSandboxRuntime] != wellknown.SandboxRuntimeFailed {
		t.Errorf("labels %v taints %v: want failed, still tainted", env.node.Labels, env.node.Taints)
	}
	var warnings []string
	for _, e := range env.node.Events {
		if strings.HasPrefix(e, "Warning") {
			warnings = append(warnings, e)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], EventDiscoveryTimeout) || !strings.Contains(warnings[0], "mtscn.io/runtime.kata-clh=true") || !strings.Contains(warnings[0], "The startup taint stays") {
		t.Errorf("warnings = %q, want one %s naming the labels", warnings, EventDiscoveryTimeout)
	}
	restarts := env.restarter.n()
	publish = true
	if _, err := env.installer(t, nil, short).Install(ctx); err != nil {
		t.Fatalf("Install once discovery publishes: %v", err)
	}
	if len(env.node.Taints) != 0 || env.node.Labels[wellknown.LabelSandboxRuntime] != wellknown.SandboxRuntimeTrue || env.restarter.n() != restarts {
		t.Errorf("labels %v taints %v restarts %d->%d: want ready, untainted, no new restart", env.node.Labels, env.node.Taints, restarts, env.restarter.n())
	}
}
