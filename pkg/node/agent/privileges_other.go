//go:build !linux

package agent

import "errors"

// DeviceGroupPaths are the host devices discovery opens read-write.
var DeviceGroupPaths = []string{"/dev/kvm", "/dev/vhost-vsock"}

// RunAs is only implemented on Linux.
func RunAs(hostRoot string, uid, gid int) ([]int, error) {
	return nil, errors.New("--run-as is only supported on Linux")
}
