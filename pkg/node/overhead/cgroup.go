package overhead

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/mtscn/mtscn/pkg/node/hostpath"
)

// DefaultCgroupRoot is where the host mounts its cgroup file systems.
const DefaultCgroupRoot = "/sys/fs/cgroup"

// maxCgroupFile bounds every cgroup file read (memory.stat is ~2 KiB).
const maxCgroupFile = 64 << 10

// Version is the cgroup hierarchy the host uses.
type Version int

const (
	// V1 is the legacy hierarchy, memory controller under <root>/memory.
	V1 Version = 1
	// V2 is the unified hierarchy mounted at <root>.
	V2 Version = 2
)

// Cgroups reads pod and container memory from the host's cgroup tree.
type Cgroups struct {
	// Root is where the host's / is mounted.
	Root hostpath.Root
	// Dir is the host path of the cgroup mount, DefaultCgroupRoot when empty.
	Dir string
}

func (c Cgroups) dir() string {
	if c.Dir == "" {
		return DefaultCgroupRoot
	}
	return c.Dir
}

// Version tells the hierarchy: v2 when <dir>/cgroup.controllers exists,
// v1 when <dir>/memory exists.
func (c Cgroups) Version() (Version, error) {
	if _, err := os.Stat(c.Root.Path(path.Join(c.dir(), "cgroup.controllers"))); err == nil {
		return V2, nil
	}
	if fi, err := os.Stat(c.Root.Path(path.Join(c.dir(), "memory"))); err == nil && fi.IsDir() {
		return V1, nil
	}
	return 0, fmt.Errorf("no cgroup v2 (%s/cgroup.controllers) nor v1 memory controller (%s/memory) under the host root %s",
		c.dir(), c.dir(), c.Root.Path("/"))
}

// memoryDir is the host path under which the kubepods hierarchy lives.
func (c Cgroups) memoryDir(v Version) string {
	if v == V1 {
		return path.Join(c.dir(), "memory")
	}
	return c.dir()
}

// podDirCandidates lists where the kubelet puts pod uid's cgroup, relative
// to the memory hierarchy, for the cgroupfs and the systemd driver and each
// QoS class (Guaranteed pods sit directly under kubepods).
func podDirCandidates(uid string) []string {
	u := strings.ReplaceAll(uid, "-", "_")
	return []string{
		"kubepods/pod" + uid,
		"kubepods/burstable/pod" + uid,
		"kubepods/besteffort/pod" + uid,
		"kubepods.slice/kubepods-pod" + u + ".slice",
		"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + u + ".slice",
		"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + u + ".slice",
	}
}

// containerDirCandidates lists a container's cgroup names inside its pod's
// cgroup: the plain id (cgroupfs) or a systemd scope of the runtime.
func containerDirCandidates(id string) []string {
	return []string{id, "cri-containerd-" + id + ".scope", "crio-" + id + ".scope", "docker-" + id + ".scope"}
}

// ErrPodCgroupNotFound is returned when no layout has the pod's cgroup.
var ErrPodCgroupNotFound = errors.New("pod cgroup not found")

// PodMemory is what one pod's cgroups are charged, in bytes.
type PodMemory struct {
	// Pod is the working set of the pod cgroup (everything in the pod).
	Pod int64
	// Containers is the sum of the working sets of the containers' cgroups.
	Containers int64
	// MissingContainers counts container ids without a cgroup (charged to
	// the pod, e.g. a runtime that keeps all processes in the sandbox).
	MissingContainers int
	// PodDir is the host path of the pod cgroup.
	PodDir string
}

// Overhead is the pod's memory beyond its containers, never negative.
func (m PodMemory) Overhead() int64 { return max(m.Pod-m.Containers, 0) }

// maxCgroupRoots bounds the top-level cgroups searched for a kubelet's
// cgroupRoot.
const maxCgroupRoots = 256

