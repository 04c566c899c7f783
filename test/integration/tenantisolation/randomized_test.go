package tenantisolation

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/wellknown"
	"github.com/mtscn/mtscn/test/integration/harness"
)

// The randomized test runs shortScenarios seeded scenarios in a normal run,
// longScenarios with MTSCN_TEST_LONG=1 (make test-long), several at once
// (go test -parallel). MTSCN_SEED=<n> replays one scenario; MTSCN_SEEDS=<n>
// runs n scenarios from MTSCN_SEED_BASE (default 1).
const (
	shortScenarios = 4
	longScenarios  = 1000
)

// scenario is one randomly generated cluster history.
type scenario struct {
	seed       uint64
	group      string
	namespaces []*v1.Namespace
	nodes      []*v1.Node
	steps      []step
}

// step is one event of a scenario (randomized_events_test.go): create a
// pod, delete a bound or a nominated one, relax a namespace's or a node's
// policy, take a runtime handler off a node and back, delete a
// RuntimeClass and create it again.
type step struct {
	kind   stepKind
	pod    *v1.Pod // stepCreate
	delete int     // stepDelete, stepDeleteNominated: the delete-th pod (modulo), if any
	target int     // the namespace or node index (modulo)
	rc     string  // stepDeleteRC, stepRecreateRC: the scenario's RuntimeClass
}

var tenantKeys = []string{wellknown.LabelTenant, "capsule.clastix.io/tenant", "projectcapsule.dev/tenant", ""}

func generate(seed uint64) scenario {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := scenario{seed: seed, group: fmt.Sprintf("rnd%d", seed)}
	tenants := 2 + r.IntN(3)
	for t := range tenants {
		for n := range 1 + r.IntN(2) {
			name := fmt.Sprintf("%s-t%d-%d", s.group, t, n)
			labels := map[string]string{}
			key := tenantKeys[r.IntN(len(tenantKeys))]
			if key != "" {
				labels[key] = fmt.Sprintf("%s-tenant%d", s.group, t)
			} else if n > 0 {
				// A namespace without tenant labels is its own tenant.
				labels[wellknown.LabelTenant] = fmt.Sprintf("%s-tenant%d", s.group, t)
			}
			if r.IntN(5) == 0 {
				labels[wellknown.LabelNodeSharing] = wellknown.NodeSharingExclusive
			}
			if r.IntN(4) == 0 {
				labels[wellknown.LabelSandboxPolicy] = wellknown.SandboxRequired
			}
			s.namespaces = append(s.namespaces, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
		}
	}
	for i := range 2 + r.IntN(4) {
		var labels map[string]string
		if r.IntN(4) == 0 {
			labels = map[string]string{wellknown.LabelCotenancySafe: "false"}
		}
		s.nodes = append(s.nodes, makeNode(fmt.Sprintf("%s-n%d", s.group, i), s.group, labels))
	}
	runtimes := []string{"", s.rc(rcRunc), s.rc(rcKata), s.rc(rcKata), s.rc(rcCLH)}
	priorities := []string{"", "", pcMid, pcHigh}
	pods := 6 + r.IntN(12)
	events := newEventGen()
	for i := range pods {
		if i > 2 {
			s.steps = append(s.steps, events.next(r, s)...)
		}
		ns := s.namespaces[r.IntN(len(s.namespaces))].Name
		s.steps = append(s.steps, step{pod: makePod(ns, fmt.Sprintf("p%d", i), s.group, runtimes[r.IntN(len(runtimes))], priorities[r.IntN(len(priorities))])})
	}
	s.steps = append(s.steps, events.restore(s)...)
	return s
}

func (s scenario) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d\n", s.seed)
	for _, ns := range s.namespaces {
		fmt.Fprintf(&b, "  namespace %s %v\n", ns.Name, ns.Labels)
	}
	for _, n := range s.nodes {
		fmt.Fprintf(&b, "  node %s cotenancy-safe=%q\n", n.Name, n.Labels[wellknown.LabelCotenancySafe])
	}
	for _, st := range s.steps {
		if st.kind != stepCreate {
			fmt.Fprintf(&b, "  %s\n", st.describe(s))
			continue
		}
		rc := ""
		if st.pod.Spec.RuntimeClassName != nil {
			rc = *st.pod.Spec.RuntimeClassName
		}
		fmt.Fprintf(&b, "  create %s/%s runtimeClass=%q priorityClass=%q\n", st.pod.Namespace, st.pod.Name, rc, st.pod.Spec.PriorityClassName)
	}
	return b.String()
}

