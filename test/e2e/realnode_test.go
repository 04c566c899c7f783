//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/mtscn/mtscn/pkg/plugins/sandboxfeatures"
	"github.com/mtscn/mtscn/pkg/plugins/sandboxoverhead"
	"github.com/mtscn/mtscn/pkg/plugins/tenantisolation"
)

var nodev1RuntimeClass = nodev1.RuntimeClass{
	ObjectMeta: metav1.ObjectMeta{Name: gvisorClass},
	Handler:    gvisorHandle,
}

// TestNodesReady: every node runs kubelet v1.35.4, mtscn-node has installed
// gVisor (startup taint gone) and NFD has labelled the runsc handler from
// mtscn-node's NodeFeature: nfd-master alone owns that label, the installer
// only its own (onewriter_test.go).
func TestNodesReady(t *testing.T) {
	ctx := context.Background()
	for _, name := range e2e.nodes {
		var n *v1.Node
		err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			var err error
			n, err = e2e.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			return err == nil && n.Labels["mtscn.io/runtime."+gvisorHandle] == "true", nil
		})
		if err != nil {
			t.Fatalf("node %s: no label mtscn.io/runtime.%s=true within a minute; labels %v", name, gvisorHandle, n.Labels)
		}
		if v := n.Status.NodeInfo.KubeletVersion; v != "v1.35.4" {
			t.Errorf("node %s: kubelet %s, want v1.35.4", name, v)
		}
		for _, taint := range n.Spec.Taints {
			if taint.Key == "mtscn.io/sandbox-not-ready" {
				t.Errorf("node %s: still tainted %s after the install", name, taint.ToString())
			}
		}
		checkRuntimeLabelOwner(t, n)
		var mtscnLabels []string
		for k, v := range n.Labels {
			if strings.HasPrefix(k, "mtscn.io/") {
				mtscnLabels = append(mtscnLabels, k+"="+v)
			}
		}
		t.Logf("node %s: kubelet %s, %s, mtscn labels %v", name, n.Status.NodeInfo.KubeletVersion, n.Status.NodeInfo.ContainerRuntimeVersion, mtscnLabels)
	}
}

// TestGVisorTenants: two tenants' gVisor pods share a node and see gVisor's
// kernel; a third tenant's runc pod and a runc pod of a tenant already
// there stay Pending with TenantIsolation's reason; once the gVisor pods
// are gone the runc pod binds and runs.
func TestGVisorTenants(t *testing.T) {
	gvisorRuntimeClass(t)
	node := e2e.nodes[0]
	alpha, beta, gamma := tenant(t, "alpha"), tenant(t, "beta"), tenant(t, "gamma")

	host, err := os.ReadFile("/proc/version")
	if err != nil {
		t.Fatal(err)
	}
	var running []*v1.Pod
	for _, ns := range []string{alpha, beta} {
		start := time.Now()
		p := create(t, pod(ns, "sandboxed", gvisorClass, node))
		p, took := waitRunning(t, p, start)
		if p.Spec.NodeName != node {
			t.Fatalf("%s/%s runs on %s, want %s", ns, p.Name, p.Spec.NodeName, node)
		}
		line := logs(t, p)
		if strings.Contains(line, strings.TrimSpace(string(host))) || !strings.Contains(line, "kernel: Linux version") {
			t.Fatalf("%s/%s log %q: want gVisor's kernel, not the host's %q", ns, p.Name, line, strings.TrimSpace(string(host)))
		}
		report(t, "gVisor pod %s/%s on %s, created -> Running in %.2fs; its log: %s", ns, p.Name, p.Spec.NodeName, took.Seconds(), line)
		running = append(running, p)
	}

	reasons := []string{tenantisolation.ErrReasonSharedKernelNeedsOwnNode, tenantisolation.ErrReasonSharedKernelOtherTenant}
	third := create(t, pod(gamma, "shared-kernel", "", node))
	msg := waitUnschedulable(t, third, reasons...)
	t.Logf("third tenant's runc pod %s/%s Pending: %s", gamma, third.Name, msg)
	same := create(t, pod(alpha, "shared-kernel", "", node))
	msg = waitUnschedulable(t, same, reasons...)
	t.Logf("runc pod %s/%s of a tenant already on the node Pending: %s", alpha, same.Name, msg)

	// Only one of the two runc tenants can have the node: drop alpha's.
	deletePod(t, alpha, same.Name)
	for _, p := range running {
		deletePod(t, p.Namespace, p.Name)
	}
	p, took := waitRunning(t, third, time.Now())
	if p.Spec.NodeName != node {
		t.Fatalf("%s/%s runs on %s, want %s", gamma, p.Name, p.Spec.NodeName, node)
	}
	line := logs(t, p)
	if !strings.Contains(line, strings.TrimSpace(string(host))) {
		t.Errorf("runc pod log %q: want the host's kernel %q", line, strings.TrimSpace(string(host)))
	}
	t.Logf("runc pod %s/%s bound and Running %.2fs after the gVisor pods were gone; its log: %s", gamma, p.Name, took.Seconds(), line)
}