// findPodDir returns the host path of pod uid's cgroup: under the memory
// hierarchy's root, or under one of its top-level cgroups, which is where a
// kubelet started with --cgroup-root (cgroupRoot) puts its kubepods tree.
func (c Cgroups) findPodDir(base, uid string) string {
	isDir := func(d string) bool {
		fi, err := os.Stat(c.Root.Path(d))
		return err == nil && fi.IsDir()
	}
	cands := podDirCandidates(uid)
	for _, cand := range cands {
		if d := path.Join(base, cand); isDir(d) {
			return d
		}
	}
	entries, err := os.ReadDir(c.Root.Path(base))
	if err != nil {
		return ""
	}
	for i, e := range entries {
		if i == maxCgroupRoots {
			break
		}
		if !e.IsDir() || !(isDir(path.Join(base, e.Name(), "kubepods")) || isDir(path.Join(base, e.Name(), "kubepods.slice"))) {
			continue
		}
		for _, cand := range cands {
			if d := path.Join(base, e.Name(), cand); isDir(d) {
				return d
			}
		}
	}
	return ""
}

// ReadPod reads the memory of pod uid and of its containers (ids without
// the "containerd://" scheme).
func (c Cgroups) ReadPod(v Version, uid string, containerIDs []string) (PodMemory, error) {
	base := c.memoryDir(v)
	m := PodMemory{PodDir: c.findPodDir(base, uid)}
	if m.PodDir == "" {
		return m, fmt.Errorf("pod %s: %w under %s (looked for the cgroupfs and systemd layouts, also below a kubelet cgroupRoot)", uid, ErrPodCgroupNotFound, c.Root.Path(base))
	}
	var err error
	if m.Pod, err = c.workingSet(v, m.PodDir); err != nil {
		return m, fmt.Errorf("pod %s: %w", uid, err)
	}
	for _, id := range containerIDs {
		found := false
		for _, cand := range containerDirCandidates(id) {
			d := path.Join(m.PodDir, cand)
			ws, err := c.workingSet(v, d)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return m, fmt.Errorf("pod %s container %s: %w", uid, id, err)
			}
			m.Containers += ws
			found = true
			break
		}
		if !found {
			m.MissingContainers++
		}
	}
	return m, nil
}

// workingSet reads usage minus inactive file pages of the cgroup at host path dir.
func (c Cgroups) workingSet(v Version, dir string) (int64, error) {
	usageFile, inactiveKey := "memory.usage_in_bytes", "total_inactive_file"
	if v == V2 {
		usageFile, inactiveKey = "memory.current", "inactive_file"
	}
	b, err := hostpath.ReadFile(c.Root.Path(path.Join(dir, usageFile)), maxCgroupFile)
	if err != nil {
		return 0, err
	}
	usage, err := ParseUsage(b)
	if err != nil {
		return 0, fmt.Errorf("%s/%s: %w", dir, usageFile, err)
	}
	b, err = hostpath.ReadFile(c.Root.Path(path.Join(dir, "memory.stat")), maxCgroupFile)
	if err != nil {
		return 0, err
	}
	stat, err := ParseStat(b)
	if err != nil {
		return 0, fmt.Errorf("%s/memory.stat: %w", dir, err)
	}
	inactive, ok := stat[inactiveKey]
	if !ok {
		return 0, fmt.Errorf("%s/memory.stat has no %s", dir, inactiveKey)
	}
	return max(usage-inactive, 0), nil
}

// ParseUsage parses memory.usage_in_bytes or memory.current: one decimal
// integer and a newline.
func ParseUsage(b []byte) (int64, error) {
	s := string(bytes.TrimSpace(b))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want one non-negative decimal byte count, got %q", truncate(s))
	}
	return n, nil
}

// ParseStat parses memory.stat: lines "<key> <value>" with a non-negative
// decimal value. Malformed lines are an error naming the line.
func ParseStat(b []byte) (map[string]int64, error) {
	out := map[string]int64{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, val, ok := strings.Cut(line, " ")
		if !ok || k == "" {
			return nil, fmt.Errorf("line %d %q: want \"<key> <value>\"", i+1, truncate(line))
		}
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("line %d %q: want a non-negative decimal value", i+1, truncate(line))
		}
		out[k] = n
	}
	return out, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