func scenarioSeeds(t *testing.T) []uint64 {
	if v := os.Getenv("MTSCN_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("MTSCN_SEED=%q: want an unsigned integer", v)
		}
		return []uint64{seed}
	}
	n := shortScenarios
	if os.Getenv("MTSCN_TEST_LONG") == "1" {
		n = longScenarios
	}
	if v := os.Getenv("MTSCN_SEEDS"); v != "" {
		c, err := strconv.Atoi(v)
		if err != nil || c < 1 {
			t.Fatalf("MTSCN_SEEDS=%q: want a positive number of scenarios", v)
		}
		n = c
	}
	// A fixed base keeps CI reproducible; MTSCN_SEED_BASE explores others.
	base := uint64(1)
	if v := os.Getenv("MTSCN_SEED_BASE"); v != "" {
		b, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("MTSCN_SEED_BASE=%q: want an unsigned integer", v)
		}
		base = b
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = base + uint64(i)
	}
	return seeds
}

// TestRandomized runs seeded scenarios (tenants with random policies and
// label keys, shared-kernel and sandboxed pods, priorities that preempt,
// deletions, cotenancy-unsafe nodes) through the shipped scheduler, then
// checks with pkg/audit that the cluster breaks none of I1-I4 and that no
// pod is left pending while the auditor can name a node legal for it.
func TestRandomized(t *testing.T) {
	cp := setupCluster(t)
	opts := auditOptions()
	parallel := os.Getenv("MTSCN_TEST_LONG") == "1"
	for _, seed := range scenarioSeeds(t) {
		s := generate(seed)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("replay with: MTSCN_SEED=%d go test ./test/integration/tenantisolation -run 'TestRandomized'\n%s", seed, s)
				}
			})
			if parallel {
				// Scenarios share the scheduler but nothing else: each has
				// its own nodes, namespaces and RuntimeClasses.
				t.Parallel()
			}
			runScenario(t, cp, s, opts)
		})
	}
}

// auditOptions classify as the shipped configuration does.
func auditOptions() audit.IsolationOptions {
	var args configv1.TenantIsolationArgs
	configv1.SetDefaults_TenantIsolationArgs(&args)
	return audit.IsolationOptions{Tenancy: tenancy.Config{
		TenantLabelKeys:          args.TenantLabelKeys,
		InfrastructureNamespaces: args.InfrastructureNamespaces,
		SandboxedHandlers:        args.SandboxedHandlers,
		OffNodeHandlers:          args.OffNodeHandlers,
	}}
}

