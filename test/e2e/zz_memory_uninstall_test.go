//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/mtscn/mtscn/pkg/plugins/sandboxfeatures"
)

// TestPodCost measures, for one runc and one gVisor pod of the same tenant
// on the first node, the time from creation to Running and the host
// memory: the pod cgroup, its containers' cgroups, what it is charged
// beyond them, and the shim outside it. Reported, not asserted
// (test/e2e/README.md has the figures).
func TestPodCost(t *testing.T) {
	gvisorRuntimeClass(t)
	ns := tenant(t, "theta")
	cg := cgroupNode(0)
	for _, rc := range []string{"", gvisorClass} {
		kind := "runc"
		if rc != "" {
			kind = "gVisor"
		}
		start := time.Now()
		p := create(t, pod(ns, "cost-"+strings.ToLower(kind), rc, e2e.nodes[0]))
		p, took := waitRunning(t, p, start)
		logs(t, p) // the app has started and printed
		time.Sleep(2 * time.Second)
		m, err := cg.Measure(p)
		if err != nil {
			t.Fatalf("measuring %s pod: %v", kind, err)
		}
		var shims []string
		for _, o := range m.Outside {
			shims = append(shims, o.Name)
		}
		report(t, "%-6s pod: created -> Running %.2fs; pod cgroup %.1f MiB (rss %.1f MiB), containers' cgroups %.1f MiB, beyond them %.1f MiB; outside the pod cgroup %v %.1f MiB RSS",
			kind, took.Seconds(), mib(m.Usage), mib(m.RSS), mib(m.ContainerUsage), mib(m.Beyond()), shims, mib(m.OutsideRSS()))
		deletePod(t, ns, p.Name)
	}
}

// TestUninstall runs last (file order): mtscn-node uninstall on the first
// node removes the gVisor handler, restores containerd's config byte for
// byte, and runc pods still run.
func TestUninstall(t *testing.T) {
	ctx := context.Background()
	node := e2e.nodes[0]
	before, err := os.ReadFile(filepath.Join(e2e.dir, "node1", "config.toml.before-install"))
	if err != nil {
		t.Fatal(err)
	}
	out, code := run(t, "bash", "hack/e2e/gvisor.sh", "uninstall", "1")
	if code != 0 {
		t.Fatalf("uninstall: exit %d\n%s", code, out)
	}
	t.Logf("uninstall:\n%s", out)
	after, err := os.ReadFile(filepath.Join(e2e.dir, "node1", "containerd", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Errorf("containerd's config.toml after uninstall differs from before the install:\n--- before\n%s\n--- after\n%s", before, after)
	}
	// The runsc handler label goes once the agent rediscovers and NFD
	// relabels.
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		n, err := e2e.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		return err == nil && n.Labels["mtscn.io/runtime."+gvisorHandle] == "", nil
	})
	if err != nil {
		t.Errorf("node %s still labelled mtscn.io/runtime.%s a minute after the uninstall", node, gvisorHandle)
	}

	ns := tenant(t, "iota")
	// A gVisor pod for this node now waits: the node no longer offers runsc
	// (the shipped class selects mtscn.io/runtime.runsc=true, and
	// SandboxFeatures requires the handler).
	g := create(t, pod(ns, "gvisor-after-uninstall", gvisorClass, node))
	msg := waitUnschedulable(t, g, "node affinity/selector", sandboxfeatures.ErrReasonNodeLacks)
	t.Logf("gVisor pod after the uninstall Pending: %s", msg)
	deletePod(t, ns, g.Name)

	start := time.Now()
	r := create(t, pod(ns, "runc-after-uninstall", "", node))
	r, took := waitRunning(t, r, start)
	t.Logf("runc pod after the uninstall Running on %s in %.2fs", r.Spec.NodeName, took.Seconds())
}
