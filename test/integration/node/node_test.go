package node

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2/ktesting"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	nfdclient "sigs.k8s.io/node-feature-discovery/api/generated/clientset/versioned"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	"github.com/mtscn/mtscn/pkg/node/agent"
	"github.com/mtscn/mtscn/pkg/node/discover"
	"github.com/mtscn/mtscn/pkg/wellknown"
	"github.com/mtscn/mtscn/test/integration/harness"
	nfdharness "github.com/mtscn/mtscn/test/integration/harness/nfd"
)

const namespace = "mtscn-system"

// startControlPlaneWithCRDs starts the full kube-apiserver server chain
// (apiextensions included) and installs NFD's CRDs.
func startControlPlaneWithCRDs(t *testing.T) *harness.ControlPlane {
	t.Helper()
	cp := harness.StartFullControlPlane(t)
	cp.InstallCRDs(t, harness.NFDCRDs(t))
	return cp
}

// fixture points discovery at a fixture tree of pkg/node/discover. The two
// host system calls are replaced as in the discover package's tests: a
// fixture's dev/kvm is a regular file, and its dev/shm is not a tmpfs.
type fixture struct{ name string }

func (f *fixture) apply(o *discover.Options) {
	o.HostRoot = filepath.Join(harness.RepoRoot(), "pkg", "node", "discover", "testdata", f.name)
	discover.UseFixtureDevices(o)
}

// newAgent builds an agent on fixture f whose fixture can be switched
// between rounds by changing f.name.
func newAgent(t *testing.T, cfg agent.Config, nfd nfdclient.Interface, kube kubernetes.Interface, f *fixture) *agent.Agent {
	t.Helper()
	a, err := agent.New(cfg, agent.WithNFDClient(nfd), agent.WithKubeClient(kube),
		agent.WithDiscoverOptions(func(o *discover.Options) { f.apply(o) }))
	if err != nil {
		t.Fatalf("agent.New: %v", err)
	}
	return a
}