func runScenario(t *testing.T, cp *harness.ControlPlane, s scenario, opts audit.IsolationOptions) {
	ctx, cancel := context.WithCancel(cp.Ctx)
	defer cancel()
	var nsNames []string
	for _, ns := range s.namespaces {
		cp.CreateNamespace(t, ns.Name, ns.Labels)
		nsNames = append(nsNames, ns.Name)
	}
	for _, n := range s.nodes {
		cp.CreateNode(t, n)
	}
	createRuntimeClasses(t, cp, s)
	go fakeKubelet(ctx, cp, nsNames...)
	defer cleanup(t, cp, s, nsNames)

	for _, st := range s.steps {
		// A loaded machine times requests out (etcd, apiserver): retry
		// them; every step may be repeated safely.
		if err := harness.Retry(cp.Ctx, st.describe(s), func(context.Context) error { return apply(cp, s, nsNames, st) }); err != nil {
			t.Fatal(err)
		}
		if st.kind == stepCreate {
			time.Sleep(20 * time.Millisecond)
		}
	}

	if last, err := settle(t, cp, s, nsNames); err != nil {
		t.Fatalf("cluster did not settle: %v; placement:\n%s", err, last)
	}

	snap := snapshot(t, cp, s, nsNames)
	pending := 0
	for _, p := range snap.Pods {
		if p.Spec.NodeName == "" {
			pending++
		}
	}
	t.Logf("%d pods bound, %d pending, on %d nodes", len(snap.Pods)-pending, pending, len(snap.Nodes))
	for _, v := range audit.Check(snap, opts) {
		t.Errorf("violation %s on %s: %s", v.Rule, v.Node, v.Message)
	}

	// A pod may stay pending only when no node is legal for it. A pod that
	// has a legal node must get bound without waiting for the periodic
	// flush of unschedulable pods (5 minutes): within the maximum backoff.
	for _, p := range snap.Pods {
		if p.Spec.NodeName != "" {
			continue
		}
		if legal := audit.LegalNodes(snap, opts, p); len(legal) > 0 {
			if node := waitBound(cp, p.Namespace, p.Name, beforeFlush(p)); node == "" {
				t.Errorf("pod %s/%s pending although nodes %v are legal for it (%s)", p.Namespace, p.Name, legal, scheduledCondition(p))
			}
		}
	}
	// Late bindings must not break the invariant either.
	for _, v := range audit.Check(snapshot(t, cp, s, nsNames), opts) {
		t.Errorf("violation %s on %s after late bindings: %s", v.Rule, v.Node, v.Message)
	}
}

// Settling waits as long as the cluster makes progress: it fails when no
// pod changed for stallTimeout, or after maxSettle. On a loaded machine the
// scheduler and the API server are slow, not stuck.
const (
	stallTimeout = 60 * time.Second
	maxSettle    = 10 * time.Minute
)

// settle waits until every pod is bound or marked unschedulable, nothing is
// terminating or nominated, and the placement is the same twice in a row.
// It returns the last placement.
func settle(t *testing.T, cp *harness.ControlPlane, s scenario, nsNames []string) (string, error) {
	var last, lastProgress string
	start, progressAt := time.Now(), time.Now()
	for {
		snap := snapshot(t, cp, s, nsNames)
		sig, settled := placement(snap)
		if settled && sig == last {
			return sig, nil
		}
		last = sig
		if p := progress(snap); p != lastProgress {
			lastProgress, progressAt = p, time.Now()
		}
		switch {
		case time.Since(progressAt) > stallTimeout:
			return last, fmt.Errorf("no pod changed for %v", stallTimeout)
		case time.Since(start) > maxSettle:
			return last, fmt.Errorf("still changing after %v", maxSettle)
		}
		select {
		case <-cp.Ctx.Done():
			return last, cp.Ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// progress changes whenever any pod of the scenario does (placement,
// nomination, deletion, a new scheduling condition: its resourceVersion).
func progress(snap audit.Snapshot) string {
	var b strings.Builder
	for _, p := range snap.Pods {
		fmt.Fprintf(&b, "%s/%s %s %s\n", p.Namespace, p.Name, p.ResourceVersion, p.Spec.NodeName)
	}
	return b.String()
}

// unschedulableFlush is how long kube-scheduler keeps a pod among the
// unschedulable ones before it retries it without any event
// (podMaxInUnschedulablePodsDuration).
const unschedulableFlush = 5 * time.Minute

// beforeFlush returns how long a pending pod may still take to be bound
// before the periodic flush could be what retried it: the flush comes no
// sooner than 5 minutes after the pod was first marked unschedulable
// (later attempts only push it back). It is at least 25s (2.5 times the
// maximum backoff) and at most 3 minutes.
func beforeFlush(p *v1.Pod) time.Duration {
	d := 25 * time.Second
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && !c.LastTransitionTime.IsZero() {
			d = max(d, min(time.Until(c.LastTransitionTime.Add(unschedulableFlush-10*time.Second)), 3*time.Minute))
		}
	}
	return d
}

func waitBound(cp *harness.ControlPlane, ns, name string, timeout time.Duration) string {
	var node string
	_ = wait.PollUntilContextTimeout(cp.Ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cp.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		node = p.Spec.NodeName
		return node != "", nil
	})
	return node
}

func scheduledCondition(p *v1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled {
			return c.Reason + ": " + c.Message
		}
	}
	return "no PodScheduled condition"
}

