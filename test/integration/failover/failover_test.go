package failover

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/devcluster"
	"github.com/mtscn/mtscn/pkg/wellknown"
	"github.com/mtscn/mtscn/test/integration/harness"
)

const (
	tenants       = 8
	podsPerTenant = 250 // 2000 pods
	nodes         = 36
	// failAfter is how many pods are bound when the failure is injected.
	failAfter = 600
	// schedulerName is the shipped profile.
	schedulerName = "mtscn-scheduler"
)

// TestFailoverKillLeader kills the leading replica with SIGKILL in the
// middle of a 2000-pod run: the other replica must take the lease when it
// expires (the shipped leaseDuration) and finish the run.
func TestFailoverKillLeader(t *testing.T) {
	f := setup(t)
	leader := f.waitForLeader(t, nil, 0)
	f.createPods(t)
	f.waitBound(t, failAfter, 3*time.Minute)

	killedAt := time.Now()
	bound := f.watch.boundCount()
	run, err := leader.kill()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGKILL to the leader (%s) with %d of %d pods bound", leader.name, bound, f.total)
	next := f.waitForLeader(t, leader, run)
	_, nextRun, since := next.leader()
	f.waitBound(t, f.total, 3*time.Minute)
	all := f.watch.lastBind()
	t.Logf("failover: %s (process %d) took the lease %.1fs after the kill; all %d pods bound %.1fs after the kill",
		next.name, nextRun, since.Sub(killedAt).Seconds(), f.total, all.Sub(killedAt).Seconds())
	f.verify(t)
}

// TestFailoverRestartAPIServer restarts kube-apiserver in the middle of a
// 2000-pod run: the replicas reconnect (a leader that cannot renew its
// lease in time exits and is restarted, as the Deployment would) and the
// run completes.
func TestFailoverRestartAPIServer(t *testing.T) {
	f := setup(t)
	f.waitForLeader(t, nil, 0)
	f.createPods(t)
	f.waitBound(t, failAfter, 3*time.Minute)

	restartAt := time.Now()
	bound := f.watch.boundCount()
	if err := f.cluster.RestartAPIServer(f.ctx); err != nil {
		t.Fatalf("restarting kube-apiserver: %v", err)
	}
	up := time.Now()
	t.Logf("kube-apiserver restarted with %d of %d pods bound; down for %.1fs", bound, f.total, up.Sub(restartAt).Seconds())
	f.waitBound(t, f.total, 3*time.Minute)
	all := f.watch.lastBind()
	t.Logf("all %d pods bound %.1fs after the restart began", f.total, all.Sub(restartAt).Seconds())
	for _, r := range f.replicas {
		t.Logf("%s", strings.SplitN(r.describe(), ";", 2)[0])
	}
	f.verify(t)
}

// fixture is a control plane, the workload's objects and two replicas.
type fixture struct {
	ctx      context.Context
	cluster  *devcluster.Cluster
	replicas []*replica
	watch    *podWatch
	pods     []*v1.Pod
	total    int
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx, cluster := harness.StartDevCluster(t)
	f := &fixture{ctx: ctx, cluster: cluster}
	f.createCluster(t)
	f.watch = watchPods(t, f)

	config := writeConfig(t, cluster.KubeconfigPath)
	f.replicas = []*replica{startReplica(t, "replica-a", config), startReplica(t, "replica-b", config)}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range f.replicas {
				t.Log(r.describe())
			}
		}
	})
	return f
}

