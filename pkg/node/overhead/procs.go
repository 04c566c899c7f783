package overhead

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtscn/mtscn/pkg/node/hostpath"
)

// DefaultProcRoot is where the host mounts procfs.
const DefaultProcRoot = "/proc"

const (
	// maxProcs bounds one scan of /proc (a node runs a few thousand
	// processes; Linux' default pid_max is 4 Mi).
	maxProcs = 65536
	// maxCmdline is how much of a command line is read: shims and VMMs
	// name the sandbox id in their first arguments.
	maxCmdline = 4096
	// maxProcFile bounds /proc/<pid>/status and stat (~1.5 KiB).
	maxProcFile = 64 << 10
	// maxPodProcs bounds the pids read from one pod cgroup tree.
	maxPodProcs = 4096
	// minIDLen is the shortest sandbox or container id matched in a
	// command line (containerd ids are 64 hex digits; short ones would
	// match unrelated arguments).
	minIDLen = 12
	// minMatchedAge is how long a process found by an id in its command
	// line must have run to count: the shims and VMMs serve the pod for
	// its lifetime, while the runtime's own CLI (runsc events, runc
	// state), which the shim starts for a moment and which names the ids
	// too, is not what the sandbox costs.
	minMatchedAge = 10 * time.Second
	// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's starttime: 100
	// on every Linux architecture Kubernetes runs on.
	clockTicks = 100
)

// Process is one process that serves a pod from outside its cgroup (a
// containerd shim, a VMM, virtiofsd), with the memory it costs the host.
type Process struct {
	PID  int
	Name string
	// Bytes is its anonymous resident memory (RssAnon of
	// /proc/<pid>/status; VmRSS on kernels before 4.5): its heap and
	// stacks, which each process pays alone. File pages (the binary's
	// text, shared by every shim of the node: Pss_File is 1-3 MiB per
	// gVisor shim against 20 MiB of RssFile) and shared memory (a VM's
	// guest RAM in /dev/shm or a memfd, which the footprint model counts
	// as the guest) are left out. status is readable without privileges,
	// unlike smaps_rollup, so the agent gets the same figure as root and
	// as the DaemonSet's unprivileged user.
	Bytes int64
}

// Procs reads the host's processes.
type Procs struct {
	// Root is where the host's / is mounted.
	Root hostpath.Root
	// Dir is the host path of procfs, DefaultProcRoot when empty.
	Dir string
}

func (p Procs) dir() string {
	if p.Dir == "" {
		return DefaultProcRoot
	}
	return p.Dir
}

// Table is one scan of the host's processes: their truncated command
// lines, by pid.
type Table map[int]string

// Scan lists the host's processes (at most maxProcs) with the first
// maxCmdline bytes of each command line. Processes that exit meanwhile are
// skipped.
func (p Procs) Scan() (Table, error) {
	d, err := os.Open(p.Root.Path(p.dir()))
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(maxProcs * 2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("listing processes in %s: %w", p.Root.Path(p.dir()), err)
	}
	t := Table{}
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid <= 0 {
			continue
		}
		if len(t) == maxProcs {
			break
		}
		cmd, err := readHead(p.Root.Path(path.Join(p.dir(), n, "cmdline")), maxCmdline)
		if err != nil {
			continue
		}
		t[pid] = string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))
	}
	return t, nil
}

// readHead reads at most n bytes of a regular file (procfs files report
// size 0, so hostpath.ReadFile's size check cannot apply to a truncated read).
func readHead(name string, n int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: hostpath.ErrNotRegular}
	}
	return io.ReadAll(io.LimitReader(f, n))
}

// Outside finds the processes that serve the pod whose cgroup is podDir
// (a host path) from outside it: processes not in the pod cgroup tree that
// are the parent of a process in it (the shim that started the sandbox) or
// whose command line names one of ids (the sandbox and container ids: the
// shim's -id, QEMU's -name sandbox-<id>, virtiofsd's socket path) and that
// have run for minMatchedAge. It returns them with their memory, sorted by
// pid.
func (p Procs) Outside(t Table, podDir string, ids []string) ([]Process, error) {
	inPod, err := p.podPIDs(podDir)
	if err != nil {
		return nil, err
	}
	found := map[int]bool{}
	for pid := range inPod {
		st, err := p.status(pid)
		if err != nil {
			continue
		}
		ppid, err := strconv.Atoi(st.text["PPid"])
		if err == nil && ppid > 1 && !inPod[ppid] {
			found[ppid] = true
		}
	}
	var match []string
	for _, id := range ids {
		if len(id) >= minIDLen {
			match = append(match, id)
		}
	}
	uptime := -1.0
	for pid, cmd := range t {
		if inPod[pid] || found[pid] || pid <= 1 {
			continue
		}
		for _, id := range match {
			if !strings.Contains(cmd, id) {
				continue
			}
			if uptime < 0 {
				if uptime, err = p.uptime(); err != nil {
					return nil, err
				}
			}
			if p.age(pid, uptime) >= minMatchedAge {
				found[pid] = true
			}
			break
		}
	}
	var out []Process
	for pid := range found {
		proc, err := p.process(pid)
		if err != nil {
			continue // exited meanwhile
		}
		out = append(out, proc)
	}
	slices.SortFunc(out, func(a, b Process) int { return a.PID - b.PID })
	return out, nil
}

