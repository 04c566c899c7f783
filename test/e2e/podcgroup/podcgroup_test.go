package podcgroup

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestMeasure builds a kubelet-shaped cgroup v1 tree and /proc for a
// best-effort pod with a pause and an app container whose shim sits
// outside the pod cgroup, and checks every figure.
func TestMeasure(t *testing.T) {
	root := t.TempDir()
	write := func(path, content string) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pod := "cgroup/memory/node-1/kubepods/besteffort/pod1234/"
	write(pod+"memory.usage_in_bytes", "30000000\n")
	write(pod+"memory.stat", "cache 100\nrss 0\ntotal_cache 4000000\ntotal_rss 20000000\ntotal_inactive_file 2000000\n")
	write(pod+"cgroup.procs", "")
	write(pod+"sandbox/memory.usage_in_bytes", "1000000\n")
	write(pod+"sandbox/cgroup.procs", "200\n")
	write(pod+"app/memory.usage_in_bytes", "9000000\n")
	write(pod+"app/cgroup.procs", "201\n202\n")
	write("proc/200/status", "Name:\tpause\nPPid:\t100\nVmRSS:\t     500 kB\n")
	write("proc/201/status", "Name:\tapp\nPPid:\t100\nVmRSS:\t    1500 kB\n")
	write("proc/202/status", "Name:\tapp-child\nPPid:\t201\nVmRSS:\t     10 kB\n")
	write("proc/100/status", "Name:\tcontainerd-shim\nPPid:\t1\nVmRSS:\t   13312 kB\n")
	write("proc/150/status", "Name:\trunsc\nPPid:\t100\nVmRSS:\t    4000 kB\n")
	write("proc/150/smaps_rollup", "Pss_Anon:  3000 kB\nPss_File:  1000 kB\n")
	write("proc/1/status", "Name:\tinit\nPPid:\t0\nVmRSS:\t    1000 kB\n")
	write("proc/100/smaps_rollup", "5646f47cf000-7ffcef7b4000 ---p 00000000 00:00 0  [rollup]\nRss:  13312 kB\nPss:  9000 kB\nPss_Anon:  6000 kB\nPss_File:  2000 kB\nPss_Shmem:  1000 kB\n")
	write(pod+"app/memory.stat", "total_inactive_file 1000000\n")

	n := Node{CgroupFS: filepath.Join(root, "cgroup"), ProcFS: filepath.Join(root, "proc"), CgroupRoot: "node-1"}
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "1234"}, Status: v1.PodStatus{QOSClass: v1.PodQOSBestEffort,
		ContainerStatuses: []v1.ContainerStatus{{ContainerID: "containerd://app"}}}}
	got, err := n.Measure(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Memory{
		CgroupDir:      filepath.Join(root, pod[:len(pod)-1]),
		Usage:          30000000,
		RSS:            20000000,
		ContainerUsage: 10000000,
		WorkingSet:     28000000,
		AppWorkingSet:  8000000,
		Outside: []Process{
			{PID: 100, Name: "containerd-shim", RSS: 13312 * 1024, PSS: 6000 * 1024},
			{PID: 150, Name: "runsc", RSS: 4000 * 1024, PSS: 3000 * 1024},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Measure (-want,+got):\n%s", diff)
	}
	if got.Overhead() != 20000000+9000*1024 {
		t.Errorf("Overhead() = %d, want the pod's working set beyond its app container plus the shim's PSS", got.Overhead())
	}
	if got.Beyond() != 20000000 || got.OutsideRSS() != 17312*1024 {
		t.Errorf("Beyond() = %d, OutsideRSS() = %d", got.Beyond(), got.OutsideRSS())
	}
	for _, tc := range []struct {
		qos  v1.PodQOSClass
		want string
	}{
		{v1.PodQOSGuaranteed, "/node-1/kubepods/pod1234"},
		{v1.PodQOSBurstable, "/node-1/kubepods/burstable/pod1234"},
	} {
		p.Status.QOSClass = tc.qos
		if got, err := n.PodCgroup(p); err != nil || got != tc.want {
			t.Errorf("PodCgroup(%s) = %q, %v; want %q", tc.qos, got, err, tc.want)
		}
	}
	p.Status.QOSClass = ""
	if _, err := n.Measure(p); err == nil {
		t.Error("Measure of a pod without a QoS class: no error")
	}
}
