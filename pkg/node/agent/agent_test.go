package agent

import (
	"context"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	nfdfake "sigs.k8s.io/node-feature-discovery/api/generated/clientset/versioned/fake"

	"github.com/mtscn/mtscn/pkg/node/discover"
)

func fixtureHost(name string) func(*discover.Options) {
	return func(o *discover.Options) {
		o.HostRoot = filepath.Join("..", "discover", "testdata", name)
		discover.UseFixtureDevices(o)
	}
}

func TestValidate(t *testing.T) {
	valid := DefaultConfig()
	valid.NodeName = "worker-1"
	tests := []struct {
		name  string
		tweak func(*Config)
		want  []string // substrings of the error; none means valid
	}{
		{"defaults with a node", func(*Config) {}, nil},
		{"no node name", func(c *Config) { c.NodeName = "" }, []string{"nodeName", "NODE_NAME"}},
		{"no node name is fine without publishing", func(c *Config) { c.NodeName, c.Publish = "", PublishNone }, nil},
		{"bad publish", func(c *Config) { c.Publish = "labels" }, []string{`publish "labels"`, "node-labels"}},
		{"bad namespace", func(c *Config) { c.Namespace = "Mtscn_System" }, []string{"namespace"}},
		{"negative interval", func(c *Config) { c.Interval = metav1.Duration{Duration: -time.Second} }, []string{"interval"}},
		{"unknown source", func(c *Config) { c.Sources = []string{"gpu"} }, []string{"sources", `"gpu"`}},
		{"pod name without uid", func(c *Config) { c.PodName = "p" }, []string{"podName/podUID"}},
		{"several errors at once", func(c *Config) { c.Publish, c.MaxSandboxes = "x", -1 }, []string{"publish", "maxSandboxes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.tweak(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error mentioning %v, got none", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLabelPatch(t *testing.T) {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
		"team": "a", "mtscn.io/pool": "gold", "mtscn.io/kvm": "true",
		"mtscn.io/runtime.kata-old": "true", "mtscn.io/kata.kata-old.sizing": "static", "mtscn.io/virt-mode": "nested",
	}}}
	want := map[string]string{"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "pvm", "mtscn.io/runtime.kata-qemu": "true"}
	got := labelPatch(node, want)
	wantPatch := map[string]any{
		"mtscn.io/virt-mode": "pvm", "mtscn.io/runtime.kata-qemu": "true",
		"mtscn.io/runtime.kata-old": nil, "mtscn.io/kata.kata-old.sizing": nil,
	}
	if diff := cmp.Diff(wantPatch, got); diff != "" {
		t.Errorf("labelPatch (-want,+got):\n%s", diff)
	}
}

func TestCapacityPatch(t *testing.T) {
	rl := func(m map[string]string) v1.ResourceList {
		out := v1.ResourceList{}
		for k, v := range m {
			out[v1.ResourceName(k)] = resource.MustParse(v)
		}
		return out
	}
	node := func(capacity, allocatable map[string]string) *v1.Node {
		return &v1.Node{Status: v1.NodeStatus{Capacity: rl(capacity), Allocatable: rl(allocatable)}}
	}
	base := map[string]string{"cpu": "4", "memory": "16Gi", "qat.intel.com/generic": "8"}
	with := func(extra map[string]string) map[string]string {
		out := maps.Clone(base)
		maps.Copy(out, extra)
		return out
	}
	tests := []struct {
		name string
		node *v1.Node
		want map[string]string
		// wantPatch is applied to status.capacity and status.allocatable.
		wantPatch map[string]any
	}{
		{
			name:      "new resources: both, with the rules' values",
			node:      node(base, base),
			want:      map[string]string{"mtscn.io/sandbox-memory": "8589934592", "mtscn.io/sandboxes": "4"},
			wantPatch: map[string]any{"mtscn.io/sandbox-memory": "8589934592", "mtscn.io/sandboxes": "4"},
		},
		{
			name:      "unchanged, in another notation: nothing",
			node:      node(with(map[string]string{"mtscn.io/sandbox-memory": "8Gi", "mtscn.io/sandboxes": "4"}), with(map[string]string{"mtscn.io/sandbox-memory": "8Gi", "mtscn.io/sandboxes": "4"})),
			want:      map[string]string{"mtscn.io/sandbox-memory": "8589934592", "mtscn.io/sandboxes": "4"},
			wantPatch: map[string]any{},
		},
		{
			name:      "changed, and allocatable missing (nfd-master set only the capacity)",
			node:      node(with(map[string]string{"mtscn.io/sandbox-memory": "8Gi", "mtscn.io/sandboxes": "4"}), with(map[string]string{"mtscn.io/sandboxes": "4"})),
			want:      map[string]string{"mtscn.io/sandbox-memory": "0", "mtscn.io/sandboxes": "4"},
			wantPatch: map[string]any{"mtscn.io/sandbox-memory": "0"},
		},
		{
			name:      "capacity gone: the agent's resources removed, the others kept",
			node:      node(with(map[string]string{"mtscn.io/sandbox-memory": "8Gi", "mtscn.io/sandboxes": "4", "mtscn.io/other": "1"}), with(map[string]string{"mtscn.io/sandboxes": "4"})),
			want:      map[string]string{},
			wantPatch: map[string]any{"mtscn.io/sandbox-memory": nil, "mtscn.io/sandboxes": nil},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := capacityPatch(tc.node, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantPatch, got); diff != "" {
				t.Errorf("capacityPatch (-want,+got):\n%s", diff)
			}
		})
	}
	if _, err := capacityPatch(node(base, base), map[string]string{"mtscn.io/sandboxes": "many"}); err == nil || !strings.Contains(err.Error(), "mtscn.io/sandboxes") {
		t.Errorf("an invalid quantity: want an error naming the resource, got %v", err)
	}
}

// TestRunLoop runs the daemon loop on a short interval and checks that it
// publishes once, then only re-reads, and stops with its context.
func TestRunLoop(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	cfg := DefaultConfig()
	cfg.NodeName, cfg.ListenAddress, cfg.Interval = "worker-1", "", metav1.Duration{Duration: 10 * time.Millisecond}
	nfd := nfdfake.NewSimpleClientset()
	a, err := New(cfg, WithNFDClient(nfd), WithKubeClient(fake.NewSimpleClientset()), WithDiscoverOptions(fixtureHost("nested-cloud-vm")))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(metricsText(t, a), `mtscn_node_publishes_total{result="unchanged"} 3`) {
		if time.Now().After(deadline) {
			t.Fatalf("no three unchanged rounds after 10s:\n%s", metricsText(t, a))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after cancel", err)
	}
	m := metricsText(t, a)
	if !strings.Contains(m, `mtscn_node_publishes_total{result="created"} 1`) || strings.Contains(m, `result="updated"`) {
		t.Errorf("want exactly one create and no update:\n%s", m)
	}
	writes := 0
	for _, act := range nfd.Actions() {
		if act.GetVerb() == "create" || act.GetVerb() == "update" {
			writes++
		}
	}
	if writes != 1 {
		t.Errorf("%d writes to the NodeFeature, want 1", writes)
	}
	if a.Last() == nil || a.Last().KVM.Mode != discover.ModeNested {
		t.Errorf("last discovery: %+v", a.Last())
	}
}

func TestReadiness(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cfg := DefaultConfig()
	cfg.NodeName = "worker-1"
	installed := false
	a, err := New(cfg, WithNFDClient(nfdfake.NewSimpleClientset()), WithDiscoverOptions(fixtureHost("vm-no-kvm")),
		WithReadiness(func() error {
			if !installed {
				return io.ErrUnexpectedEOF
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if code := status(a, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after publishing: %d", code)
	}
	if code := status(a, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the readiness check failing: %d, want 503", code)
	}
	installed = true
	if code := status(a, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with the readiness check passing: %d, want 200", code)
	}
	if !strings.Contains(metricsText(t, a), `mtscn_node_source_errors{source="kata"} 1`) {
		t.Errorf("vm-no-kvm has no containerd config: want source_errors{kata} 1:\n%s", metricsText(t, a))
	}
}

func status(a *Agent, path string) int {
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code
}

func metricsText(t *testing.T, a *Agent) string {
	t.Helper()
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// TestSourceErrorsAreEvents: a discovery source that fails (here /dev/kvm
// exists but the agent may not open it) is a Warning Event on the Node,
// recorded once while the error stays the same, and the source's error
// metric is 1.
func TestSourceErrorsAreEvents(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cfg := DefaultConfig()
	cfg.NodeName, cfg.ListenAddress = "worker-1", ""
	kube := fake.NewSimpleClientset()
	a, err := New(cfg, WithNFDClient(nfdfake.NewSimpleClientset()), WithKubeClient(kube), WithDiscoverOptions(func(o *discover.Options) {
		fixtureHost("intel-qat-baremetal")(o)
		o.ProbeKVM = func(p string) (discover.KVMProbe, error) {
			return discover.KVMProbe{}, &fs.PathError{Op: "open", Path: p, Err: syscall.EACCES}
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := a.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	events, err := kube.CoreV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events.Items) != 1 {
		t.Fatalf("%d events, want 1 (the same error twice): %+v", len(events.Items), events.Items)
	}
	ev := events.Items[0]
	if ev.Type != v1.EventTypeWarning || ev.Reason != EventReasonDiscoveryFailed || ev.InvolvedObject.Kind != "Node" || ev.InvolvedObject.Name != "worker-1" ||
		!strings.Contains(ev.Message, "discovery source kvm failed: open ") || !strings.Contains(ev.Message, "permission denied") {
		t.Errorf("event %+v", ev)
	}
	if m := metricsText(t, a); !strings.Contains(m, `mtscn_node_source_errors{source="kvm"} 1`) {
		t.Errorf("metric mtscn_node_source_errors{source=\"kvm\"} is not 1:\n%s", m)
	}
}
