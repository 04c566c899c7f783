package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"

	"github.com/mtscn/mtscn/pkg/node/hostpath"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// supervisedContainerd runs the real containerd (private socket, root,
// state; the fixture's /etc/containerd bound in a private mount namespace)
// under a shell loop that starts it again whenever it exits, as runit or s6
// would on a node without systemd. It returns the socket.
func supervisedContainerd(t *testing.T, root string) string {
	t.Helper()
	dir := t.TempDir()
	stop := filepath.Join(dir, "stop")
	run := `mkdir -p "$2/var-lib" && mount --bind "$2/var-lib" /var/lib && mount --bind "$1/etc/containerd" /etc/containerd && ` +
		`exec containerd --config /etc/containerd/config.toml --address "$2/containerd.sock" --root "$2/root" --state "$2/state"`
	loop := `while [ ! -e "$3" ]; do unshare --mount --propagation private sh -c '` + run + `' sh "$1" "$2" >>"$2/containerd.log" 2>&1; sleep 0.2; done`
	sup := exec.Command("sh", "-c", loop, "sh", root, dir, stop)
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "containerd.sock")
	t.Cleanup(func() {
		_ = os.WriteFile(stop, nil, 0o644)
		if pid, err := socketOwner(hostpath.Root("/"), socket); err == nil {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
		done := make(chan struct{})
		go func() { _ = sup.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = sup.Process.Kill()
			<-done
		}
	})
	return socket
}

// TestSignalRestartWithRealContainerd installs gVisor (runc-shim layout)
// into a real containerd 1.6 that no systemd supervises, restarting it with
// --restart-mode=signal: containerd is found through its socket, signalled,
// started again by its supervisor, and the CRI then serves runsc and runc.
// Uninstall (which checks the CRI for running sandboxes) brings back the
// runtimes of before.
func TestSignalRestartWithRealContainerd(t *testing.T) {
	realContainerd(t, 2)
	_, ctx := ktesting.NewTestContext(t)
	env := newEnv(t, "debian-1.6")
	socket := supervisedContainerd(t, env.root)
	cri := CRIVerifier{Socket: socket, Timeout: 60 * time.Second}
	before, err := cri.Runtimes(ctx)
	if err != nil {
		t.Fatalf("containerd did not come up: %v", err)
	}
	pid0, err := socketOwner(hostpath.Root("/"), socket)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		HostRoot: env.root, Sandboxes: []string{SandboxGVisor}, GVisorShim: GVisorShimRunc,
		GVisorArtifacts: mustAbs(t, gvisorArtifactsFixture),
	}
	restarter := SignalRestarter{HostRoot: "/", Socket: socket, Timeout: 60 * time.Second}
	in, err := New(opts, WithNode(env.node), WithRestarter(restarter), WithVerifier(cri))
	if err != nil {
		t.Fatal(err)
	}
	res, err := in.Install(ctx)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	pid1, err := socketOwner(hostpath.Root("/"), socket)
	if err != nil || pid1 == pid0 || !res.Restarted {
		t.Errorf("containerd pid %d -> %d (%v), restarted=%v: want a new containerd", pid0, pid1, err, res.Restarted)
	}
	after, err := cri.Runtimes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"runc": runcShimType, GVisorHandler: runcShimType}
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("runtimes served after install (-want,+got):\n%s", diff)
	}
	if env.node.Labels[wellknown.RuntimeLabel(GVisorHandler)] != "true" || len(env.node.Taints) != 0 {
		t.Errorf("labels %v taints %v", env.node.Labels, env.node.Taints)
	}
	if _, err := in.Uninstall(ctx); err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	gone, err := cri.Runtimes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, gone); diff != "" {
		t.Errorf("runtimes after uninstall vs before (-want,+got):\n%s", diff)
	}
}
