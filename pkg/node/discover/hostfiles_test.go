package discover

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2/ktesting"
)

// copyFixture copies testdata/<name> into a temporary directory the test
// may break.
func copyFixture(t *testing.T, name string) (string, Options) {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join("testdata", name))); err != nil {
		t.Fatal(err)
	}
	opts := fixtureOptions(name)
	opts.HostRoot = root
	return root, opts
}

// replace puts a FIFO, a symlink to /dev/zero or a big file where a host
// file was.
func replace(t *testing.T, root, rel, kind string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	var err error
	switch kind {
	case "fifo":
		err = syscall.Mkfifo(p, 0o644)
	case "dev-zero":
		// Readers that resolve symlinks inside the host root (as the
		// host would) reach <root>/dev/zero: make it the real device.
		zero := filepath.Join(root, "dev", "zero")
		if _, statErr := os.Lstat(zero); statErr != nil {
			if err := os.MkdirAll(filepath.Dir(zero), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mknod(zero, syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 5))); err != nil {
				t.Skipf("cannot create a /dev/zero device node in the fixture (%v): needs root", err)
			}
		}
		err = os.Symlink("/dev/zero", p)
	case "big":
		err = os.WriteFile(p, make([]byte, MaxFileBytes+1), 0o644)
	case "dir":
		err = os.Mkdir(p, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestBadHostFiles plants what a broken or hostile host can hold where
// discovery reads: each source must report an error naming the file,
// within its time bound, without panicking or reading without limit.
func TestBadHostFiles(t *testing.T) {
	const kataConfig = "opt/kata/share/defaults/kata-containers/configuration-qemu.toml"
	tests := []struct {
		name, file, kind string
		source           string
		wantErr          string
	}{
		{"FIFO as /proc/meminfo", "proc/meminfo", "fifo", SourceMemory, "not a regular file"},
		{"FIFO as a vulnerability file", "sys/devices/system/cpu/vulnerabilities/mds", "fifo", SourceCPU, "not a regular file"},
		{"FIFO as the vulnerabilities dir", "sys/devices/system/cpu/vulnerabilities", "fifo", SourceCPU, "not a directory"},
		{"FIFO as containerd's config", "etc/containerd/config.toml", "fifo", SourceKata, "not a regular file"},
		{"FIFO as a Kata config", kataConfig, "fifo", SourceKata, "not a regular file"},
		{"/dev/zero as containerd's config", "etc/containerd/config.toml", "dev-zero", SourceKata, "not a regular file"},
		{"/dev/zero as /proc/cpuinfo", "proc/cpuinfo", "dev-zero", SourceCPU, "not a regular file"},
		{"huge Kata config", kataConfig, "big", SourceKata, "too large"},
		{"huge /proc/1/mounts falls back to the default", "proc/1/mounts", "big", "", ""},
		{"directory as smt/active", "sys/devices/system/cpu/smt/active", "dir", SourceCPU, "smt/active"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			root, opts := copyFixture(t, "nested-cloud-vm")
			replace(t, root, tc.file, tc.kind)
			opts.SourceTimeout = 5 * time.Second
			start := time.Now()
			res := Discover(ctx, opts)
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("discovery took %v: something waited on the planted file", d)
			}
			if tc.source == "" {
				return
			}
			if got := res.Errors[tc.source]; !strings.Contains(got, tc.wantErr) {
				t.Errorf("errors[%s] = %q, want it to contain %q (all errors: %v)", tc.source, got, tc.wantErr, res.Errors)
			}
		})
	}
}

// TestHugeDefaultMemory: a default_memory whose size in bytes overflows
// int64 used to divide the slot count by zero and panic the agent.
func TestHugeDefaultMemory(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	for _, mem := range []string{"17592186044416", "-2048", "9223372036854775807"} {
		root, opts := copyFixture(t, "nested-cloud-vm")
		p := filepath.Join(root, "opt/kata/share/defaults/kata-containers/configuration-qemu.toml")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.Replace(string(b), "default_memory = 2048", "default_memory = "+mem, 1))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		res := Discover(ctx, opts)
		if got := res.Errors[SourceKata]; !strings.Contains(got, "default_memory = "+mem+" MiB is out of range") {
			t.Errorf("default_memory = %s: errors[kata] = %q, want the field named and the range", mem, got)
		}
		if res.Capacity == nil || res.Capacity.Sandboxes < 0 || res.Capacity.Sandboxes > DefaultMaxSandboxes {
			t.Errorf("default_memory = %s: capacity %+v", mem, res.Capacity)
		}
	}
}

