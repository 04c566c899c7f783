package quality

import (
	"context"
	"fmt"
	"io"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/mtscn/mtscn/bench/workload"
	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/devcluster"
	"github.com/mtscn/mtscn/pkg/simulate"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// Options configure Run.
type Options struct {
	// Size is the workload size.
	Size workload.Size
	// Profiles to run; empty means Profiles.
	Profiles []string
	// RuntimeClasses is the RuntimeClass manifest (multi-document YAML).
	RuntimeClasses []byte
	// SchedulerConfig is the shipped KubeSchedulerConfiguration's path. The
	// mtscn profile runs it; the audit applies its TenantIsolation and
	// SandboxOverhead args to every profile's placement.
	SchedulerConfig string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
	// Timeout bounds the wait for one profile's scheduler to settle
	// (default 4 minutes). A profile that has not settled by then is
	// audited as it stands and reported with Settled false.
	Timeout time.Duration
}

// Result is one profile's placement of the workload.
type Result struct {
	Profile string `json:"profile"`
	Nodes   int    `json:"nodes"`
	Pods    int    `json:"pods"`
	// Placed and Pending count the workload's pods after the scheduler
	// settled.
	Placed  int `json:"placed"`
	Pending int `json:"pending"`
	// NodesUsed is the number of nodes running at least one pod.
	NodesUsed int `json:"nodesUsed"`
	// LowerBound is the fewest nodes whose allocatable memory holds the
	// memory every pod of the workload commits (VM footprints per
	// pkg/vmsize), largest nodes first; it ignores every other constraint.
	LowerBound int `json:"lowerBound"`
	// ShmLowerBound is the fewest Kata nodes whose mtscn.io/sandbox-memory
	// holds the guest memory every QEMU VM keeps in /dev/shm: another
	// bound no placement can beat (the placement needs max(LowerBound,
	// ShmLowerBound) nodes at least).
	ShmLowerBound int `json:"shmLowerBound"`
	// PoolNodes is the number of nodes reserved for tenant pools
	// (dedicated-pools only).
	PoolNodes int `json:"poolNodes,omitempty"`
	// Violations are the isolation violations pkg/audit.Check finds (I1-I4)
	// by rule.
	Violations map[audit.Rule]int `json:"violations"`
	// OvercommittedNodes is the number of nodes pkg/audit.CheckOvercommit
	// reports (committed memory over allocatable, or shm-backed guests
	// over mtscn.io/sandbox-memory).
	OvercommittedNodes int `json:"overcommittedNodes"`
	// Seconds is the wall time from the first pod's creation until the
	// scheduler settled (or the timeout).
	Seconds float64 `json:"seconds"`
	// PendingReasons counts the pending pods by the scheduler's
	// PodScheduled=False message (without the preemption post-mortem).
	PendingReasons map[string]int `json:"pendingReasons,omitempty"`
	// Settled is false when the scheduler still had pods to try at the
	// timeout; Untried counts the pods it had not tried yet.
	Settled bool `json:"settled"`
	Untried int  `json:"untried,omitempty"`
}

// TotalViolations sums Violations.
func (r Result) TotalViolations() int {
	n := 0
	for _, v := range r.Violations {
		n += v
	}
	return n
}

// OverLowerBound is NodesUsed / LowerBound.
func (r Result) OverLowerBound() float64 {
	if r.LowerBound == 0 {
		return 0
	}
	return float64(r.NodesUsed) / float64(r.LowerBound)
}

// Run places the workload once per profile, each on a fresh embedded
// control plane (etcd + kube-apiserver + the scheduler, pkg/devcluster),
// and audits the result.
func Run(ctx context.Context, opts Options) ([]Result, error) {
	profiles := opts.Profiles
	if len(profiles) == 0 {
		profiles = Profiles
	}
	if opts.Timeout == 0 {
		opts.Timeout = 4 * time.Minute
	}
	shipped, err := devcluster.LoadSchedulerConfig(ctx, opts.SchedulerConfig)
	if err != nil {
		return nil, err
	}
	iso, model, err := simulate.Policies(shipped)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, prof := range profiles {
		res, err := runProfile(ctx, opts, prof, shipped, iso, model)
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", prof, err)
		}
		results = append(results, *res)
	}
	return results, nil
}

