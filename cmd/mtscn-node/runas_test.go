package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mtscn/mtscn/pkg/node/discover"
)

// unprivileged is the uid and gid of the image (distroless nonroot) and of
// the DaemonSet's --run-as.
const unprivileged = 65532

// binaryFor copies this test binary (which runs mtscn-node's main when
// MTSCN_NODE_RUN_MAIN=1, see TestMain) where uid 65532 may execute it.
func binaryFor(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to start mtscn-node as another user")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "mtscn-node-runas")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "mtscn-node")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// runDiscover runs `mtscn-node discover args...` (as cred when not nil)
// and decodes its JSON output.
func runDiscover(t *testing.T, bin string, cred *syscall.Credential, args ...string) *discover.Result {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"discover", "--sources", "kvm", "--cri-socket", "none"}, args...)...)
	cmd.Env = append(os.Environ(), "MTSCN_NODE_RUN_MAIN=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mtscn-node discover %v: %v\n%s", args, err, stderr.String())
	}
	var res discover.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	return &res
}

// TestDiscoverAsNonRootReportsKVMError is the done-when of issue 14 item
// 10: `mtscn-node discover` run as uid 65532 on this machine, whose real
// /dev/kvm only root may open, reports an error for KVM instead of
// "usable: false".
func TestDiscoverAsNonRootReportsKVMError(t *testing.T) {
	var st unix.Stat_t
	if err := unix.Stat("/dev/kvm", &st); err != nil {
		t.Skipf("this machine has no /dev/kvm (%v)", err)
	}
	if st.Mode&0o006 != 0 || st.Gid == unprivileged {
		t.Skipf("/dev/kvm (mode %#o, gid %d) is open to uid %d here: nothing to deny", st.Mode&0o777, st.Gid, unprivileged)
	}
	bin := binaryFor(t)
	res := runDiscover(t, bin, &syscall.Credential{Uid: unprivileged, Gid: unprivileged, Groups: []uint32{}})
	got := res.Errors[discover.SourceKVM]
	for _, want := range []string{"opening /dev/kvm", "permission denied", "the agent runs as uid 65532", "--run-as"} {
		if !strings.Contains(got, want) {
			t.Errorf("errors[kvm] = %q, want it to contain %q", got, want)
		}
	}
	if res.KVM == nil || res.KVM.Usable != nil || res.KVM.Mode != discover.ModeUnknown || !res.KVM.Device {
		t.Errorf("kvm = %+v: want the device found and usability unknown, never usable: false", res.KVM)
	}
	// The same binary as root, on the same host, opens it.
	if res := runDiscover(t, bin, nil); res.KVM == nil || !res.KVM.CreateVM || res.Errors[discover.SourceKVM] != "" {
		t.Errorf("as root: kvm %+v, errors %v", res.KVM, res.Errors)
	}
}

// TestRunAsKeepsDeviceGroups starts the binary as root with --run-as, as
// the DaemonSet does, on a host root whose /dev/kvm is this machine's KVM
// device node owned by a kvm-like group (mode 0660): the agent drops to
// uid 65532, keeps that group, and KVM_CREATE_VM works through it; a
// root-only file is no longer readable, so root really is gone.
func TestRunAsKeepsDeviceGroups(t *testing.T) {
	var st unix.Stat_t
	if err := unix.Stat("/dev/kvm", &st); err != nil {
		t.Skipf("this machine has no /dev/kvm (%v)", err)
	}
	bin := binaryFor(t)
	root, err := os.MkdirTemp("", "mtscn-node-host")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	const kvmGroup, vsockGroup = 4242, 4243
	mkdir := func(p string) {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	mkdir("dev")
	mkdir("proc")
	mknod := func(name string, dev uint64, gid int) {
		p := filepath.Join(root, "dev", name)
		if err := unix.Mknod(p, unix.S_IFCHR|0o660, int(dev)); err != nil {
			t.Skipf("cannot create device nodes here (%v)", err)
		}
		if err := os.Chown(p, 0, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o660); err != nil {
			t.Fatal(err)
		}
	}
	mknod("kvm", st.Rdev, kvmGroup)
	// vhost-vsock's misc minor (241); its driver is not loaded here, so
	// opening it fails with "no such device", not "permission denied".
	mknod("vhost-vsock", unix.Mkdev(10, 241), vsockGroup)
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc", "cpuinfo"), cpuinfo, 0o600); err != nil {
		t.Fatal(err)
	}

	res := runDiscover(t, bin, nil, "--host-root", root, "--run-as", "65532:65532")
	if res.KVM == nil || !res.KVM.CreateVM || res.KVM.APIVersion != discover.KVMAPIVersion {
		t.Errorf("kvm = %+v, errors %v: want KVM_CREATE_VM through group %d", res.KVM, res.Errors, kvmGroup)
	}
	got := res.Errors[discover.SourceKVM]
	if strings.Contains(got, "/dev/kvm") || strings.Contains(got, "vhost-vsock") {
		t.Errorf("errors[kvm] = %q: the device groups were not kept", got)
	}
	if !strings.Contains(got, "cpuinfo") || !strings.Contains(got, "permission denied") {
		t.Errorf("errors[kvm] = %q: a root-only /proc/cpuinfo must be unreadable after --run-as", got)
	}
	if res.KVM != nil && res.KVM.VhostVsock {
		t.Errorf("vhost-vsock opened without its driver: %+v", res.KVM)
	}

	// Not root, and not already the target user: refused.
	cmd := exec.Command(bin, "discover", "--run-as", "65532:65532")
	cmd.Env = append(os.Environ(), "MTSCN_NODE_RUN_MAIN=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65533, Gid: 65533, Groups: []uint32{}}}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "cannot switch") {
		t.Errorf("--run-as from uid 65533: want a refusal, got %v\n%s", err, out)
	}
}
