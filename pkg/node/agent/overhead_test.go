package agent

import (
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	nfdfake "sigs.k8s.io/node-feature-discovery/api/generated/clientset/versioned/fake"

	"github.com/mtscn/mtscn/pkg/node/discover"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// TestObservedOverheadPublished: a running gVisor pod whose cgroup v1 tree
// charges 150Mi to the pod and 40Mi to its container, served by a 13Mi
// shim outside its cgroup, is published as a 123Mi observed overhead for
// runsc: label, raw feature and metric.
func TestObservedOverheadPublished(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	root := t.TempDir()
	pod := filepath.Join(root, "sys/fs/cgroup/memory/kubepods/burstable/podu1")
	write := func(dir string, usage int64) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "memory.usage_in_bytes"), []byte(fmt.Sprintf("%d\n", usage)), 0o644)
		os.WriteFile(filepath.Join(dir, "memory.stat"), []byte("rss 1\ntotal_inactive_file 0\n"), 0o644)
	}
	write(pod, 150<<20)
	write(filepath.Join(pod, "c1"), 40<<20)
	os.WriteFile(filepath.Join(pod, "cgroup.procs"), []byte("501\n"), 0o644)
	os.WriteFile(filepath.Join(pod, "c1", "cgroup.procs"), []byte("502\n"), 0o644)
	for pid, st := range map[string]string{
		"500": "Name:\tcontainerd-shim\nPPid:\t1\nRssAnon:\t13312 kB\nRssFile:\t0 kB\n",
		"501": "Name:\trunsc-sandbox\nPPid:\t500\nRssAnon:\t90000 kB\n",
		"502": "Name:\tapp\nPPid:\t501\nRssAnon:\t40000 kB\n",
	} {
		os.MkdirAll(filepath.Join(root, "proc", pid), 0o755)
		os.WriteFile(filepath.Join(root, "proc", pid, "status"), []byte(st), 0o644)
		os.WriteFile(filepath.Join(root, "proc", pid, "cmdline"), []byte("x\x00"), 0o644)
	}

	rc := "gvisor"
	kube := fake.NewClientset(
		&nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: rc}, Handler: "runsc"},
		&v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "t", Name: "p", UID: "u1"},
			Spec:       v1.PodSpec{NodeName: "worker-1", RuntimeClassName: &rc, Containers: []v1.Container{{Name: "c"}}},
			Status: v1.PodStatus{Phase: v1.PodRunning, ContainerStatuses: []v1.ContainerStatus{{
				ContainerID: "containerd://c1", State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}}},
		})
	cfg := DefaultConfig()
	cfg.NodeName, cfg.HostRoot = "worker-1", root
	nfd := nfdfake.NewSimpleClientset()
	a, err := New(cfg, WithKubeClient(kube), WithNFDClient(nfd))
	if err != nil {
		t.Fatal(err)
	}
	res := &discover.Result{Kata: &discover.Kata{Handlers: []discover.Handler{{Name: "runsc", Sandbox: wellknown.SandboxGVisor}, {Name: "runc"}}}}
	a.sampleOverhead(ctx, res)
	if err := a.Publish(ctx, res); err != nil {
		t.Fatal(err)
	}
	nf, err := nfd.NfdV1alpha1().NodeFeatures(cfg.Namespace).Get(ctx, NodeFeatureName("worker-1"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := nf.Spec.Labels[wellknown.ObservedMemoryLabel("runsc")]; got != "123Mi" {
		t.Errorf("label %s = %q, want 123Mi", wellknown.ObservedMemoryLabel("runsc"), got)
	}
	if got := nf.Spec.Labels[wellknown.ObservedSamplesLabel("runsc")]; got != "1" {
		t.Errorf("samples label = %q, want 1", got)
	}
	inst := nf.Spec.Features.Instances[wellknown.FeatureSandboxOverhead].Elements
	if len(inst) != 1 || inst[0].Attributes[wellknown.OverheadP95Bytes] != fmt.Sprint(123<<20) {
		t.Errorf("feature %s = %+v, want one runsc instance with p95 %d", wellknown.FeatureSandboxOverhead, inst, 123<<20)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf(`mtscn_node_sandbox_overhead_bytes{handler="runsc",stat="p95"} %g`, float64(123<<20)); !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