func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

func runProfile(ctx context.Context, opts Options, profile string, shipped *schedconfig.KubeSchedulerConfiguration, iso audit.IsolationOptions, model *vmsize.Model) (*Result, error) {
	logger := klog.FromContext(ctx)
	cfg, err := schedulerConfig(profile, shipped)
	if err != nil {
		return nil, err
	}
	objs, err := workload.Build(opts.Size, opts.RuntimeClasses, workload.VariantFor(profile))
	if err != nil {
		return nil, err
	}
	res := &Result{Profile: profile, Nodes: len(objs.Nodes), Pods: len(objs.Pods), Violations: map[audit.Rule]int{}}
	if profile == workload.ProfileDedicatedPools {
		res.PoolNodes, err = AssignPools(objs, iso.Tenancy, model)
		if err != nil {
			return nil, err
		}
	}

	progressf(opts.Progress, "%s: starting etcd, kube-apiserver and the scheduler", profile)
	cluster, err := devcluster.Start(ctx, devcluster.Options{})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			logger.Error(err, "stopping the control plane")
		}
	}()
	client := cluster.Client
	if err := createCluster(ctx, client, objs); err != nil {
		return nil, err
	}
	sched, err := cluster.StartScheduler(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer sched.Stop()
	schedulerName := cfg.Profiles[0].SchedulerName

	progressf(opts.Progress, "%s: %d nodes, %d namespaces; creating %d pods for %s", profile, len(objs.Nodes), len(objs.Namespaces), len(objs.Pods), schedulerName)
	start := time.Now()
	var createErr error
	workqueue.ParallelizeUntil(ctx, 8, len(objs.Pods), func(i int) {
		p := objs.Pods[i].DeepCopy()
		p.Spec.SchedulerName = schedulerName
		if _, err := client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil && createErr == nil {
			createErr = fmt.Errorf("creating Pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	})
	if createErr != nil {
		return nil, createErr
	}
	res.Settled, err = waitSettled(ctx, client, sched, len(objs.Pods), opts.Timeout, func(placed, pending int) {
		progressf(opts.Progress, "%s: %d placed, %d unschedulable after %.0fs", profile, placed, pending, time.Since(start).Seconds())
	})
	if err != nil {
		return nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	if !res.Settled {
		progressf(opts.Progress, "%s: the scheduler has not settled after %s; auditing the placement as it stands", profile, opts.Timeout)
	}

	snap, err := simulate.ReadSnapshot(ctx, client)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, p := range snap.Pods {
		if p.Spec.NodeName == "" {
			if msg, ok := unschedulableMessage(p); ok {
				res.Pending++
				if res.PendingReasons == nil {
					res.PendingReasons = map[string]int{}
				}
				res.PendingReasons[msg]++
			} else {
				res.Untried++
			}
			continue
		}
		res.Placed++
		used[p.Spec.NodeName] = true
	}
	res.NodesUsed = len(used)
	if res.LowerBound, res.ShmLowerBound, err = LowerBounds(*snap, iso.Tenancy, model); err != nil {
		return nil, err
	}
	for _, v := range audit.Check(*snap, iso) {
		res.Violations[v.Rule]++
	}
	over, err := audit.CheckOvercommit(*snap, audit.OvercommitOptions{Tenancy: iso.Tenancy, Model: model})
	if err != nil {
		return nil, err
	}
	nodes := map[string]bool{}
	for _, v := range over {
		nodes[v.Node] = true
	}
	res.OvercommittedNodes = len(nodes)
	progressf(opts.Progress, "%s: %d nodes used (lower bound %d), %d violations, %d overcommitted nodes, %d pending",
		profile, res.NodesUsed, res.LowerBound, res.TotalViolations(), res.OvercommittedNodes, res.Pending)
	return res, nil
}
