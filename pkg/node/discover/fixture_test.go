package discover

import (
	"os"
	"path/filepath"
)

// fixtureOptions discovers the fixture tree testdata/<name>. Fixture trees
// hold regular files, so the two system calls that need a real host are
// replaced: the KVM probe answers like a working /dev/kvm when the file
// exists (the real ioctls are tested on the machine's own /dev/kvm), and
// /dev/shm is never a tmpfs (the size comes from proc/1/mounts).
func fixtureOptions(name string) Options {
	return Options{
		HostRoot: filepath.Join("testdata", name),
		ProbeKVM: func(path string) (KVMProbe, error) {
			if _, err := os.Stat(path); err != nil {
				return KVMProbe{}, err
			}
			return KVMProbe{APIVersion: KVMAPIVersion, CreateVM: true}, nil
		},
		Statfs: func(string) (int64, bool, error) { return 0, false, nil },
	}
}