// TestKataPending: no Kata here. A pod of the shipped kata-qemu class stays
// Pending (its nodeSelector katacontainers.io/kata-runtime=true matches no
// node), and so does a Kata pod whose class selects no nodes, with mtscn's
// reason: SandboxFeatures names what the node lacks, or, when discovery
// finds no usable KVM and so no sandbox capacity, SandboxOverhead (it
// filters first) says the node has no room for a VM.
func TestKataPending(t *testing.T) {
	ctx := context.Background()
	ns := tenant(t, "kappa")
	shipped := create(t, pod(ns, "kata-shipped-class", "kata-qemu", ""))
	msg := waitUnschedulable(t, shipped, "node affinity/selector")
	t.Logf("kata-qemu pod Pending: %s", msg)

	rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "e2e-kata-qemu-any-node"}, Handler: "kata-qemu"}
	if _, err := e2e.client.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e2e.client.NodeV1().RuntimeClasses().Delete(ctx, rc.Name, metav1.DeleteOptions{}) })
	p := create(t, pod(ns, "kata-any-node", rc.Name, ""))
	msg = waitUnschedulable(t, p, sandboxfeatures.ErrReasonNodeLacks, sandboxoverhead.ErrReasonSandboxMemory, sandboxoverhead.ErrReasonSandboxes)
	if strings.Contains(msg, sandboxfeatures.ErrReasonNodeLacks) && !strings.Contains(msg, "kata-qemu") {
		t.Errorf("SandboxFeatures' reason %q does not name the missing handler kata-qemu", msg)
	}
	t.Logf("Kata pod without a node selector Pending: %s", msg)
}

type auditOutput struct {
	Pods       int `json:"pods"`
	Violations []struct {
		Rule    string   `json:"rule"`
		Node    string   `json:"node"`
		Tenants []string `json:"tenants"`
		Pods    []string `json:"pods"`
		Message string   `json:"message"`
	} `json:"violations"`
}

func audit(t *testing.T) (auditOutput, int) {
	t.Helper()
	out, code := run(t, filepath.Join(e2e.bin, "mtscnctl"), "audit", "--kubeconfig", e2e.kubeconfig, "-o", "json")
	var a auditOutput
	if err := json.NewDecoder(bytes.NewReader([]byte(out))).Decode(&a); err != nil {
		t.Fatalf("mtscnctl audit -o json: %v\n%s", err, out)
	}
	return a, code
}

// TestAudit: what mtscn placed passes `mtscnctl audit`; a pod bound around
// the scheduler (spec.nodeName) next to another tenant's runc pod is
// reported.
func TestAudit(t *testing.T) {
	node := e2e.nodes[0]
	delta, epsilon := tenant(t, "delta"), tenant(t, "epsilon")
	first := create(t, pod(delta, "shared-kernel", "", node))
	waitRunning(t, first, time.Now())
	a, code := audit(t)
	if code != 0 || len(a.Violations) != 0 {
		t.Fatalf("mtscnctl audit after mtscn's placements: exit %d, violations %+v", code, a.Violations)
	}
	t.Logf("mtscnctl audit: %d pods, 0 violations", a.Pods)

	// The shipped admission policy refuses spec.nodeName on tenant pods...
	direct := pod(epsilon, "node-name", "", "")
	direct.Spec.NodeName = node
	if _, err := e2e.client.CoreV1().Pods(epsilon).Create(context.Background(), direct, metav1.CreateOptions{}); err == nil {
		t.Errorf("pod %s/%s with spec.nodeName was admitted; want the mtscn-pod-node-name policy to refuse it", epsilon, direct.Name)
		deletePod(t, epsilon, direct.Name)
	} else {
		t.Logf("pod with spec.nodeName refused: %v", err)
	}
	// ...so bind one around the scheduler through pods/binding.
	bypass := bindAround(t, pod(epsilon, "bound-by-hand", "", ""), node)
	waitRunning(t, bypass, time.Now())
	a, code = audit(t)
	if code != 1 {
		t.Errorf("mtscnctl audit with a pod bound around the scheduler: exit %d, want 1", code)
	}
	found := false
	for _, v := range a.Violations {
		if v.Node == node && strings.Contains(strings.Join(v.Pods, " "), epsilon+"/"+bypass.Name) {
			found = true
			t.Logf("mtscnctl audit reports %s on %s: %s", v.Rule, v.Node, v.Message)
		}
	}
	if !found {
		t.Errorf("mtscnctl audit does not report %s/%s on %s: %+v", epsilon, bypass.Name, node, a.Violations)
	}
}

// TestTwoNodes: pods of two runc tenants land on different nodes.
func TestTwoNodes(t *testing.T) {
	if len(e2e.nodes) < 2 {
		t.Skip("one node (E2E_NODES=1)")
	}
	zeta, eta := tenant(t, "zeta"), tenant(t, "eta")
	a := create(t, pod(zeta, "shared-kernel", "", ""))
	a, _ = waitRunning(t, a, time.Now())
	b := create(t, pod(eta, "shared-kernel", "", ""))
	b, _ = waitRunning(t, b, time.Now())
	if a.Spec.NodeName == b.Spec.NodeName {
		t.Fatalf("runc pods of tenants zeta and eta share node %s", a.Spec.NodeName)
	}
	t.Logf("runc pods of two tenants: %s/%s on %s, %s/%s on %s", zeta, a.Name, a.Spec.NodeName, eta, b.Name, b.Spec.NodeName)
}