// createCluster makes the nodes (all able to run kata-qemu VMs), the
// RuntimeClasses, the lease's namespace and eight tenants: three run
// shared-kernel pods (each needs nodes of its own), one is exclusive, four
// share nodes in VMs.
func (f *fixture) createCluster(t *testing.T) {
	t.Helper()
	c := f.cluster.Client
	mustCreate := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("creating %s: %v", what, err)
		}
	}
	_, err := c.CoreV1().Namespaces().Create(f.ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mtscn-system"}}, metav1.CreateOptions{})
	mustCreate("namespace mtscn-system", err)
	_, err = c.NodeV1().RuntimeClasses().Create(f.ctx, &nodev1.RuntimeClass{
		ObjectMeta: metav1.ObjectMeta{Name: "kata-qemu"}, Handler: "kata-qemu",
		Overhead: &nodev1.Overhead{PodFixed: v1.ResourceList{v1.ResourceMemory: resource.MustParse("160Mi"), v1.ResourceCPU: resource.MustParse("250m")}},
	}, metav1.CreateOptions{})
	mustCreate("RuntimeClass kata-qemu", err)
	for i := range tenants {
		labels := map[string]string{wellknown.LabelTenant: fmt.Sprintf("tenant-%d", i)}
		if i == 3 {
			labels[wellknown.LabelNodeSharing] = wellknown.NodeSharingExclusive
		}
		_, err := c.CoreV1().Namespaces().Create(f.ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d", i), Labels: labels}}, metav1.CreateOptions{})
		mustCreate("a tenant namespace", err)
	}
	for i := range nodes {
		node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%02d", i), Labels: map[string]string{
			wellknown.LabelKVM: wellknown.ValueTrue, wellknown.RuntimeLabel("kata-qemu"): wellknown.ValueTrue,
		}}}
		created, err := c.CoreV1().Nodes().Create(f.ctx, node, metav1.CreateOptions{})
		mustCreate("a node", err)
		capacity := v1.ResourceList{v1.ResourceCPU: resource.MustParse("96"), v1.ResourceMemory: resource.MustParse("384Gi"), v1.ResourcePods: resource.MustParse("110")}
		now := metav1.Now()
		created.Status = v1.NodeStatus{Capacity: capacity, Allocatable: capacity,
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}}}
		_, err = c.CoreV1().Nodes().UpdateStatus(f.ctx, created, metav1.UpdateOptions{})
		mustCreate("a node's status", err)
	}
	for i := range tenants {
		for j := range podsPerTenant {
			pod := &v1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("t%d", i), Name: fmt.Sprintf("p-%03d", j)},
				Spec: v1.PodSpec{SchedulerName: schedulerName, Containers: []v1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10",
					Resources: v1.ResourceRequirements{
						Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("10m"), v1.ResourceMemory: resource.MustParse("64Mi")},
						Limits:   v1.ResourceList{v1.ResourceMemory: resource.MustParse("256Mi")},
					}}}},
			}
			if i >= 3 { // tenants 0-2 run shared-kernel pods
				pod.Spec.RuntimeClassName = ptr.To("kata-qemu")
			}
			f.pods = append(f.pods, pod)
		}
	}
	f.total = len(f.pods)
}

// createPods submits the workload from eight clients at once.
func (f *fixture) createPods(t *testing.T) {
	t.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(f.pods))
	work := make(chan *v1.Pod)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				created, err := f.cluster.Client.CoreV1().Pods(p.Namespace).Create(f.ctx, p, metav1.CreateOptions{})
				if err != nil {
					errs <- fmt.Errorf("creating pod %s/%s: %w", p.Namespace, p.Name, err)
					continue
				}
				f.watch.created(created)
			}
		}()
	}
	for _, p := range f.pods {
		work <- p
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("created %d pods in %.1fs", len(f.pods), time.Since(start).Seconds())
}

