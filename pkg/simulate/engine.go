package simulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/devcluster"
	"github.com/mtscn/mtscn/pkg/schedulercmd"
	"github.com/mtscn/mtscn/pkg/tenancy"
)

// Scenario is a cluster to build and the pods to schedule on it.
type Scenario struct {
	Nodes          []*v1.Node
	Namespaces     []*v1.Namespace
	RuntimeClasses []*nodev1.RuntimeClass
	// ExistingPods are already bound (spec.nodeName set): created as they
	// are, bypassing the scheduler.
	ExistingPods []*v1.Pod
	// NewPods are submitted to the scheduler one at a time, in order.
	NewPods []*v1.Pod
}

// Outcome is what happened to one new pod.
type Outcome struct {
	Namespace, Name string
	// Tenant is the pod's tenant (pkg/tenancy).
	Tenant string
	// RuntimeClass is the pod's runtimeClassName ("" for the default runtime).
	RuntimeClass string
	// Node is where the pod was bound, "" when it is pending.
	Node string
	// Reason is the scheduler's PodScheduled=False message for a pending pod.
	Reason string
}

// Result is the state after a run.
type Result struct {
	// Outcomes of the new pods, in submission order.
	Outcomes []Outcome
	// Snapshot is the cluster as read back from the API server at the end.
	Snapshot audit.Snapshot
}

// Options configure an Engine.
type Options struct {
	// SchedulerConfig is a KubeSchedulerConfiguration file; empty means
	// DefaultSchedulerConfig.
	SchedulerConfig string
	// Cluster configures the embedded control plane.
	Cluster devcluster.Options
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
	// PodTimeout bounds the wait for one pod's first scheduling attempt.
	PodTimeout time.Duration
	// WithDefaultScheduler also runs kube-scheduler's default profile
	// (schedulerName default-scheduler), for comparisons.
	WithDefaultScheduler bool
}

// DefaultSchedulerConfig is the shipped configuration's path relative to
// the repository root.
const DefaultSchedulerConfig = "manifests/scheduler/scheduler-config.yaml"

// Engine is an embedded control plane with mtscn-scheduler running: the
// machinery behind `mtscnctl demo` and `mtscnctl simulate`.
type Engine struct {
	Cluster   *devcluster.Cluster
	Scheduler *devcluster.Scheduler
	// Policy is what the configuration's mtscn-scheduler profile enforces
	// (its TenantIsolation and SandboxOverhead args): the reports classify,
	// size and audit pods by it.
	Policy *audit.Policy

	progress   io.Writer
	podTimeout time.Duration
	start      time.Time
}

// Start starts the control plane and the scheduler.
func Start(ctx context.Context, opts Options) (_ *Engine, err error) {
	e := &Engine{progress: opts.Progress, podTimeout: opts.PodTimeout, start: time.Now()}
	if e.podTimeout == 0 {
		e.podTimeout = 30 * time.Second
	}
	path := opts.SchedulerConfig
	if path == "" {
		path = DefaultSchedulerConfig
	}
	cfg, err := devcluster.LoadSchedulerConfig(ctx, path)
	if errors.Is(err, fs.ErrNotExist) && path == DefaultSchedulerConfig {
		return nil, fmt.Errorf("%w (run from the repository root, or pass --scheduler-config with the path of scheduler-config.yaml)", err)
	}
	if err != nil {
		return nil, err
	}
	if e.Policy, err = audit.PolicyFromConfig(cfg, schedulercmd.SchedulerName, path); err != nil {
		return nil, err
	}
	if opts.WithDefaultScheduler {
		def, err := devcluster.DefaultProfile()
		if err != nil {
			return nil, err
		}
		cfg.Profiles = append(cfg.Profiles, def)
	}
	e.Progressf("starting etcd and kube-apiserver")
	if e.Cluster, err = devcluster.Start(ctx, opts.Cluster); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = e.Cluster.Stop()
		}
	}()
	e.Progressf("control plane up at %s", e.Cluster.APIServerURL)
	if e.Scheduler, err = e.Cluster.StartScheduler(ctx, cfg); err != nil {
		return nil, err
	}
	e.Progressf("%s running in-process (%s)", schedulercmd.SchedulerName, path)
	return e, nil
}

