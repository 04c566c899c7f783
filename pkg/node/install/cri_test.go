package install

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// containerdDaemon runs the real containerd on a fixture host: a private
// mount namespace binds the fixture's /etc/containerd over /etc/containerd,
// and the socket, root and state live in a temp dir. Restart stops it and
// starts it again, as systemd would.
type containerdDaemon struct {
	t        *testing.T
	root     string
	dir      string
	cmd      *exec.Cmd
	restarts int
	// onRestart, when set, runs before each restart.
	onRestart func()
}

func (d *containerdDaemon) socket() string { return filepath.Join(d.dir, "containerd.sock") }

func (d *containerdDaemon) start() {
	d.t.Helper()
	// /var/lib is bound to the temp dir too: plugins configured with host
	// paths there (Debian's opt plugin) must not create them on the host.
	script := `mkdir -p "$2/var-lib" && mount --bind "$2/var-lib" /var/lib && mount --bind "$1/etc/containerd" /etc/containerd && ` +
		`exec containerd --config /etc/containerd/config.toml --address "$2/containerd.sock" --root "$2/root" --state "$2/state"`
	d.cmd = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", d.root, d.dir)
	logf, err := os.OpenFile(filepath.Join(d.dir, "containerd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("starting containerd: %v", err)
	}
}

func (d *containerdDaemon) stop() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
	d.cmd = nil
	_ = os.Remove(d.socket())
}

// Restart implements Restarter.
func (d *containerdDaemon) Restart(context.Context, string) error {
	d.restarts++
	if d.onRestart != nil {
		d.onRestart()
	}
	d.stop()
	d.start()
	return nil
}

func kataRuntimes(rt map[string]string) map[string]string {
	out := map[string]string{}
	for h, typ := range rt {
		if strings.HasPrefix(h, "kata") {
			out[h] = typ
		}
	}
	return out
}

// TestInstallRestartsAndVerifiesRealContainerd runs the real containerd
// daemon on a fixture host and checks, through its CRI socket, that the
// install makes it serve every Kata handler, that an install whose restart
// was skipped is not labelled ready (the running containerd does not serve
// the handlers) until containerd is restarted, and that uninstall makes
// them go away again.
func TestInstallRestartsAndVerifiesRealContainerd(t *testing.T) {
	realContainerd(t, 2)
	_, ctx := ktesting.NewTestContext(t)
	env := newEnv(t, "containerd-1.6")
	d := &containerdDaemon{t: t, root: env.root, dir: t.TempDir()}
	d.start()
	t.Cleanup(d.stop)
	cri := CRIVerifier{Socket: d.socket(), Timeout: 30 * time.Second}

	before, err := cri.Runtimes(ctx)
	if err != nil {
		t.Fatalf("containerd did not come up: %v (log in %s)", err, d.dir)
	}
	if diff := cmp.Diff(map[string]string{"runc": "io.containerd.runc.v2"}, before); diff != "" {
		t.Fatalf("runtimes before the install (-want,+got):\n%s", diff)
	}
	env.verifier = cri

	// The files are written but the restarter only counts (containerd
	// keeps running with the old config): the running daemon does not
	// serve the handlers, so the install fails and the node stays out.
	_, err = env.installer(t, nil).Install(ctx)
	if err == nil || !strings.Contains(err.Error(), "install rolled back: containerd does not serve kata-clh, kata-qemu, kata-qemu-runtime-rs (it serves [runc])") {
		t.Fatalf("Install without a real restart = %v, want the unserved handlers named", err)
	}
	if got := env.node.Labels[wellknown.LabelSandboxRuntime]; got != wellknown.SandboxRuntimeFailed {
		t.Errorf("%s = %q after an install containerd does not serve, want %q", wellknown.LabelSandboxRuntime, got, wellknown.SandboxRuntimeFailed)
	}
	if len(env.node.Taints) != 1 {
		t.Errorf("taints = %v, want the startup taint kept", env.node.Taints)
	}

	// Again with the real restart: files unchanged, but containerd does
	// not serve them, so the installer restarts it and verifies.
	var duringRestart map[string]string
	d.onRestart = func() { duringRestart = maps.Clone(env.node.Labels) }
	in, err := New(Options{HostRoot: env.root, ArtifactsDir: mustAbs(t, artifactsFixture)},
		WithNode(env.node), WithRestarter(d), WithVerifier(cri))
	if err != nil {
		t.Fatal(err)
	}
	res, err := in.Install(ctx)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if !res.Restarted || d.restarts != 1 {
		t.Errorf("restarted=%v restarts=%d, want one restart", res.Restarted, d.restarts)
	}
	wantDuring := map[string]string{"kubernetes.io/hostname": "n1", wellknown.LabelSandboxRuntime: wellknown.SandboxRuntimePending, wellknown.LabelKataRuntime: "false"}
	if diff := cmp.Diff(wantDuring, duringRestart); diff != "" {
		t.Errorf("labels while containerd restarted (-want,+got):\n%s", diff)
	}
	after, err := cri.Runtimes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"kata-clh":             "io.containerd.kata-clh.v2",
		"kata-qemu":            "io.containerd.kata-qemu.v2",
		"kata-qemu-runtime-rs": "io.containerd.kata-qemu-runtime-rs.v2",
	}
	if diff := cmp.Diff(want, kataRuntimes(after)); diff != "" {
		t.Errorf("kata runtimes served by containerd (-want,+got):\n%s", diff)
	}
	if after["runc"] != "io.containerd.runc.v2" {
		t.Errorf("containerd lost the user's runc runtime: %v", after)
	}
	if got := env.node.Labels[wellknown.LabelSandboxRuntime]; got != wellknown.SandboxRuntimeTrue || len(env.node.Taints) != 0 {
		t.Errorf("labels %v taints %v, want ready and untainted", env.node.Labels, env.node.Taints)
	}

	// Reinstall: containerd serves the handlers, nothing to do.
	if res, err := in.Install(ctx); err != nil || res.Restarted || d.restarts != 1 {
		t.Errorf("reinstall: err=%v restarted=%v restarts=%d, want no restart", err, res.Restarted, d.restarts)
	}

	if _, err := in.Uninstall(ctx); err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	gone, err := cri.Runtimes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, gone); diff != "" {
		t.Errorf("runtimes after uninstall vs before install (-want,+got):\n%s", diff)
	}
}
