package discover

import "os"

// UseFixtureDevices makes o discover a fixture tree (testdata/ of this
// package, or any tree captured from a host): fixture device nodes are
// regular files, so the KVM probe answers like a working /dev/kvm and
// /dev/vhost-vsock opens when the file exists, and /dev/shm is never a
// tmpfs (its size comes from proc/1/mounts). The real system calls are
// tested on the machine's own devices.
func UseFixtureDevices(o *Options) {
	o.ProbeKVM = func(path string) (KVMProbe, error) {
		if _, err := os.Stat(path); err != nil {
			return KVMProbe{}, err
		}
		return KVMProbe{APIVersion: KVMAPIVersion, CreateVM: true}, nil
	}
	o.OpenDevice = func(path string) error {
		_, err := os.Stat(path)
		return err
	}
	o.Statfs = func(string) (int64, bool, error) { return 0, false, nil }
}
