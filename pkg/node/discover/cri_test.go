package discover

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"k8s.io/klog/v2/ktesting"

	"github.com/mtscn/mtscn/pkg/node/withdrawal"
)

// TestCRIListsHandlers runs the real containerd (Debian's 1.6) with a CRI
// configuration holding runc and gVisor (runsc through the runc shim, the
// layout that works on this machine), then adds a second gVisor handler to
// config.toml without restarting containerd: discovery reports runsc as a
// gVisor sandbox the CRI lists, and the new handler as configured but not
// listed, so nfd-rules label only runsc (docs/labels.md: configured and
// listed by the CRI).
func TestCRIListsHandlers(t *testing.T) {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skipf("containerd not installed (%v): make install-containerd", err)
	}
	if os.Getuid() != 0 {
		t.Skip("containerd needs root")
	}
	root, err := os.MkdirTemp("", "mtscn-cri") // short: the socket path is limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	for _, d := range []string{"etc/containerd", "run/containerd", "root", "state", "opt"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	config := filepath.Join(root, "etc/containerd/config.toml")
	base := `version = 2
[plugins."io.containerd.internal.v1.opt"]
  path = "` + filepath.Join(root, "opt") + `"
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc.options]
  BinaryName = "/usr/local/bin/runsc"
`
	if err := os.WriteFile(config, []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(root, "run/containerd/containerd.sock")
	cmd := exec.Command(bin, "--config", config, "--address", socket, "--root", filepath.Join(root, "root"), "--state", filepath.Join(root, "state"))
	logf, err := os.Create(filepath.Join(root, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting containerd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})

	_, ctx := ktesting.NewTestContext(t)
	opts := Options{HostRoot: root, Sources: []string{SourceKata}}
	var res *Result
	deadline := time.Now().Add(60 * time.Second)
	for {
		res = Discover(ctx, opts)
		if res.Kata != nil && res.Kata.CRI == "asked "+DefaultCRISocket {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(root, "containerd.log"))
			t.Fatalf("containerd's CRI never answered: %+v %v\n%s", res.Kata, res.Errors, log)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// A handler added to config.toml while containerd keeps running.
	added := base + `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.gvisor-new]
  runtime_type = "io.containerd.runsc.v1"
`
	if err := os.WriteFile(config, []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	res = Discover(context.Background(), opts)
	got := map[string]Handler{}
	for _, h := range res.Kata.Handlers {
		got[h.Name] = h
	}
	if h := got["runsc"]; h.Sandbox != SandboxGVisor || h.CRIListed == nil || !*h.CRIListed {
		t.Errorf("runsc: %+v, want a gVisor sandbox the CRI lists", h)
	}
	if h := got["gvisor-new"]; h.Sandbox != SandboxGVisor || h.CRIListed == nil || *h.CRIListed {
		t.Errorf("gvisor-new: %+v, want a gVisor sandbox the CRI does not list (containerd not restarted)", h)
	}
	labels := runRules(t, res.Features()).Labels
	if labels["mtscn.io/runtime.runsc"] != "true" || labels["mtscn.io/runtime.gvisor-new"] != "" || labels["mtscn.io/runtime.runc"] != "" {
		t.Errorf("runtime labels %v: want runsc only", labels)
	}

	// The installer withdraws runsc before it changes containerd: the CRI
	// still serves it, discovery no longer reports it.
	writeNote(t, root, withdrawal.Note{Handlers: []string{"runsc"}, Reason: withdrawal.ReasonUninstall})
	res = Discover(context.Background(), opts)
	for _, h := range res.Kata.Handlers {
		got[h.Name] = h
	}
	if h := got["runsc"]; h.CRIListed == nil || !*h.CRIListed || !h.Withdrawn {
		t.Errorf("runsc: %+v, want listed by the CRI and withdrawn", h)
	}
	if labels := runRules(t, res.Features()).Labels; labels["mtscn.io/runtime.runsc"] != "" {
		t.Errorf("runtime labels %v: want no runsc while it is withdrawn", labels)
	}
}
