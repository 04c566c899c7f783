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

// fixturePod is the pod cgroup of overheadFixture's gVisor pod.
const fixturePod = "sys/fs/cgroup/memory/kubepods/burstable/podu1"

// writeCgroup writes a cgroup v1 directory charged usage bytes.
func writeCgroup(t *testing.T, dir string, usage int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "memory.usage_in_bytes"), []byte(fmt.Sprintf("%d\n", usage)), 0o644)
	os.WriteFile(filepath.Join(dir, "memory.stat"), []byte("rss 1\ntotal_inactive_file 0\n"), 0o644)
}

// overheadFixture is a host with one running gVisor pod (RuntimeClass
// gvisor, handler runsc, on worker-1) whose container's cgroup is charged
// 40Mi, served by a 13Mi shim outside its cgroup; the caller writes the
// pod cgroup's usage (fixturePod).
func overheadFixture(t *testing.T) (string, *fake.Clientset) {
	t.Helper()
	root := t.TempDir()
	pod := filepath.Join(root, fixturePod)
	writeCgroup(t, pod, 150<<20)
	writeCgroup(t, filepath.Join(pod, "c1"), 40<<20)
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
		&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1"}},
		&v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "t", Name: "p", UID: "u1"},
			Spec:       v1.PodSpec{NodeName: "worker-1", RuntimeClassName: &rc, Containers: []v1.Container{{Name: "c"}}},
			Status: v1.PodStatus{Phase: v1.PodRunning, ContainerStatuses: []v1.ContainerStatus{{
				ContainerID: "containerd://c1", State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}}},
		})
	return root, kube
}

// TestObservedOverheadPublished: a running gVisor pod whose cgroup v1 tree
// charges 150Mi to the pod and 40Mi to its container, served by a 13Mi
// shim outside its cgroup, is published as a 123Mi observed overhead for
// runsc: label, raw feature and metric.
func TestObservedOverheadPublished(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	root, kube := overheadFixture(t)
	writeCgroup(t, filepath.Join(root, fixturePod), 150<<20)
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

// TestObservedOverheadPublishesOnlyChanges: 300 sampling rounds of one
// gVisor pod whose overhead jitters by ±0.5Mi around 123Mi write the
// NodeFeature (nodefeature mode) or the Node's labels (node-labels mode)
// only when the published sample count reaches the next 1-2-5 step: 9
// writes (1, 2, 5, 10, 20, 50, 100, 200 samples, then the full 256-sample
// window), not one per round. A real change of the overhead is written in
// the round it is seen.
func TestObservedOverheadPublishesOnlyChanges(t *testing.T) {
	for _, mode := range []string{PublishNodeFeature, PublishNodeLabels} {
		t.Run(mode, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			root, kube := overheadFixture(t)
			cfg := DefaultConfig()
			cfg.NodeName, cfg.HostRoot, cfg.Publish = "worker-1", root, mode
			nfd := nfdfake.NewSimpleClientset()
			a, err := New(cfg, WithKubeClient(kube), WithNFDClient(nfd))
			if err != nil {
				t.Fatal(err)
			}
			res := &discover.Result{Kata: &discover.Kata{Handlers: []discover.Handler{{Name: "runsc", Sandbox: wellknown.SandboxGVisor}}}}
			// writes counts the NodeFeature creates and updates, or the
			// Node label patches.
			writes := func() int {
				n := 0
				for _, act := range append(nfd.Actions(), kube.Actions()...) {
					switch {
					case act.GetResource().Resource == "nodefeatures" && (act.GetVerb() == "create" || act.GetVerb() == "update"),
						act.GetResource().Resource == "nodes" && act.GetVerb() == "patch" && act.GetSubresource() == "":
						n++
					}
				}
				return n
			}
			var writtenAt []int
			samples := func() string {
				if mode == PublishNodeLabels {
					n, err := kube.CoreV1().Nodes().Get(ctx, "worker-1", metav1.GetOptions{})
					if err != nil {
						t.Fatal(err)
					}
					return n.Labels[wellknown.ObservedSamplesLabel("runsc")] + " " + n.Labels[wellknown.ObservedMemoryLabel("runsc")]
				}
				nf, err := nfd.NfdV1alpha1().NodeFeatures(cfg.Namespace).Get(ctx, NodeFeatureName("worker-1"), metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return nf.Spec.Labels[wellknown.ObservedSamplesLabel("runsc")] + " " + nf.Spec.Labels[wellknown.ObservedMemoryLabel("runsc")]
			}
			var published []string
			round := func(i int, podBytes int64) {
				writeCgroup(t, filepath.Join(root, fixturePod), podBytes)
				before := writes()
				a.sampleOverhead(ctx, res)
				if err := a.Publish(ctx, res); err != nil {
					t.Fatalf("round %d: %v", i, err)
				}
				if writes() > before {
					writtenAt = append(writtenAt, i)
					published = append(published, samples())
				}
			}
			for i := 1; i <= 300; i++ {
				round(i, 150<<20+int64(i%3-1)*(512<<10))
			}
			if want := []int{1, 2, 5, 10, 20, 50, 100, 200, 256}; fmt.Sprint(writtenAt) != fmt.Sprint(want) {
				t.Errorf("300 steady rounds wrote in rounds %v, want only %v; published (samples, p95): %q", writtenAt, want, published)
			}
			if got := published[len(published)-1]; got != "256 123Mi" && got != "256 124Mi" {
				t.Errorf("last published samples and p95 %q, want 256 and 123Mi (124Mi with the jitter)", got)
			}
			// The pod's sandbox now costs 20Mi more: written within the
			// rounds that move the window's p95 (5% of 256 samples).
			writtenAt = nil
			for i := 301; i <= 320 && len(writtenAt) == 0; i++ {
				round(i, 170<<20)
			}
			if len(writtenAt) != 1 || published[len(published)-1] != "256 143Mi" {
				t.Errorf("after the overhead rose by 20Mi: writes in rounds %v, last published %q; want one write of 256 143Mi within 20 rounds", writtenAt, published[len(published)-1])
			}
		})
	}
}