// Stop stops the scheduler and the control plane.
func (e *Engine) Stop() error {
	e.Scheduler.Stop()
	return e.Cluster.Stop()
}

// Progressf prints a progress line with the time since Start.
func (e *Engine) Progressf(format string, args ...any) {
	if e.progress == nil {
		return
	}
	fmt.Fprintf(e.progress, "[%5.1fs] %s\n", time.Since(e.start).Seconds(), fmt.Sprintf(format, args...))
}

// Run builds the scenario (Setup) and schedules its new pods with
// mtscn-scheduler (Schedule).
func (e *Engine) Run(ctx context.Context, sc *Scenario) (*Result, error) {
	if err := e.Setup(ctx, sc); err != nil {
		return nil, err
	}
	return e.Schedule(ctx, sc.NewPods, schedulercmd.SchedulerName)
}

// Setup creates the scenario's Namespaces, RuntimeClasses, Nodes (Ready,
// as a kubelet would report them) and existing pods.
func (e *Engine) Setup(ctx context.Context, sc *Scenario) error {
	client := e.Cluster.Client
	for _, ns := range sc.Namespaces {
		if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating Namespace %q: %w", ns.Name, err)
		}
	}
	for _, rc := range sc.RuntimeClasses {
		if _, err := client.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating RuntimeClass %q: %w", rc.Name, err)
		}
	}
	for _, n := range sc.Nodes {
		if err := e.createNode(ctx, n); err != nil {
			return err
		}
	}
	e.Progressf("created %d nodes, %d namespaces, %d runtime classes", len(sc.Nodes), len(sc.Namespaces), len(sc.RuntimeClasses))
	for _, p := range sc.ExistingPods {
		if _, err := client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating existing Pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	if len(sc.ExistingPods) > 0 {
		e.Progressf("bound %d existing pods directly", len(sc.ExistingPods))
	}
	return nil
}

// Schedule submits pods to the named scheduler one at a time, in order
// (each waits for its first scheduling attempt, so that placements follow
// the file's order), waits until the scheduler has nothing left to retry
// and reads the cluster back.
func (e *Engine) Schedule(ctx context.Context, pods []*v1.Pod, schedulerName string) (*Result, error) {
	client := e.Cluster.Client
	e.Progressf("submitting %d pods to %s", len(pods), schedulerName)
	for i, p := range pods {
		p = p.DeepCopy()
		p.Spec.SchedulerName = schedulerName
		if _, err := client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating Pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		if err := e.waitAttempted(ctx, p.Namespace, p.Name); err != nil {
			return nil, err
		}
		if (i+1)%10 == 0 && i+1 < len(pods) {
			e.Progressf("  %d/%d pods submitted", i+1, len(pods))
		}
	}
	if err := e.waitIdle(ctx); err != nil {
		return nil, err
	}
	snap, err := audit.ReadSnapshot(ctx, client)
	if err != nil {
		return nil, err
	}
	res := &Result{Snapshot: *snap}
	classifier := tenancy.NewStatic(e.Policy.Isolation.Tenancy, snap.Namespaces, snap.RuntimeClasses)
	byKey := map[string]*v1.Pod{}
	for _, p := range snap.Pods {
		byKey[p.Namespace+"/"+p.Name] = p
	}
	for _, want := range pods {
		p := byKey[want.Namespace+"/"+want.Name]
		if p == nil {
			return nil, fmt.Errorf("pod %s/%s disappeared", want.Namespace, want.Name)
		}
		o := Outcome{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName}
		o.Tenant = classifier.BoundNamespace(p.Namespace).Tenant
		if p.Spec.RuntimeClassName != nil {
			o.RuntimeClass = *p.Spec.RuntimeClassName
		}
		if o.Node == "" {
			o.Reason = unschedulableMessage(p)
		}
		res.Outcomes = append(res.Outcomes, o)
	}
	e.Progressf("%s: %d placed, %d pending", schedulerName, countPlaced(res.Outcomes), len(res.Outcomes)-countPlaced(res.Outcomes))
	return res, nil
}