// podPIDs reads cgroup.procs of the pod cgroup and of its children and
// grandchildren (containers, and a runtime's own sub-cgroups).
func (p Procs) podPIDs(podDir string) (map[int]bool, error) {
	out := map[int]bool{}
	var walk func(dir string, depth int) error
	walk = func(dir string, depth int) error {
		b, err := hostpath.ReadFile(p.Root.Path(path.Join(dir, "cgroup.procs")), maxCgroupFile)
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 && len(out) < maxPodProcs {
				out[pid] = true
			}
		}
		if depth == 2 {
			return nil
		}
		entries, err := os.ReadDir(p.Root.Path(dir))
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.IsDir() {
				if err := walk(path.Join(dir, e.Name()), depth+1); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(podDir, 0); err != nil {
		return nil, fmt.Errorf("reading the processes of pod cgroup %s: %w", podDir, err)
	}
	return out, nil
}

// process reads one process's name and memory.
func (p Procs) process(pid int) (Process, error) {
	st, err := p.status(pid)
	if err != nil {
		return Process{}, err
	}
	proc := Process{PID: pid, Name: st.text["Name"]}
	kb, ok := st.kb["RssAnon"]
	if !ok {
		kb = st.kb["VmRSS"]
	}
	proc.Bytes = kb << 10
	return proc, nil
}

// uptime reads the host's seconds since boot from /proc/uptime.
func (p Procs) uptime() (float64, error) {
	b, err := hostpath.ReadFile(p.Root.Path(path.Join(p.dir(), "uptime")), maxProcFile)
	if err != nil {
		return 0, fmt.Errorf("reading the host's uptime: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("%s/uptime is empty", p.dir())
	}
	up, err := strconv.ParseFloat(f[0], 64)
	if err != nil || up < 0 {
		return 0, fmt.Errorf("%s/uptime %q: want seconds since boot", p.dir(), truncate(f[0]))
	}
	return up, nil
}

// age is how long the process has run, 0 when it cannot be read.
func (p Procs) age(pid int, uptime float64) time.Duration {
	b, err := hostpath.ReadFile(p.Root.Path(path.Join(p.dir(), strconv.Itoa(pid), "stat")), maxProcFile)
	if err != nil {
		return 0
	}
	start, err := ParseProcStartTime(b)
	if err != nil {
		return 0
	}
	return time.Duration((uptime - float64(start)/clockTicks) * float64(time.Second))
}

// ParseProcStartTime returns the starttime field (22nd, clock ticks after
// boot) of /proc/<pid>/stat, whose second field, the command name in
// parentheses, may itself hold spaces and parentheses.
func ParseProcStartTime(b []byte) (uint64, error) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no \"(comm)\"", truncate(s))
	}
	// After "pid (comm)" come fields 3 (state) to 52; starttime is the 20th.
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("stat %q: %d fields after the command name, want at least 20", truncate(s), len(f))
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil || v > 1<<53 {
		return 0, fmt.Errorf("stat starttime %q: want clock ticks", truncate(f[19]))
	}
	return v, nil
}

func (p Procs) status(pid int) (ProcFields, error) {
	b, err := hostpath.ReadFile(p.Root.Path(path.Join(p.dir(), strconv.Itoa(pid), "status")), maxProcFile)
	if err != nil {
		return ProcFields{}, err
	}
	return ParseProcKB(b), nil
}

// ProcFields are the "Key: value" lines of /proc/<pid>/status (or
// smaps_rollup, same shape).
type ProcFields struct {
	// kb holds the lines whose value is a non-negative decimal, with or
	// without a " kB" unit (VmRSS, Pss_Anon, PPid).
	kb map[string]int64
	// text holds every line's value as written, trimmed (Name, PPid).
	text map[string]string
}

// KB returns a numeric field ("VmRSS" in kB, "PPid") and whether it was there.
func (f ProcFields) KB(key string) (int64, bool) {
	v, ok := f.kb[key]
	return v, ok
}

// ParseProcKB parses /proc/<pid>/status or smaps_rollup: lines
// "<key>:<spaces><value>", where numeric values may carry a " kB" unit.
// Lines of another shape (smaps_rollup's address header, status' tab
// separated Uid list) are kept as text or skipped; nothing is an error,
// since the kernel adds fields over time.
func ParseProcKB(b []byte) ProcFields {
	f := ProcFields{kb: map[string]int64{}, text: map[string]string{}}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		v = strings.TrimSpace(v)
		f.text[k] = v
		num := strings.TrimSpace(strings.TrimSuffix(v, "kB"))
		if n, err := strconv.ParseInt(num, 10, 64); err == nil && n >= 0 && n < 1<<53 {
			f.kb[k] = n
		}
	}
	return f
}

// sandboxIDs returns the names of the pod cgroup's child cgroups that are
// not one of the containers: the sandbox (pause) container's id, as the
// cgroupfs driver ("<id>") or a systemd scope ("cri-containerd-<id>.scope")
// names it, or a runtime's own sub-cgroup ("kata_<id>").
func sandboxIDs(root hostpath.Root, podDir string, containerIDs []string) []string {
	entries, err := os.ReadDir(root.Path(podDir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		id := strings.TrimSuffix(e.Name(), ".scope")
		if i := strings.LastIndexAny(id, "-_"); i >= 0 {
			id = id[i+1:] // cri-containerd-<id>.scope, kata_<id>
		}
		if len(id) >= minIDLen && !slices.Contains(containerIDs, id) {
			out = append(out, id)
		}
	}
	return out
}