// TestSourceTimeoutAndPanic: a source that blocks is abandoned after its
// time bound and one that panics is reported; the others still report.
func TestSourceTimeoutAndPanic(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	opts := fixtureOptions("nested-cloud-vm")
	opts.SourceTimeout = 200 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	opts.Statfs = func(string) (int64, bool, error) { <-release; return 0, false, nil }
	opts.ProbeKVM = func(string) (KVMProbe, error) { panic("probe exploded") }
	res := Discover(ctx, opts)
	if got := res.Errors[SourceMemory]; !strings.Contains(got, "did not finish within 200ms") || res.Memory != nil {
		t.Errorf("blocked memory source: errors[memory] = %q, memory = %+v", got, res.Memory)
	}
	if got := res.Errors[SourceKVM]; !strings.Contains(got, "internal error (panic) in kvm discovery: probe exploded") {
		t.Errorf("panicking kvm probe: errors[kvm] = %q", got)
	}
	if res.CPU == nil || res.Kata == nil || res.PCI == nil {
		t.Errorf("the other sources must still report: %+v", res)
	}
}

// TestKVMAccessDenied: a /dev/kvm or /dev/vhost-vsock the agent may not
// open is an error and leaves usability unknown; it is never "no KVM".
func TestKVMAccessDenied(t *testing.T) {
	denied := &fs.PathError{Op: "open", Path: "/dev/kvm", Err: syscall.EACCES}
	tests := []struct {
		name        string
		probe       error
		open        error
		wantErr     string
		wantFeature bool
	}{
		{name: "kvm denied", probe: denied, wantErr: "permission denied"},
		{name: "device cgroup", probe: &fs.PathError{Op: "open", Path: "/dev/kvm", Err: syscall.EPERM}, wantErr: "operation not permitted"},
		{name: "vhost-vsock denied", open: denied, wantErr: "permission denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			opts := fixtureOptions("intel-qat-baremetal")
			if tc.probe != nil {
				opts.ProbeKVM = func(string) (KVMProbe, error) { return KVMProbe{}, tc.probe }
			}
			if tc.open != nil {
				opts.OpenDevice = func(string) error { return tc.open }
			}
			res := Discover(ctx, opts)
			if got := res.Errors[SourceKVM]; !strings.Contains(got, tc.wantErr) || !strings.Contains(got, "the agent runs as uid") {
				t.Errorf("errors[kvm] = %q, want %q and who the agent runs as", got, tc.wantErr)
			}
			if res.KVM.Usable != nil || res.KVM.Mode != ModeUnknown {
				t.Errorf("usable = %v, mode %s: want unknown", res.KVM.Usable, res.KVM.Mode)
			}
			if _, ok := res.Features().Attributes["mtscn.kvm"].Elements["usable"]; ok {
				t.Errorf("features publish usable although it is unknown: %v", res.Features().Attributes["mtscn.kvm"])
			}
			if res.Capacity.Sandboxes != 0 {
				t.Errorf("sandboxes = %d with unknown KVM, want 0", res.Capacity.Sandboxes)
			}
		})
	}
}

// TestVhostVsockRequired: KVM without vhost-vsock (module not loaded, or
// a device that does not open) is not usable for Kata, and says why.
func TestVhostVsockRequired(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	root, opts := copyFixture(t, "intel-qat-baremetal")
	if err := os.Remove(filepath.Join(root, "dev", "vhost-vsock")); err != nil {
		t.Fatal(err)
	}
	res := Discover(ctx, opts)
	if res.KVM.IsUsable() || !res.KVM.CreateVM || res.KVM.Mode != ModeNone || len(res.KVM.NotUsable) != 1 || res.KVM.NotUsable[0] != NoVhostVsockDevice {
		t.Errorf("no /dev/vhost-vsock: kvm %+v, want not usable because of it", res.KVM)
	}
	opts = fixtureOptions("intel-qat-baremetal")
	opts.OpenDevice = func(p string) error { return errors.New("opening " + p + ": no such device") }
	res = Discover(ctx, opts)
	if res.KVM.Usable == nil || *res.KVM.Usable || !strings.Contains(strings.Join(res.KVM.NotUsable, ";"), "no such device") {
		t.Errorf("vhost-vsock without its driver: kvm %+v", res.KVM)
	}
	if res.Errors[SourceKVM] != "" {
		t.Errorf("a missing driver is a fact, not an error: %v", res.Errors)
	}
}

// TestProbeRefusesNonDevices: the real probes do not open (and so cannot
// block on) a FIFO or read a regular file planted as a device.
func TestProbeRefusesNonDevices(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "kvm")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "vhost-vsock")
	if err := os.WriteFile(file, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := ProbeKVMDevice(fifo); err == nil || !strings.Contains(err.Error(), "not a character device") {
			t.Errorf("probe of a FIFO: %v", err)
		}
		if err := OpenDevice(file); err == nil || !strings.Contains(err.Error(), "not a character device") {
			t.Errorf("open of a regular file: %v", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("probing a FIFO blocked")
	}
}
