package tenantisolation

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/mtscn/mtscn/pkg/plugins/tenantisolation"
	"github.com/mtscn/mtscn/pkg/wellknown"
	"github.com/mtscn/mtscn/test/integration/harness"
)

const (
	bindTimeout = 20 * time.Second
	// requeueTimeout is far below the 5-minute flush of unschedulable pods:
	// a pod bound within it was requeued by a QueueingHint.
	requeueTimeout = 30 * time.Second
)

func tenantNS(tenant string, labels map[string]string) map[string]string {
	l := map[string]string{wellknown.LabelTenant: tenant}
	for k, v := range labels {
		l[k] = v
	}
	return l
}

func expectReason(t *testing.T, cp *harness.ControlPlane, ns, name, reason string) {
	t.Helper()
	msg := cp.WaitForUnschedulable(t, ns, name, bindTimeout)
	if !strings.Contains(msg, reason) {
		t.Fatalf("pod %s/%s unschedulable with %q, want the reason %q", ns, name, msg, reason)
	}
}

// TestRules runs every isolation rule through the shipped scheduler. Each
// subtest has its own nodes (pods select them by label) and namespaces.
func TestRules(t *testing.T) {
	cp := setupCluster(t)

	t.Run("I1 shared-kernel pods get a node per tenant", func(t *testing.T) {
		g := "i1"
		cp.CreateNode(t, makeNode("i1-a", g, nil))
		cp.CreateNode(t, makeNode("i1-b", g, nil))
		for _, tenant := range []string{"i1-t1", "i1-t2", "i1-t3"} {
			cp.CreateNamespace(t, tenant, tenantNS(tenant, nil))
		}
		cp.CreatePod(t, makePod("i1-t1", "p", g, "", ""))
		n1 := cp.WaitForBound(t, "i1-t1", "p", bindTimeout)
		cp.CreatePod(t, makePod("i1-t2", "p", g, rcRunc, ""))
		n2 := cp.WaitForBound(t, "i1-t2", "p", bindTimeout)
		if n1 == n2 {
			t.Fatalf("shared-kernel pods of two tenants were both bound to %s", n1)
		}
		cp.CreatePod(t, makePod("i1-t3", "vm", g, rcKata, ""))
		expectReason(t, cp, "i1-t3", "vm", tenantisolation.ErrReasonSharedKernelOtherTenant)
		// Its own tenant's second pod still fits, on its tenant's node.
		cp.CreatePod(t, makePod("i1-t1", "q", g, rcRunc, ""))
		if got := cp.WaitForBound(t, "i1-t1", "q", bindTimeout); got != n1 {
			t.Errorf("second pod of tenant i1-t1 bound to %s, want its tenant's node %s", got, n1)
		}
	})

	t.Run("I1 two namespaces of one tenant share a node", func(t *testing.T) {
		g := "same"
		cp.CreateNode(t, makeNode("same-a", g, nil))
		cp.CreateNamespace(t, "same-web", map[string]string{"capsule.clastix.io/tenant": "acme"})
		cp.CreateNamespace(t, "same-db", map[string]string{"projectcapsule.dev/tenant": "acme"})
		cp.CreatePod(t, makePod("same-web", "p", g, "", ""))
		cp.CreatePod(t, makePod("same-db", "p", g, "", ""))
		cp.WaitForBound(t, "same-web", "p", bindTimeout)
		cp.WaitForBound(t, "same-db", "p", bindTimeout)
	})

	t.Run("VMs of many tenants share a node", func(t *testing.T) {
		g := "vms"
		cp.CreateNode(t, makeNode("vms-a", g, nil))
		for _, tenant := range []string{"vms-t1", "vms-t2", "vms-t3"} {
			cp.CreateNamespace(t, tenant, tenantNS(tenant, nil))
			cp.CreatePod(t, makePod(tenant, "vm", g, rcKata, ""))
		}
		for _, tenant := range []string{"vms-t1", "vms-t2", "vms-t3"} {
			cp.WaitForBound(t, tenant, "vm", bindTimeout)
		}
		cp.CreatePod(t, makePod("vms-t1", "shared-kernel", g, "", ""))
		expectReason(t, cp, "vms-t1", "shared-kernel", tenantisolation.ErrReasonSharedKernelNeedsOwnNode)
	})

	t.Run("I2 exclusive tenant", func(t *testing.T) {
		g := "i2"
		cp.CreateNode(t, makeNode("i2-a", g, nil))
		cp.CreateNamespace(t, "i2-excl", tenantNS("i2-excl", map[string]string{wellknown.LabelNodeSharing: wellknown.NodeSharingExclusive}))
		cp.CreateNamespace(t, "i2-other", tenantNS("i2-other", nil))
		cp.CreatePod(t, makePod("i2-excl", "vm", g, rcKata, ""))
		cp.WaitForBound(t, "i2-excl", "vm", bindTimeout)
		cp.CreatePod(t, makePod("i2-other", "vm", g, rcKata, ""))
		expectReason(t, cp, "i2-other", "vm", tenantisolation.ErrReasonExclusiveOtherTenant)
	})

	t.Run("I3 sandbox required, requeued when the namespace policy changes", func(t *testing.T) {
		g := "i3"
		cp.CreateNode(t, makeNode("i3-a", g, nil))
		cp.CreateNamespace(t, "i3-req", tenantNS("i3-req", map[string]string{wellknown.LabelSandboxPolicy: wellknown.SandboxRequired}))
		cp.CreatePod(t, makePod("i3-req", "vm", g, rcCLH, ""))
		cp.WaitForBound(t, "i3-req", "vm", bindTimeout)
		cp.CreatePod(t, makePod("i3-req", "runc", g, rcRunc, ""))
		expectReason(t, cp, "i3-req", "runc", tenantisolation.ErrReasonSandboxRequired)

		ns, err := cp.Client.CoreV1().Namespaces().Get(cp.Ctx, "i3-req", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ns.Labels[wellknown.LabelSandboxPolicy] = wellknown.SandboxOptional
		if _, err := cp.Client.CoreV1().Namespaces().Update(cp.Ctx, ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		cp.WaitForBound(t, "i3-req", "runc", requeueTimeout)
	})

	t.Run("I4 cotenancy-unsafe node, requeued when the agent marks it safe", func(t *testing.T) {
		g := "i4"
		cp.CreateNode(t, makeNode("i4-a", g, map[string]string{wellknown.LabelCotenancySafe: "false"}))
		cp.CreateNamespace(t, "i4-t1", tenantNS("i4-t1", nil))
		cp.CreateNamespace(t, "i4-t2", tenantNS("i4-t2", nil))
		cp.CreatePod(t, makePod("i4-t1", "vm", g, rcKata, ""))
		cp.WaitForBound(t, "i4-t1", "vm", bindTimeout)
		cp.CreatePod(t, makePod("i4-t2", "vm", g, rcKata, ""))
		expectReason(t, cp, "i4-t2", "vm", tenantisolation.ErrReasonCotenancyUnsafe)

		node, err := cp.Client.CoreV1().Nodes().Get(cp.Ctx, "i4-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		node.Labels[wellknown.LabelCotenancySafe] = wellknown.ValueTrue
		if _, err := cp.Client.CoreV1().Nodes().Update(cp.Ctx, node, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		cp.WaitForBound(t, "i4-t2", "vm", requeueTimeout)
	})

	t.Run("infrastructure pods neither block nor are blocked", func(t *testing.T) {
		g := "infra"
		cp.CreateNode(t, makeNode("infra-a", g, nil))
		cp.CreateNamespace(t, "infra-t1", tenantNS("infra-t1", nil))
		cp.CreateNamespace(t, "infra-mon", map[string]string{wellknown.LabelInfrastructure: "true"})
		cp.CreatePod(t, makePod("infra-mon", "agent", g, "", ""))
		cp.WaitForBound(t, "infra-mon", "agent", bindTimeout)
		cp.CreatePod(t, makePod("infra-t1", "p", g, "", ""))
		cp.WaitForBound(t, "infra-t1", "p", bindTimeout)
		cp.CreatePod(t, makePod("kube-system", "infra-ds", g, "", ""))
		cp.WaitForBound(t, "kube-system", "infra-ds", bindTimeout)
	})

	t.Run("a pod is requeued when the conflicting pod is deleted", func(t *testing.T) {
		g := "del"
		cp.CreateNode(t, makeNode("del-a", g, nil))
		cp.CreateNamespace(t, "del-t1", tenantNS("del-t1", nil))
		cp.CreateNamespace(t, "del-t2", tenantNS("del-t2", nil))
		cp.CreatePod(t, makePod("del-t1", "p", g, "", ""))
		cp.WaitForBound(t, "del-t1", "p", bindTimeout)
		cp.CreatePod(t, makePod("del-t2", "vm", g, rcKata, ""))
		expectReason(t, cp, "del-t2", "vm", tenantisolation.ErrReasonSharedKernelOtherTenant)
		start := time.Now()
		if err := forceDelete(cp.Ctx, cp, "del-t1", "p"); err != nil {
			t.Fatal(err)
		}
		cp.WaitForBound(t, "del-t2", "vm", requeueTimeout)
		t.Logf("bound %v after the conflicting pod was deleted", time.Since(start).Round(100*time.Millisecond))
	})

	t.Run("a pod is requeued when its namespace's tenant changes", func(t *testing.T) {
		g := "merge"
		cp.CreateNode(t, makeNode("merge-a", g, nil))
		cp.CreateNamespace(t, "merge-t1", tenantNS("merge-t1", nil))
		cp.CreateNamespace(t, "merge-t2", tenantNS("merge-t2", nil))
		cp.CreatePod(t, makePod("merge-t1", "p", g, "", ""))
		cp.WaitForBound(t, "merge-t1", "p", bindTimeout)
		cp.CreatePod(t, makePod("merge-t2", "p", g, "", ""))
		expectReason(t, cp, "merge-t2", "p", tenantisolation.ErrReasonSharedKernelOtherTenant)
		ns, err := cp.Client.CoreV1().Namespaces().Get(cp.Ctx, "merge-t2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ns.Labels[wellknown.LabelTenant] = "merge-t1"
		if _, err := cp.Client.CoreV1().Namespaces().Update(cp.Ctx, ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		cp.WaitForBound(t, "merge-t2", "p", requeueTimeout)
	})

	t.Run("Score: VMs join their tenant's node, then shared nodes, not empty ones", func(t *testing.T) {
		g := "score"
		for _, n := range []string{"score-a", "score-b", "score-c", "score-d"} {
			cp.CreateNode(t, makeNode(n, g, nil))
		}
		cp.CreateNamespace(t, "score-t1", tenantNS("score-t1", nil))
		cp.CreateNamespace(t, "score-t2", tenantNS("score-t2", nil))
		cp.CreatePod(t, makePod("score-t1", "vm0", g, rcKata, ""))
		home := cp.WaitForBound(t, "score-t1", "vm0", bindTimeout)
		for _, name := range []string{"vm1", "vm2", "vm3"} {
			cp.CreatePod(t, makePod("score-t1", name, g, rcKata, ""))
			if got := cp.WaitForBound(t, "score-t1", name, bindTimeout); got != home {
				t.Errorf("VM %s of tenant score-t1 bound to %s, want its tenant's node %s", name, got, home)
			}
		}
		cp.CreatePod(t, makePod("score-t2", "vm", g, rcKata, ""))
		if got := cp.WaitForBound(t, "score-t2", "vm", bindTimeout); got != home {
			t.Errorf("VM of tenant score-t2 bound to %s, want the node already shared by VMs, %s", got, home)
		}
		cp.CreatePod(t, makePod("score-t2", "runc", g, rcRunc, ""))
		if got := cp.WaitForBound(t, "score-t2", "runc", bindTimeout); got == home {
			t.Errorf("shared-kernel pod bound to the shared node %s", got)
		}
	})
}

// TestPreemptionAcrossTenants checks that a tenant conflict is resolvable by
// preemption: a high-priority VM evicts the lower-priority shared-kernel pod
// of another tenant that holds the only node, but not that tenant's VM, which
// may share the node; and a pod whose rejection preemption cannot fix (I3)
// evicts nobody.
func TestPreemptionAcrossTenants(t *testing.T) {
	cp := setupCluster(t)
	g := "preempt"
	cp.CreateNode(t, makeNode("preempt-a", g, nil))
	cp.CreateNamespace(t, "low", tenantNS("low", nil))
	cp.CreateNamespace(t, "high", tenantNS("high", nil))
	cp.CreateNamespace(t, "strict", tenantNS("strict", map[string]string{wellknown.LabelSandboxPolicy: wellknown.SandboxRequired}))
	ctx, cancel := context.WithCancel(cp.Ctx)
	defer cancel()
	go fakeKubelet(ctx, cp, "low", "high", "strict")

	cp.CreatePod(t, makePod("low", "victim", g, "", pcMid))
	cp.CreatePod(t, makePod("low", "victim-vm", g, rcKata, ""))
	cp.WaitForBound(t, "low", "victim", bindTimeout)
	cp.WaitForBound(t, "low", "victim-vm", bindTimeout)

	// Cannot be fixed by preemption: must not evict anything.
	cp.CreatePod(t, makePod("strict", "runc", g, "", pcHigh))
	expectReason(t, cp, "strict", "runc", tenantisolation.ErrReasonSandboxRequired)

	cp.CreatePod(t, makePod("high", "preemptor", g, rcKata, pcHigh))
	node := cp.WaitForBound(t, "high", "preemptor", requeueTimeout)
	if node != "preempt-a" {
		t.Fatalf("preemptor bound to %s, want preempt-a", node)
	}
	pods, err := cp.Client.CoreV1().Pods("low").List(cp.Ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	left := sets.New[string]()
	for _, p := range pods.Items {
		left.Insert(p.Name)
	}
	// Preemption evicts only what makes the node eligible: the other
	// tenant's shared-kernel pod; its VM may stay beside the preemptor's VM.
	if want := sets.New("victim-vm"); !left.Equal(want) {
		t.Errorf("pods left in namespace low: %v, want %v", sets.List(left), sets.List(want))
	}
	// The I3 pod still waits, and evicted nobody of its own.
	p, err := cp.Client.CoreV1().Pods("strict").Get(cp.Ctx, "runc", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != "" || p.Status.NominatedNodeName != "" {
		t.Errorf("I3 pod: node %q, nominated %q; want neither", p.Spec.NodeName, p.Status.NominatedNodeName)
	}
}
