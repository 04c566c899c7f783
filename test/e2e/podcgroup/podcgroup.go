// Package podcgroup measures the host memory a running pod costs on a
// cgroup v1 node with the kubelet's cgroupfs driver: what its pod cgroup
// is charged, how much of that its containers' own cgroups account for,
// and the resident memory of the processes that serve the pod from
// outside its cgroup (containerd shims). `make e2e` uses it to compare
// runc and gVisor pods (test/e2e/README.md); the learned-overhead work
// (issue 18) is meant to reuse it on real nodes.
package podcgroup

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Node locates a kubelet's pod cgroups.
type Node struct {
	// CgroupFS is where the cgroup v1 hierarchies are mounted
	// (/sys/fs/cgroup); ProcFS is /proc. Tests point both at fixtures.
	CgroupFS, ProcFS string
	// CgroupRoot is the kubelet's cgroupRoot ("/" by default).
	CgroupRoot string
}

// Process is a process that serves the pod from outside its cgroup.
type Process struct {
	PID  int
	Name string
	// RSS is VmRSS in bytes.
	RSS int64
	// PSS is Pss_Anon of smaps_rollup in bytes: its share of the
	// anonymous pages it maps (0 when the kernel has no smaps_rollup).
	PSS int64
}

// Memory is one pod's host memory.
type Memory struct {
	// CgroupDir is the pod cgroup in the memory hierarchy.
	CgroupDir string
	// Usage is memory.usage_in_bytes of the pod cgroup (RSS, page cache
	// and kernel memory charged to the pod), RSS its total_rss.
	Usage, RSS int64
	// ContainerUsage sums memory.usage_in_bytes of the pod cgroup's child
	// cgroups (one per container, the sandbox's included).
	ContainerUsage int64
	// WorkingSet is Usage minus total_inactive_file (the kubelet's working
	// set); AppWorkingSet sums the working sets of the child cgroups named
	// in AppContainers (the pod's app containers, not the sandbox).
	WorkingSet, AppWorkingSet int64
	// Outside are the parents of the pod's processes that are not in the
	// pod cgroup themselves (the containerd shims) and their descendants
	// outside it, in the order found.
	Outside []Process
}

// Beyond is what the pod cgroup is charged beyond its containers' cgroups.
func (m Memory) Beyond() int64 { return m.Usage - m.ContainerUsage }

// Overhead is what the sandbox costs the host beyond its app containers:
// the pod cgroup's working set minus its app containers' plus the
// anonymous PSS of the processes outside it (the figure the node agent
// publishes, measured independently: the agent reads status' RssAnon).
func (m Memory) Overhead() int64 {
	var pss int64
	for _, p := range m.Outside {
		pss += p.PSS
	}
	return m.WorkingSet - m.AppWorkingSet + pss
}

// OutsideRSS sums the RSS of the processes outside the pod cgroup.
func (m Memory) OutsideRSS() int64 {
	var s int64
	for _, p := range m.Outside {
		s += p.RSS
	}
	return s
}

// PodCgroup returns the pod's cgroup path relative to a hierarchy, as the
// kubelet's cgroupfs driver names it: <root>/kubepods[/burstable|/besteffort]/pod<uid>.
func (n Node) PodCgroup(pod *v1.Pod) (string, error) {
	qos := ""
	switch pod.Status.QOSClass {
	case v1.PodQOSGuaranteed:
	case v1.PodQOSBurstable:
		qos = "burstable"
	case v1.PodQOSBestEffort:
		qos = "besteffort"
	default:
		return "", fmt.Errorf("pod %s/%s has no QoS class in its status yet", pod.Namespace, pod.Name)
	}
	return filepath.Join("/", n.CgroupRoot, "kubepods", qos, "pod"+string(pod.UID)), nil
}