// waitForLeader waits until a process other than process notRun of slot
// not holds the lease.
func (f *fixture) waitForLeader(t *testing.T, not *replica, notRun int) *replica {
	t.Helper()
	var leader *replica
	err := wait.PollUntilContextTimeout(f.ctx, 100*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		for _, r := range f.replicas {
			if ok, run, _ := r.leader(); ok && !(r == not && run == notRun) {
				leader = r
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no replica took the lease within 2m")
	}
	return leader
}

// waitBound waits until n pods are bound.
func (f *fixture) waitBound(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	err := wait.PollUntilContextTimeout(f.ctx, 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return f.watch.boundCount() >= n, nil
	})
	if err != nil {
		t.Fatalf("%d of %d pods bound after %s, want %d", f.watch.boundCount(), f.total, timeout, n)
	}
}

// verify checks the end state: every pod created exists with the same UID
// and was bound once, to the node it is on now (the watch saw no second
// binding and no deletion), and pkg/audit, with the shipped
// configuration's policy, finds no violation.
func (f *fixture) verify(t *testing.T) {
	t.Helper()
	for _, problem := range f.watch.problems() {
		t.Error(problem)
	}
	snap, err := audit.ReadSnapshot(f.ctx, f.cluster.Client)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]*v1.Pod{}
	for _, p := range snap.Pods {
		byKey[p.Namespace+"/"+p.Name] = p
	}
	for _, want := range f.pods {
		key := want.Namespace + "/" + want.Name
		got, ok := byKey[key]
		switch {
		case !ok:
			t.Errorf("pod %s is lost", key)
		case got.UID != f.watch.uid(key):
			t.Errorf("pod %s was replaced (UID %s, created as %s)", key, got.UID, f.watch.uid(key))
		case got.Spec.NodeName == "":
			t.Errorf("pod %s is not bound", key)
		case got.Spec.NodeName != f.watch.firstNode(key):
			t.Errorf("pod %s is on %s, first bound to %s", key, got.Spec.NodeName, f.watch.firstNode(key))
		}
	}
	if len(snap.Pods) != f.total {
		t.Errorf("%d pods in the cluster, want %d", len(snap.Pods), f.total)
	}
	policy, err := audit.LoadPolicy(harness.ShippedConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	violations, err := audit.Audit(*snap, policy)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("audit: %s %s: %s", v.Rule, v.Node, v.Message)
	}
	used := map[string]bool{}
	for _, p := range snap.Pods {
		used[p.Spec.NodeName] = true
	}
	t.Logf("verified: %d pods bound once each on %d nodes, 0 violations of %s", f.total, len(used), policy)
}

// podWatch follows every pod through an informer (which re-lists across
// an API server restart) and records each binding.
type podWatch struct {
	mu        sync.Mutex
	uids      map[string]types.UID
	first     map[string]string // first node seen per pod
	bound     int
	last      time.Time
	trouble   []string
	informers informers.SharedInformerFactory
}

func watchPods(t *testing.T, f *fixture) *podWatch {
	t.Helper()
	w := &podWatch{uids: map[string]types.UID{}, first: map[string]string{}}
	w.informers = informers.NewSharedInformerFactory(f.cluster.Client, 0)
	inf := w.informers.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.observe(nil, obj.(*v1.Pod)) },
		UpdateFunc: func(old, obj any) { w.observe(old.(*v1.Pod), obj.(*v1.Pod)) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if p, ok := obj.(*v1.Pod); ok {
				w.note("pod %s/%s was deleted", p.Namespace, p.Name)
			}
		},
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); w.informers.Shutdown() })
	w.informers.Start(stop)
	w.informers.WaitForCacheSync(stop)
	return w
}

func (w *podWatch) note(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.trouble = append(w.trouble, fmt.Sprintf(format, args...))
}

// created records the UID the API server gave a pod.
func (w *podWatch) created(p *v1.Pod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := p.Namespace + "/" + p.Name
	if uid, ok := w.uids[key]; ok && uid != p.UID {
		w.trouble = append(w.trouble, fmt.Sprintf("pod %s seen with UID %s and created with %s", key, uid, p.UID))
	}
	w.uids[key] = p.UID
}

func (w *podWatch) observe(old, p *v1.Pod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := p.Namespace + "/" + p.Name
	if uid, ok := w.uids[key]; ok && uid != p.UID {
		w.trouble = append(w.trouble, fmt.Sprintf("pod %s changed UID from %s to %s", key, uid, p.UID))
	}
	w.uids[key] = p.UID
	if old != nil && old.Spec.NodeName != "" && old.Spec.NodeName != p.Spec.NodeName {
		w.trouble = append(w.trouble, fmt.Sprintf("pod %s moved from %s to %q", key, old.Spec.NodeName, p.Spec.NodeName))
	}
	if p.Spec.NodeName == "" {
		return
	}
	if first, seen := w.first[key]; seen {
		if first != p.Spec.NodeName {
			w.trouble = append(w.trouble, fmt.Sprintf("pod %s bound to %s, then to %s", key, first, p.Spec.NodeName))
		}
		return
	}
	w.first[key] = p.Spec.NodeName
	w.bound++
	w.last = time.Now()
}

func (w *podWatch) boundCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bound
}

func (w *podWatch) lastBind() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

func (w *podWatch) uid(key string) types.UID {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.uids[key]
}

func (w *podWatch) firstNode(key string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first[key]
}

func (w *podWatch) problems() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.trouble...)
}
