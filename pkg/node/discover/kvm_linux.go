package discover

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// KVM ioctl numbers: _IO(KVMIO, 0x00) and _IO(KVMIO, 0x01) with KVMIO = 0xAE
// (include/uapi/linux/kvm.h).
const (
	kvmGetAPIVersion = 0xAE00
	kvmCreateVM      = 0xAE01
)

// openCharDevice opens path read-write if it is a character device; a
// regular file, a FIFO or anything else planted there is refused without
// opening it (a FIFO would block).
func openCharDevice(path string) (int, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return -1, fmt.Errorf("opening %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return -1, fmt.Errorf("opening %s: not a character device (mode %#o)", path, st.Mode)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, fmt.Errorf("opening %s: %w", path, err)
	}
	return fd, nil
}

// ProbeKVMDevice opens the KVM device at path, asks KVM_GET_API_VERSION and
// creates a VM with KVM_CREATE_VM, closing everything again. It fails when
// any step fails or the API version is not 12. An error wrapping
// fs.ErrPermission means the caller may not open the device.
func ProbeKVMDevice(path string) (KVMProbe, error) {
	var p KVMProbe
	fd, err := openCharDevice(path)
	if err != nil {
		return p, err
	}
	defer unix.Close(fd)
	v, err := unix.IoctlRetInt(fd, kvmGetAPIVersion)
	if err != nil {
		return p, fmt.Errorf("KVM_GET_API_VERSION on %s: %w", path, err)
	}
	p.APIVersion = v
	if v != KVMAPIVersion {
		return p, fmt.Errorf("KVM_GET_API_VERSION on %s returned %d, want %d", path, v, KVMAPIVersion)
	}
	vm, err := unix.IoctlRetInt(fd, kvmCreateVM)
	if err != nil {
		return p, fmt.Errorf("KVM_CREATE_VM on %s: %w", path, err)
	}
	p.CreateVM = true
	unix.Close(vm)
	return p, nil
}

// OpenDevice opens the character device at path read-write and closes it
// again: /dev/vhost-vsock opens only when the vhost_vsock driver is loaded
// and the caller may use it.
func OpenDevice(path string) error {
	fd, err := openCharDevice(path)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// accessHint explains why this process may not open the device at path and
// how to fix it, from the device's owner and mode and the process's
// credentials.
func accessHint(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return err.Error()
	}
	groups, _ := os.Getgroups()
	who := fmt.Sprintf("the agent runs as uid %d gid %d groups %v", os.Getuid(), os.Getgid(), groups)
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return who
	}
	dev := filepath.Base(path)
	fix := fmt.Sprintf("start the agent with --run-as (it joins the device's group, as the DaemonSet does) and give %s a group other than root "+
		"(udev rule KERNEL==%q, GROUP=\"kvm\", MODE=\"0660\")", path, dev)
	if st.Gid != 0 && fi.Mode().Perm()&0o060 == 0o060 {
		fix = fmt.Sprintf("start the agent with --run-as, or add group %d to its supplementary groups", st.Gid)
	}
	return fmt.Sprintf("%s is owned by uid %d gid %d with mode %#o and %s; %s; in a container the device cgroup must allow it too (privileged, see manifests/node-agent/daemonset.yaml)",
		path, st.Uid, st.Gid, fi.Mode().Perm(), who, fix)
}

// StatfsTmpfs returns the size in bytes of the filesystem mounted at path
// and whether it is a tmpfs.
func StatfsTmpfs(path string) (int64, bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, false, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Blocks) * int64(st.Bsize), st.Type == unix.TMPFS_MAGIC, nil
}