// Clear deletes pods (immediately: there is no kubelet to wait for) and
// waits until they are gone, so that the same pods can be scheduled again.
func (e *Engine) Clear(ctx context.Context, pods []*v1.Pod) error {
	client := e.Cluster.Client
	for _, p := range pods {
		err := client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting Pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, p := range pods {
			_, err := client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
			if err == nil {
				return false, nil
			}
			if !apierrors.IsNotFound(err) {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for pods to be deleted: %w", err)
	}
	return e.waitIdle(ctx)
}

func countPlaced(os []Outcome) int {
	n := 0
	for _, o := range os {
		if o.Node != "" {
			n++
		}
	}
	return n
}

// createNode creates a Node and sets its status (Ready, allocatable =
// capacity when unset), as a kubelet would.
func (e *Engine) createNode(ctx context.Context, n *v1.Node) error {
	client := e.Cluster.Client
	status := *n.Status.DeepCopy()
	if status.Allocatable == nil {
		status.Allocatable = status.Capacity.DeepCopy()
	}
	if status.Capacity == nil {
		status.Capacity = status.Allocatable.DeepCopy()
	}
	if _, ok := status.Capacity[v1.ResourcePods]; !ok {
		status.Capacity[v1.ResourcePods] = resourcePods.DeepCopy()
		status.Allocatable[v1.ResourcePods] = resourcePods.DeepCopy()
	}
	if !hasCondition(status.Conditions, v1.NodeReady) {
		now := metav1.Now()
		status.Conditions = append(status.Conditions, v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now})
	}
	created, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating Node %q: %w", n.Name, err)
	}
	created.Status = status
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("setting status of Node %q: %w", n.Name, err)
	}
	return nil
}

func hasCondition(cs []v1.NodeCondition, t v1.NodeConditionType) bool {
	for _, c := range cs {
		if c.Type == t {
			return true
		}
	}
	return false
}

// waitAttempted waits until the pod is bound or the scheduler has marked it
// unschedulable.
func (e *Engine) waitAttempted(ctx context.Context, ns, name string) error {
	client := e.Cluster.Client
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, e.podTimeout, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "" {
			return true, nil
		}
		for _, c := range p.Status.Conditions {
			if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the scheduler to try pod %s/%s: %w", ns, name, err)
	}
	return nil
}

// waitIdle waits until the scheduler has no pod to try or retry: pods
// rejected earlier may be retried after later pods change the cluster.
func (e *Engine) waitIdle(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	idleSince := time.Time{}
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if !e.Scheduler.Idle() {
			idleSince = time.Time{}
			return false, nil
		}
		if idleSince.IsZero() {
			idleSince = time.Now()
		}
		// Informer events of the last bindings may still be on their way.
		return time.Since(idleSince) > 200*time.Millisecond, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the scheduler to settle: %w", err)
	}
	logger.V(3).Info("scheduler idle")
	return nil
}

// unschedulableMessage returns the PodScheduled=False message without the
// preemption post-mortem, which repeats the same counts.
func unschedulableMessage(p *v1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse {
			return trimPreemption(c.Message)
		}
	}
	return "not tried yet"
}

// trimPreemption drops what the scheduler appends after its filter
// verdicts: the preemption post-mortem (it repeats the counts) and the DRA
// plugin's "no new claims to deallocate".
func trimPreemption(msg string) string {
	if i := strings.Index(msg, "preemption: "); i >= 0 {
		msg = msg[:i]
	}
	msg = strings.ReplaceAll(msg, "no new claims to deallocate,", "")
	return strings.TrimRight(strings.TrimSpace(msg), ".,")
}

var resourcePods = resource.MustParse("110")
