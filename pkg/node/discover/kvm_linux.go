package discover

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// KVM ioctl numbers: _IO(KVMIO, 0x00) and _IO(KVMIO, 0x01) with KVMIO = 0xAE
// (include/uapi/linux/kvm.h).
const (
	kvmGetAPIVersion = 0xAE00
	kvmCreateVM      = 0xAE01
)

// ProbeKVMDevice opens the KVM device at path, asks KVM_GET_API_VERSION and
// creates a VM with KVM_CREATE_VM, closing everything again. It fails when
// any step fails or the API version is not 12.
func ProbeKVMDevice(path string) (KVMProbe, error) {
	var p KVMProbe
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return p, fmt.Errorf("opening %s: %w", path, err)
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

// StatfsTmpfs returns the size in bytes of the filesystem mounted at path
// and whether it is a tmpfs.
func StatfsTmpfs(path string) (int64, bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, false, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Blocks) * int64(st.Bsize), st.Type == unix.TMPFS_MAGIC, nil
}
