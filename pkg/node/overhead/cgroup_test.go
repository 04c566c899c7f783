package overhead

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mtscn/mtscn/pkg/node/hostpath"
)

const (
	uid    = "3f2a1b6c-0d1e-4f5a-9b8c-7d6e5f4a3b2c"
	ctrA   = "aaaa1111"
	ctrB   = "bbbb2222"
	pause  = "ffff0000"
	mib    = int64(1 << 20)
	header = "cache 0\nrss 0\n"
)

// writeCgroup writes a cgroup's memory files: usage and inactive file bytes.
func writeCgroup(t *testing.T, dir string, v Version, usage, inactive int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	usageFile, stat := "memory.usage_in_bytes", fmt.Sprintf("%sinactive_file 1\ntotal_inactive_file %d\ntotal_rss 5\n", header, inactive)
	if v == V2 {
		usageFile, stat = "memory.current", fmt.Sprintf("anon 5\nfile 9\ninactive_file %d\nactive_file 3\n", inactive)
	}
	for name, content := range map[string]string{usageFile: fmt.Sprintf("%d\n", usage), "memory.stat": stat} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadPodLayouts(t *testing.T) {
	u := "3f2a1b6c_0d1e_4f5a_9b8c_7d6e5f4a3b2c"
	for _, tc := range []struct {
		name       string
		v          Version
		podDir     string // relative to the memory hierarchy
		ctrDir     func(id string) string
		markerFile string
	}{
		{"v1 cgroupfs burstable", V1, "kubepods/burstable/pod" + uid, func(id string) string { return id }, "memory"},
		{"v1 cgroupfs guaranteed", V1, "kubepods/pod" + uid, func(id string) string { return id }, "memory"},
		{"v1 systemd besteffort", V1, "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + u + ".slice",
			func(id string) string { return "cri-containerd-" + id + ".scope" }, "memory"},
		{"v2 systemd burstable", V2, "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + u + ".slice",
			func(id string) string { return "cri-containerd-" + id + ".scope" }, "cgroup.controllers"},
		{"v2 cgroupfs guaranteed", V2, "kubepods/pod" + uid, func(id string) string { return id }, "cgroup.controllers"},
		{"v1 cgroupfs below a kubelet cgroupRoot", V1, "node-a/kubepods/besteffort/pod" + uid, func(id string) string { return id }, "memory"},
		{"v2 systemd below a kubelet cgroupRoot", V2, "kubelet.slice/kubepods.slice/kubepods-pod" + u + ".slice",
			func(id string) string { return "cri-containerd-" + id + ".scope" }, "cgroup.controllers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			cg := filepath.Join(root, "sys/fs/cgroup")
			mem := cg
			if tc.v == V1 {
				mem = filepath.Join(cg, "memory")
				if err := os.MkdirAll(mem, 0o755); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := os.MkdirAll(cg, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(cg, "cgroup.controllers"), []byte("cpu memory\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			pod := filepath.Join(mem, tc.podDir)
			// Pod: 300Mi charged, 20Mi of it inactive page cache.
			writeCgroup(t, pod, tc.v, 300*mib, 20*mib)
			writeCgroup(t, filepath.Join(pod, tc.ctrDir(ctrA)), tc.v, 100*mib, 10*mib) // 90Mi
			writeCgroup(t, filepath.Join(pod, tc.ctrDir(ctrB)), tc.v, 50*mib, 0)       // 50Mi
			writeCgroup(t, filepath.Join(pod, tc.ctrDir(pause)), tc.v, 140*mib, 0)     // the sandbox, not a container

			c := Cgroups{Root: hostpath.Root(root)}
			v, err := c.Version()
			if err != nil || v != tc.v {
				t.Fatalf("Version() = %v, %v; want %v", v, err, tc.v)
			}
			m, err := c.ReadPod(v, uid, []string{ctrA, ctrB, "cccc3333"})
			if err != nil {
				t.Fatal(err)
			}
			if m.Pod != 280*mib || m.Containers != 140*mib || m.MissingContainers != 1 {
				t.Errorf("got pod %d containers %d missing %d; want %d, %d, 1", m.Pod/mib, m.Containers/mib, m.MissingContainers, 280, 140)
			}
			if got := m.Overhead(); got != 140*mib {
				t.Errorf("Overhead() = %dMi, want 140Mi (pod working set minus its containers')", got/mib)
			}
		})
	}
}

func TestReadPodErrors(t *testing.T) {
	root := t.TempDir()
	mem := filepath.Join(root, "sys/fs/cgroup/memory")
	c := Cgroups{Root: hostpath.Root(root)}
	if _, err := c.Version(); err == nil {
		t.Error("Version() on an empty root: want an error")
	}
	writeCgroup(t, filepath.Join(mem, "kubepods/besteffort/pod"+uid), V1, 10*mib, 0)
	if _, err := c.ReadPod(V1, "other-uid", nil); !errors.Is(err, ErrPodCgroupNotFound) {
		t.Errorf("unknown pod: err = %v, want ErrPodCgroupNotFound", err)
	}
	// A memory.stat without total_inactive_file is an error naming the file.
	if err := os.WriteFile(filepath.Join(mem, "kubepods/besteffort/pod"+uid, "memory.stat"), []byte("rss 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadPod(V1, uid, nil); err == nil {
		t.Error("memory.stat without total_inactive_file: want an error")
	}
	// A garbage usage file is an error, never a zero.
	if err := os.WriteFile(filepath.Join(mem, "kubepods/besteffort/pod"+uid, "memory.usage_in_bytes"), []byte("lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadPod(V1, uid, nil); err == nil {
		t.Error("garbage memory.usage_in_bytes: want an error")
	}
}

func TestParseStat(t *testing.T) {
	m, err := ParseStat([]byte("cache 14442496\nrss 9613312\n\ntotal_inactive_file 2867781632\n"))
	if err != nil || m["total_inactive_file"] != 2867781632 || m["rss"] != 9613312 {
		t.Errorf("ParseStat = %v, %v", m, err)
	}
	for _, bad := range []string{"rss\n", "rss -1\n", "rss x\n", " 5\n"} {
		if _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q): want an error", bad)
		}
	}
}

// TestRealHost reads this machine's own cgroup root, when it has one, so the
// v1 reader meets a real kernel's files and not only fixtures.
func TestRealHost(t *testing.T) {
	c := Cgroups{Root: "/"}
	v, err := c.Version()
	if err != nil {
		t.Skipf("no cgroup hierarchy here: %v", err)
	}
	ws, err := c.workingSet(v, c.memoryDir(v))
	if err != nil {
		t.Fatalf("reading the host's root memory cgroup (%v): %v", v, err)
	}
	if ws <= 0 {
		t.Errorf("root cgroup working set = %d, want > 0", ws)
	}
}

func FuzzParseMemoryFiles(f *testing.F) {
	f.Add([]byte("cache 0\nrss 9613312\ntotal_inactive_file 2867781632\n"))
	f.Add([]byte("anon 5\ninactive_file 3\n"))
	f.Add([]byte("123\n"))
	f.Add([]byte("max\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := ParseStat(b); err == nil {
			for k, v := range m {
				if k == "" || v < 0 {
					t.Fatalf("ParseStat accepted key %q value %d", k, v)
				}
			}
		}
		if n, err := ParseUsage(b); err == nil && n < 0 {
			t.Fatalf("ParseUsage accepted %d", n)
		}
	})
}