// Measure reads the pod's memory now.
func (n Node) Measure(pod *v1.Pod) (Memory, error) {
	rel, err := n.PodCgroup(pod)
	if err != nil {
		return Memory{}, err
	}
	m := Memory{CgroupDir: filepath.Join(n.CgroupFS, "memory", rel)}
	if m.Usage, err = readInt(filepath.Join(m.CgroupDir, "memory.usage_in_bytes")); err != nil {
		return m, err
	}
	stat, err := readStat(filepath.Join(m.CgroupDir, "memory.stat"))
	if err != nil {
		return m, err
	}
	m.RSS = stat["total_rss"]
	m.WorkingSet = max(m.Usage-stat["total_inactive_file"], 0)
	apps := map[string]bool{}
	for _, cs := range pod.Status.ContainerStatuses {
		if _, id, ok := strings.Cut(cs.ContainerID, "://"); ok {
			apps[id] = true
		}
	}
	entries, err := os.ReadDir(m.CgroupDir)
	if err != nil {
		return m, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		u, err := readInt(filepath.Join(m.CgroupDir, e.Name(), "memory.usage_in_bytes"))
		if err != nil {
			return m, err
		}
		m.ContainerUsage += u
		if apps[e.Name()] {
			st, err := readStat(filepath.Join(m.CgroupDir, e.Name(), "memory.stat"))
			if err != nil {
				return m, err
			}
			m.AppWorkingSet += max(u-st["total_inactive_file"], 0)
		}
	}
	pids, err := cgroupPIDs(m.CgroupDir)
	if err != nil {
		return m, err
	}
	inPod := map[int]bool{}
	for _, p := range pids {
		inPod[p] = true
	}
	// The shims: parents of the pod's processes outside its cgroup; then
	// their descendants outside it (a runtime's long-running helpers such
	// as gVisor's `runsc wait`, a VMM the shim started).
	seen := map[int]bool{}
	var queue []int
	for _, p := range pids {
		ppid, err := n.parent(p)
		if err != nil || ppid <= 1 || inPod[ppid] || seen[ppid] {
			continue
		}
		seen[ppid] = true
		queue = append(queue, ppid)
	}
	children, err := n.children()
	if err != nil {
		return m, err
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if proc, err := n.process(pid); err == nil {
			m.Outside = append(m.Outside, proc)
		}
		for _, c := range children[pid] {
			if !inPod[c] && !seen[c] {
				seen[c] = true
				queue = append(queue, c)
			}
		}
	}
	sort.Slice(m.Outside, func(i, j int) bool { return m.Outside[i].PID < m.Outside[j].PID })
	return m, nil
}

func cgroupPIDs(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(data)) {
			p, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			pids = append(pids, p)
		}
		return nil
	})
	return pids, err
}

// children maps every process of ProcFS to its children.
func (n Node) children() (map[int][]int, error) {
	entries, err := os.ReadDir(n.ProcFS)
	if err != nil {
		return nil, err
	}
	out := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, err := n.parent(pid); err == nil {
			out[ppid] = append(out[ppid], pid)
		}
	}
	return out, nil
}

func (n Node) parent(pid int) (int, error) {
	st, err := n.status(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(st["PPid"])
}

func (n Node) process(pid int) (Process, error) {
	st, err := n.status(pid)
	if err != nil {
		return Process{}, err
	}
	p := Process{PID: pid, Name: st["Name"]}
	if rss, ok := st["VmRSS"]; ok {
		kb, err := strconv.ParseInt(strings.TrimSuffix(rss, " kB"), 10, 64)
		if err != nil {
			return p, fmt.Errorf("/proc/%d/status VmRSS %q: %w", pid, rss, err)
		}
		p.RSS = kb * 1024
	}
	if data, err := os.ReadFile(filepath.Join(n.ProcFS, strconv.Itoa(pid), "smaps_rollup")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || k != "Pss_Anon" {
				continue
			}
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return p, fmt.Errorf("/proc/%d/smaps_rollup %q: %w", pid, line, err)
			}
			p.PSS += kb * 1024
		}
	}
	return p, nil
}

func (n Node) status(pid int) (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(n.ProcFS, strconv.Itoa(pid), "status"))
	if err != nil {
		return nil, err
	}
	st := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			st[k] = strings.TrimSpace(v)
		}
	}
	return st, nil
}

func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

func readStat(path string) (map[string]int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, line, err)
		}
		st[k] = n
	}
	return st, nil
}
