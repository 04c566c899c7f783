//go:build !linux

package discover

import "errors"

// ProbeKVMDevice is only implemented on Linux.
func ProbeKVMDevice(path string) (KVMProbe, error) {
	return KVMProbe{}, errors.New("KVM probing is only supported on Linux")
}

// OpenDevice is only implemented on Linux.
func OpenDevice(path string) error {
	return errors.New("device probing is only supported on Linux")
}

func accessHint(path string) string { return path }

// StatfsTmpfs is only implemented on Linux.
func StatfsTmpfs(path string) (int64, bool, error) {
	return 0, false, errors.New("statfs is only supported on Linux")
}