// snapshot reads the scenario's part of the cluster from the API server.
// Reads are retried on transient errors (harness.Retry).
func snapshot(t *testing.T, cp *harness.ControlPlane, s scenario, namespaces []string) audit.Snapshot {
	var snap audit.Snapshot
	read := func(what string, fn func(ctx context.Context) error) {
		t.Helper()
		if err := harness.Retry(cp.Ctx, what, fn); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range s.nodes {
		read("reading node "+n.Name, func(ctx context.Context) error {
			node, err := cp.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err == nil {
				snap.Nodes = append(snap.Nodes, node)
			}
			return err
		})
	}
	for _, name := range namespaces {
		read("reading namespace "+name, func(ctx context.Context) error {
			ns, err := cp.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			if err == nil {
				snap.Namespaces = append(snap.Namespaces, ns)
			}
			return err
		})
		read("listing pods of "+name, func(ctx context.Context) error {
			pods, err := cp.Client.CoreV1().Pods(name).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			for i := range pods.Items {
				snap.Pods = append(snap.Pods, &pods.Items[i])
			}
			return nil
		})
	}
	read("listing RuntimeClasses", func(ctx context.Context) error {
		rcs, err := cp.Client.NodeV1().RuntimeClasses().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for i := range rcs.Items {
			snap.RuntimeClasses = append(snap.RuntimeClasses, &rcs.Items[i])
		}
		return nil
	})
	return snap
}

// placement describes where every pod is; settled is false while a pod is
// terminating, nominated or not yet looked at by the scheduler.
func placement(snap audit.Snapshot) (sig string, settled bool) {
	var b strings.Builder
	settled = true
	for _, p := range snap.Pods {
		state := p.Spec.NodeName
		if state == "" {
			state = "pending"
			if p.Status.NominatedNodeName != "" {
				settled = false
			}
			if !strings.HasPrefix(scheduledCondition(p), v1.PodReasonUnschedulable) {
				settled = false
			}
		}
		if p.DeletionTimestamp != nil {
			settled = false
		}
		fmt.Fprintf(&b, "%s/%s %s\n", p.Namespace, p.Name, state)
	}
	return b.String(), settled
}

// cleanup deletes the scenario's pods and nodes so that later scenarios
// schedule on a small cluster. Namespaces stay (deleting them needs the
// namespace controller); their names are unique per seed.
func cleanup(t *testing.T, cp *harness.ControlPlane, s scenario, namespaces []string) {
	for _, ns := range namespaces {
		if err := harness.Retry(cp.Ctx, "deleting pods of "+ns, func(ctx context.Context) error {
			return cp.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}, metav1.ListOptions{})
		}); err != nil {
			t.Error(err)
		}
	}
	for _, n := range s.nodes {
		if err := harness.Retry(cp.Ctx, "deleting node "+n.Name, func(ctx context.Context) error {
			return cp.Client.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{})
		}); err != nil {
			t.Error(err)
		}
	}
	for _, rc := range scenarioRuntimeClasses {
		if err := harness.Retry(cp.Ctx, "deleting RuntimeClass "+s.rc(rc.name), func(ctx context.Context) error {
			return cp.Client.NodeV1().RuntimeClasses().Delete(ctx, s.rc(rc.name), metav1.DeleteOptions{})
		}); err != nil {
			t.Error(err)
		}
	}
}
