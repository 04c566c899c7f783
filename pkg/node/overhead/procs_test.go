package overhead

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mtscn/mtscn/pkg/node/hostpath"
)

const (
	sandboxID = "5d1e0c9a8b7f6e5d4c3b2a1908f7e6d5c4b3a2918f7e6d5c4b3a291807f6e5d4"
	appID     = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	otherID   = "0000000000001111111111112222222222223333333333334444444444445555"
)

// fakeProc writes /proc/<pid>/{cmdline,stat,status,smaps_rollup} under
// root (smaps_rollup only when smaps is set: the agent must not need it).
func fakeProc(t *testing.T, root string, pid, ppid int, name string, argv []string, status, smaps string) {
	t.Helper()
	dir := filepath.Join(root, "proc", strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := ""
	for _, a := range argv {
		cmd += a + "\x00"
	}
	// Started 1s after boot, unless the name says "young" (990s, with the
	// host up for 1000s: running for 10s less a tick).
	start := 100
	if strings.HasPrefix(name, "young") {
		start = 99001
	}
	files := map[string]string{
		"stat":    fmt.Sprintf("%d (%s) S %d %d 0 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 9 0 %d 1000 100 18446744073709551615", pid, name, ppid, pid, start),
		"cmdline": cmd,
		"status":  "Name:\t" + name + "\nUmask:\t0022\nState:\tS (sleeping)\nPPid:\t" + strconv.Itoa(ppid) + "\nUid:\t0\t0\t0\t0\n" + status,
	}
	if smaps != "" {
		files["smaps_rollup"] = "55d0c0a3e000-7ffd2b1f6000 ---p 00000000 00:00 0                          [rollup]\n" + smaps
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeProcs(t *testing.T, dir string, pids ...int) {
	t.Helper()
	s := ""
	for _, p := range pids {
		s += strconv.Itoa(p) + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSampleOutsideProcesses builds a cgroup v1 node with a gVisor pod (the
// Sentry and gofer in the pod cgroup, two containerd-shim-runsc-v1 outside
// it: one for the sandbox, one for the app container) and checks that the
// sample is the pod cgroup's overhead plus the shims' memory, and that an
// unrelated shim and the pod's own processes are not counted.
func TestSampleOutsideProcesses(t *testing.T) {
	root := t.TempDir()
	mem := filepath.Join(root, "sys/fs/cgroup/memory")
	pod := filepath.Join(mem, "kubepods/besteffort/pod"+uid)
	writeCgroup(t, pod, V1, 30*mib, 6*mib) // 24Mi working set
	writeCgroup(t, filepath.Join(pod, sandboxID), V1, 0, 0)
	writeCgroup(t, filepath.Join(pod, appID), V1, 0, 0)
	writeProcs(t, pod)
	writeProcs(t, filepath.Join(pod, sandboxID), 300, 301) // runsc-sandbox (Sentry), runsc-gofer
	writeProcs(t, filepath.Join(pod, appID))

	shim := func(id string) []string {
		return []string{"/usr/local/bin/containerd-shim-runsc-v1", "-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock", "-id", id}
	}
	// Sandbox shim: parent of the Sentry, with smaps_rollup (PSS).
	fakeProc(t, root, 200, 1, "containerd-shim", shim(sandboxID), "VmRSS:\t   26000 kB\nRssAnon:\t 9000 kB\nRssFile:\t 17000 kB\nRssShmem:\t 0 kB\n",
		"Rss:               26000 kB\nPss:               15360 kB\nPss_Anon:           9216 kB\nPss_File:           6144 kB\nPss_Shmem:             0 kB\n")
	// App container's shim: found by its -id only; an older kernel
	// without smaps_rollup: RssAnon + RssFile.
	fakeProc(t, root, 210, 1, "containerd-shim", shim(appID), "VmRSS:\t   25600 kB\nRssAnon:\t 8192 kB\nRssFile:\t 2048 kB\nRssShmem:\t 4096 kB\n", "")
	// The pod's own processes name the ids too, but are in its cgroup.
	fakeProc(t, root, 300, 200, "exe", []string{"runsc-sandbox", "--root=/run/runsc", "boot", sandboxID}, "VmRSS:\t 20000 kB\n", "")
	fakeProc(t, root, 301, 300, "exe", []string{"runsc-gofer", "gofer", appID}, "VmRSS:\t 4000 kB\n", "")
	// The runtime's CLI, which the shim runs for a moment, names the id
	// but is not the sandbox's steady cost.
	fakeProc(t, root, 220, 210, "young runsc", []string{"runsc", "--root=/run/runsc", "events", "--stats", appID}, "VmRSS:\t 15000 kB\nRssAnon:\t 15000 kB\n", "")
	// Another pod's shim and containerd itself are not this pod's.
	fakeProc(t, root, 400, 1, "containerd-shim", shim(otherID), "VmRSS:\t 13000 kB\nRssAnon:\t 5000 kB\n", "")
	fakeProc(t, root, 100, 1, "containerd", []string{"/usr/bin/containerd", "--config", "/etc/containerd/config.toml"}, "VmRSS:\t 50000 kB\n", "")
	fakeProc(t, root, 1, 0, "init", []string{"/sbin/init", sandboxID}, "VmRSS:\t 1000 kB\n", "")
	// Not processes: /proc/self and friends.
	if err := os.MkdirAll(filepath.Join(root, "proc", "sys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc", "uptime"), []byte("1000.00 3000.00\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	s := Sampler{
		Cgroups: Cgroups{Root: hostpath.Root(root)},
		Procs:   &Procs{Root: hostpath.Root(root)},
		Windows: NewWindows(4),
	}
	ms, err := s.Sample([]Target{{Namespace: "ns", Name: "g", UID: uid, Handler: "runsc", ContainerIDs: []string{appID}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 {
		t.Fatalf("got %d measurements, want 1", len(ms))
	}
	m := ms[0]
	want := []Process{
		{PID: 200, Name: "containerd-shim", Bytes: 9000 << 10}, // RssAnon: not the shared file pages
		{PID: 210, Name: "containerd-shim", Bytes: 8 * mib},    // RssAnon: not the file pages or the shmem
	}
	if diff := cmp.Diff(want, m.Outside); diff != "" {
		t.Errorf("processes outside the pod cgroup (-want,+got):\n%s", diff)
	}
	total := 24*mib + 9000<<10 + 8*mib
	if m.Overhead() != 24*mib || m.Total() != total {
		t.Errorf("overhead %d total %d, want 24Mi in the pod cgroup, %d with the shims", m.Overhead(), m.Total(), total)
	}
	if st := s.Windows.Stats()["runsc"]; st.Count != 1 || st.P95 != total {
		t.Errorf("window %+v, want one sample of %d", st, total)
	}

	// Without Procs the sample is the pod cgroup's overhead alone.
	s.Procs = nil
	ms, err = s.Sample([]Target{{UID: uid, Handler: "runsc", ContainerIDs: []string{appID}}})
	if err != nil || len(ms) != 1 || ms[0].Total() != 24*mib || ms[0].Outside != nil {
		t.Errorf("without Procs: %+v, %v; want 24Mi and no processes", ms, err)
	}
}

// TestSandboxIDs: the pod cgroup's children that are not containers name
// the sandbox, in each driver's spelling.
func TestSandboxIDs(t *testing.T) {
	root := t.TempDir()
	pod := "/sys/fs/cgroup/memory/kubepods/pod" + uid
	for _, d := range []string{sandboxID, appID, "cri-containerd-" + otherID + ".scope", "kata_" + otherID[:20], "short"} {
		if err := os.MkdirAll(filepath.Join(root, pod, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got := sandboxIDs(hostpath.Root(root), pod, []string{appID})
	want := []string{sandboxID, otherID, otherID[:20]}
	if diff := cmp.Diff(want, got, cmpSorted); diff != "" {
		t.Errorf("sandboxIDs (-want,+got):\n%s", diff)
	}
}

var cmpSorted = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

// TestProcsRealHost scans this machine's /proc and measures this test's
// own process, so the parsers meet a real kernel's files.
func TestProcsRealHost(t *testing.T) {
	p := Procs{Root: "/"}
	tab, err := p.Scan()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if _, ok := tab[os.Getpid()]; !ok {
		t.Fatalf("scan of /proc (%d processes) misses this process %d", len(tab), os.Getpid())
	}
	proc, err := p.process(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if proc.Bytes <= 0 || proc.Name == "" {
		t.Errorf("this process: %+v, want a name and memory", proc)
	}
}

func TestParseProcKB(t *testing.T) {
	f := ParseProcKB([]byte("Name:\tcontainerd-shim\nPPid:\t42\nUid:\t0\t0\t0\t0\nVmRSS:\t   26000 kB\nPss_Anon:   9216 kB\nbad line\nNeg:\t-5 kB\n: 3\n"))
	for k, want := range map[string]int64{"PPid": 42, "VmRSS": 26000, "Pss_Anon": 9216} {
		if got, ok := f.KB(k); !ok || got != want {
			t.Errorf("%s = %d, %v; want %d", k, got, ok, want)
		}
	}
	for _, k := range []string{"Name", "Uid", "Neg", ""} {
		if v, ok := f.KB(k); ok {
			t.Errorf("%s parsed as a number %d", k, v)
		}
	}
	if f.text["Name"] != "containerd-shim" {
		t.Errorf("Name = %q", f.text["Name"])
	}
}

func TestParseProcStartTime(t *testing.T) {
	got, err := ParseProcStartTime([]byte("27390 (a (weird) name) R 27388 27388 7755 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 1418984 3133440 381 18446744073709551615 94494222192640\n"))
	if err != nil || got != 1418984 {
		t.Errorf("ParseProcStartTime = %d, %v; want 1418984", got, err)
	}
	for _, bad := range []string{"", "1 (x) R 1 2 3", "1 x R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5", "1 (x) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5"} {
		if v, err := ParseProcStartTime([]byte(bad)); err == nil {
			t.Errorf("ParseProcStartTime(%q) = %d, want an error", bad, v)
		}
	}
}

func FuzzParseProcKB(f *testing.F) {
	f.Add([]byte("Name:\tcontainerd-shim\nPPid:\t42\nVmRSS:\t   26000 kB\nRssAnon:\t 9000 kB\n"))
	f.Add([]byte("55d0c0a3e000-7ffd2b1f6000 ---p 00000000 00:00 0  [rollup]\nRss:  26000 kB\nPss_Anon:  9216 kB\nPss_File: 6144 kB\n"))
	f.Add([]byte("VmRSS:\t99999999999999999999 kB\n"))
	f.Add([]byte("27390 (cat) R 27388 27388 7755 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 1418984 3133440 381\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := ParseProcStartTime(b); err == nil && v > 1<<53 {
			t.Fatalf("ParseProcStartTime accepted %d", v)
		}
		p := ParseProcKB(b)
		for k, v := range p.kb {
			if k == "" || v < 0 || v<<10 < 0 {
				t.Fatalf("ParseProcKB accepted %q = %d (overflows as bytes)", k, v)
			}
		}
	})
}
