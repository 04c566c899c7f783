package agent

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// DeviceGroupPaths are the host devices discovery opens read-write; RunAs
// keeps their groups.
var DeviceGroupPaths = []string{"/dev/kvm", "/dev/vhost-vsock"}

// RunAs switches this process from root to uid and gid before the agent
// reads anything from the host, keeping as its only supplementary groups
// the groups that may read and write the devices discovery opens
// (DeviceGroupPaths under hostRoot; never group 0), and it checks that no
// capability is left. The DaemonSet starts the agent as root only for this
// (manifests/node-agent/daemonset.yaml): the devices' group id differs
// between distributions (kvm is 36, 78, 108, 993, ...), so no fixed
// supplementalGroups in the manifest would work everywhere.
//
// It returns the supplementary groups it kept. When the process already
// runs as uid (and not as root) there is nothing to do; any other non-root
// start is an error.
func RunAs(hostRoot string, uid, gid int) ([]int, error) {
	if uid == 0 || gid == 0 {
		return nil, fmt.Errorf("--run-as=%d:%d: switching to root is not dropping privileges; use a non-root uid and gid such as 65532:65532", uid, gid)
	}
	if cur := os.Getuid(); cur != 0 {
		if cur == uid && os.Getgid() == gid {
			return nil, nil
		}
		return nil, fmt.Errorf("--run-as=%d:%d: the agent runs as uid %d gid %d and cannot switch (start it as root, or drop --run-as)", uid, gid, cur, os.Getgid())
	}
	groups := []int{}
	for _, dev := range DeviceGroupPaths {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(hostRoot, dev), &st); err != nil {
			continue
		}
		g := int(st.Gid)
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || g == 0 || g == gid || st.Mode&0o060 != 0o060 || slices.Contains(groups, g) {
			continue
		}
		groups = append(groups, g)
	}
	// syscall (not x/sys/unix) applies these to every thread of the process.
	if err := syscall.Setgroups(groups); err != nil {
		return nil, fmt.Errorf("setgroups %v: %w", groups, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return nil, fmt.Errorf("setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return nil, fmt.Errorf("setuid %d: %w", uid, err)
	}
	if err := checkNoCapabilities(); err != nil {
		return nil, err
	}
	return groups, nil
}

// checkNoCapabilities reads every thread's permitted and effective
// capability sets: after setuid from root to a non-root uid the kernel
// clears them; anything left is an error.
func checkNoCapabilities() error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("checking capabilities: %w", err)
	}
	for _, t := range tasks {
		f, err := os.Open(filepath.Join("/proc/self/task", t.Name(), "status"))
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited
		}
		if err != nil {
			return fmt.Errorf("checking capabilities: %w", err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			if (k == "CapPrm" || k == "CapEff" || k == "CapAmb") && strings.Trim(strings.TrimSpace(v), "0") != "" {
				f.Close()
				return fmt.Errorf("thread %s still has capabilities after switching user (%s %s)", t.Name(), k, strings.TrimSpace(v))
			}
		}
		f.Close()
	}
	return nil
}