// switchFixture re-points a running agent at another fixture.
func switchFixture(t *testing.T, cfg agent.Config, nfd nfdclient.Interface, kube kubernetes.Interface, name string) *agent.Agent {
	return newAgent(t, cfg, nfd, kube, &fixture{name: name})
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestPublishNodeFeature(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cp := startControlPlaneWithCRDs(t)
	cp.CreateNamespace(t, namespace, nil)
	nfd := nfdharness.NewClient(t, cp.Config)
	// The agent's own Pod, owner of the NodeFeature.
	pod, err := cp.Client.CoreV1().Pods(namespace).Create(ctx, st.MakePod().Name("mtscn-node-x7k2p").Namespace(namespace).Container("agent").Obj(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := agent.DefaultConfig()
	cfg.NodeName, cfg.Namespace, cfg.PodName, cfg.PodUID = "worker-1", namespace, pod.Name, string(pod.UID)
	a := newAgent(t, cfg, nfd, cp.Client, &fixture{name: "intel-qat-baremetal"})

	if code, _ := get(t, a.Handler(), "/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz before the first publish: got %d, want 503", code)
	}

	// 1. Create.
	if err := a.RunOnce(ctx); err != nil {
		t.Fatalf("first publish: %v", err)
	}
	name := agent.NodeFeatureName("worker-1")
	nf, err := nfd.NfdV1alpha1().NodeFeatures(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("NodeFeature %s not created: %v", name, err)
	}
	if got := nf.Labels[nfdv1alpha1.NodeFeatureObjNodeNameLabel]; got != "worker-1" {
		t.Errorf("label %s = %q, want worker-1", nfdv1alpha1.NodeFeatureObjNodeNameLabel, got)
	}
	wantOwner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}}
	if diff := cmp.Diff(wantOwner, nf.OwnerReferences); diff != "" {
		t.Errorf("owner references (-want,+got):\n%s", diff)
	}
	wantKVM := map[string]string{"usable": "true", "vhost_vsock": "true", "api_version": "12", "module": "kvm_intel"}
	if diff := cmp.Diff(wantKVM, nf.Spec.Features.Attributes[wellknown.FeatureKVM].Elements); diff != "" {
		t.Errorf("mtscn.kvm (-want,+got):\n%s", diff)
	}
	if n := len(nf.Spec.Features.Instances[wellknown.FeatureQAT].Elements); n != 17 {
		t.Errorf("mtscn.qat: got %d instances, want 17 (1 PF + 16 VFs)", n)
	}
	if got := nf.Spec.Labels["mtscn.io/kata.kata-qemu.default-memory"]; got != "4096" {
		t.Errorf("spec.labels kata-qemu default memory = %q, want 4096", got)
	}
	if code, body := get(t, a.Handler(), "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after the first publish: got %d %q, want 200", code, body)
	}

	// 2. Unchanged host: no write.
	rv := nf.ResourceVersion
	if err := a.RunOnce(ctx); err != nil {
		t.Fatalf("second publish: %v", err)
	}
	nf, _ = nfd.NfdV1alpha1().NodeFeatures(namespace).Get(ctx, name, metav1.GetOptions{})
	if nf.ResourceVersion != rv {
		t.Errorf("unchanged features were written: resourceVersion %s -> %s", rv, nf.ResourceVersion)
	}

	// 3. The host changed (another fixture): update.
	a2 := switchFixture(t, cfg, nfd, cp.Client, "amd-sev-snp")
	if err := a2.RunOnce(ctx); err != nil {
		t.Fatalf("third publish: %v", err)
	}
	nf, _ = nfd.NfdV1alpha1().NodeFeatures(namespace).Get(ctx, name, metav1.GetOptions{})
	if nf.ResourceVersion == rv {
		t.Errorf("changed features were not written")
	}
	if got := nf.Spec.Features.Attributes[wellknown.FeatureKVM].Elements["module"]; got != "kvm_amd" {
		t.Errorf("after the update mtscn.kvm.module = %q, want kvm_amd", got)
	}
	if n := len(nf.Spec.Features.Instances[wellknown.FeatureQAT].Elements); n != 0 {
		t.Errorf("after the update: %d QAT instances remain, want 0", n)
	}
	if _, ok := nf.Spec.Labels["mtscn.io/kata.kata-clh.sizing"]; ok {
		t.Errorf("after the update: kata-clh is gone but its label stayed: %v", nf.Spec.Labels)
	}

	_, metrics := get(t, a.Handler(), "/metrics")
	for _, want := range []string{
		`mtscn_node_publishes_total{result="created"} 1`,
		`mtscn_node_publishes_total{result="unchanged"} 1`,
		`mtscn_node_discovery_duration_seconds_count 2`,
		`mtscn_node_publish_errors_total 0`,
		`mtscn_node_source_errors{source="kata"} 0`,
		`mtscn_node_build_info{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
}

func TestPublishNodeLabels(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cp := harness.StartControlPlane(t)
	cp.CreateNode(t, st.MakeNode().Name("worker-2").Label("team", "a").Label("mtscn.io/pool", "gold").
		Label("mtscn.io/runtime.kata-old", "true").Label("mtscn.io/cotenancy-safe", "false").Obj())
	cfg := agent.DefaultConfig()
	cfg.NodeName, cfg.Publish = "worker-2", agent.PublishNodeLabels
	labels := func() map[string]string {
		n, err := cp.Client.CoreV1().Nodes().Get(ctx, "worker-2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n.Labels
	}
	withoutHostLabels := func(l map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range l {
			if k != v1.LabelHostname {
				out[k] = v
			}
		}
		return out
	}

	a := newAgent(t, cfg, nil, cp.Client, &fixture{name: "intel-qat-baremetal"})
	if err := a.RunOnce(ctx); err != nil {
		t.Fatalf("publish: %v", err)
	}
	want := map[string]string{
		// Not the agent's: kept.
		"team": "a", "mtscn.io/pool": "gold",
		// From the fixture.
		"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "hardware", "mtscn.io/iommu": "true", "mtscn.io/qat-vfio": "true",
		"mtscn.io/runtime.kata-qemu": "true", "mtscn.io/runtime.kata-clh": "true", "mtscn.io/cotenancy-safe": "true",
		"mtscn.io/kata.kata-qemu.default-memory": "4096", "mtscn.io/kata.kata-qemu.sizing": "hotplug", "mtscn.io/kata.kata-qemu.shm-backed": "true",
		"mtscn.io/kata.kata-clh.default-memory": "2048", "mtscn.io/kata.kata-clh.sizing": "hotplug", "mtscn.io/kata.kata-clh.shm-backed": "false",
		// The stale agent label (kata-old) is gone; cotenancy-safe is
		// rewritten with the agent's verdict.
	}
	if diff := cmp.Diff(want, withoutHostLabels(labels())); diff != "" {
		t.Errorf("node labels (-want,+got):\n%s", diff)
	}

	n, _ := cp.Client.CoreV1().Nodes().Get(ctx, "worker-2", metav1.GetOptions{})
	if err := a.RunOnce(ctx); err != nil {
		t.Fatalf("second publish: %v", err)
	}
	if n2, _ := cp.Client.CoreV1().Nodes().Get(ctx, "worker-2", metav1.GetOptions{}); n2.ResourceVersion != n.ResourceVersion {
		t.Errorf("unchanged labels were written: resourceVersion %s -> %s", n.ResourceVersion, n2.ResourceVersion)
	}

	// The node loses KVM and Kata (a VM without KVM, no containerd config).
	a = switchFixture(t, cfg, nil, cp.Client, "vm-no-kvm")
	if err := a.RunOnce(ctx); err != nil {
		t.Fatalf("publish after the change: %v", err)
	}
	// A VM's mitigations say "SMT Host state unknown": not safe.
	if diff := cmp.Diff(map[string]string{"team": "a", "mtscn.io/pool": "gold", "mtscn.io/cotenancy-safe": "false"}, withoutHostLabels(labels())); diff != "" {
		t.Errorf("node labels after losing KVM (-want,+got):\n%s", diff)
	}

	// SMT on with L1TF vulnerable.
	a = switchFixture(t, cfg, nil, cp.Client, "smt-l1tf-vulnerable")
	if err := a.RunOnce(ctx); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if got := labels()["mtscn.io/cotenancy-safe"]; got != "false" {
		t.Errorf("mtscn.io/cotenancy-safe = %q, want false", got)
	}
}

// TestPublishErrorsAreCounted runs the agent against a namespace without
// the NodeFeature CRD: publishing fails, /healthz stays 503.
func TestPublishErrorsAreCounted(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cp := harness.StartControlPlane(t)
	nfd := nfdharness.NewClient(t, cp.Config)
	cfg := agent.DefaultConfig()
	cfg.NodeName = "worker-3"
	a := newAgent(t, cfg, nfd, cp.Client, &fixture{name: "nested-cloud-vm"})
	if err := a.RunOnce(ctx); err == nil || !strings.Contains(err.Error(), "NodeFeature") {
		t.Fatalf("publishing without NFD's CRD: want an error naming the NodeFeature, got %v", err)
	}
	if code, _ := get(t, a.Handler(), "/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz after a failed publish: got %d, want 503", code)
	}
	if _, m := get(t, a.Handler(), "/metrics"); !strings.Contains(m, "mtscn_node_publish_errors_total 1") {
		t.Errorf("/metrics: want one publish error:\n%s", m)
	}
}

// TestRunOneshotWithKubeconfig runs the agent the way `mtscn-node run
// --oneshot --kubeconfig F` does: clients built from a kubeconfig file.
func TestRunOneshotWithKubeconfig(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cp := startControlPlaneWithCRDs(t)
	cp.CreateNamespace(t, namespace, nil)
	file := nfdharness.WriteKubeconfig(t, cp)
	cfg := agent.DefaultConfig()
	cfg.NodeName, cfg.Kubeconfig, cfg.Oneshot = "worker-5", file, true
	f := &fixture{name: "amd-sev-snp"}
	a, err := agent.New(cfg, agent.WithDiscoverOptions(f.apply))
	if err != nil {
		t.Fatalf("agent.New with a kubeconfig: %v", err)
	}
	if err := a.Run(ctx); err != nil {
		t.Fatalf("run --oneshot: %v", err)
	}
	nf, err := nfdharness.NewClient(t, cp.Config).NfdV1alpha1().NodeFeatures(namespace).Get(ctx, agent.NodeFeatureName("worker-5"), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("NodeFeature not created by run --oneshot: %v", err)
	}
	if got := nf.Spec.Features.Attributes[wellknown.FeatureKVM].Elements["module"]; got != "kvm_amd" {
		t.Errorf("mtscn.kvm.module = %q, want kvm_amd", got)
	}
}
