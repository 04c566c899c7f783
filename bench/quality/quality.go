package quality

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/bench/workload"
	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/devcluster"
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
	// SpreadSchedulerConfig is the spreading alternative's path, which
	// ProfileMtscnSpread runs.
	SpreadSchedulerConfig string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
	// Timeout bounds the wait for one profile's scheduler to settle
	// (default 4 minutes). A profile that has not settled by then is
	// audited as it stands and reported with Settled false.
	Timeout time.Duration
	// Churn, when set, adds a second phase to every profile that settled:
	// delete a third of the workload's pods at random, create as many new
	// ones drawn at random from the workload, wait again and audit again
	// (Result.Churn). The same Seed picks the same pods for every profile.
	Churn bool
	// Seed seeds the churn phase's random choices.
	Seed uint64
	// HeapProfileDir, when set, receives heap-<profile>.pprof, written
	// after the first placement settled while the control plane and the
	// scheduler (with their caches) are still running. The scheduler runs
	// in this process, so `go tool pprof -sample_index=inuse_space` shows
	// what the plugins' caches hold.
	HeapProfileDir string
}

// Placement is the audit of one placement of the workload.
type Placement struct {
	// Placed and Pending count the workload's pods after the scheduler
	// settled.
	Placed  int `json:"placed"`
	Pending int `json:"pending"`
	// NodesUsed is the number of nodes running at least one pod.
	NodesUsed int `json:"nodesUsed"`
	// NodesUsedByClass splits NodesUsed by the workload's node class
	// (bench.mtscn.io/class: hw, nested, tdx, qat, plain).
	NodesUsedByClass map[string]int `json:"nodesUsedByClass,omitempty"`
	// LowerBound is Bounds.Memory: the fewest nodes whose allocatable
	// memory holds the memory every pod commits (VM footprints per
	// pkg/vmsize), largest nodes first; it ignores every other constraint.
	LowerBound int `json:"lowerBound"`
	// ShmLowerBound is Bounds.Shm: the fewest Kata nodes whose
	// mtscn.io/sandbox-memory holds the guest memory every QEMU VM keeps in
	// /dev/shm.
	ShmLowerBound int `json:"shmLowerBound"`
	// TenancyLowerBound is Bounds.Tenancy: shared-kernel and exclusive
	// tenants on nodes of their own, the other sandboxed pods packed.
	TenancyLowerBound int `json:"tenancyLowerBound"`
	// Violations are the isolation violations pkg/audit.Check finds (I1-I4)
	// by rule.
	Violations map[audit.Rule]int `json:"violations"`
	// OvercommittedNodes is the number of nodes pkg/audit.CheckResources
	// reports (committed memory over allocatable, or shm-backed guests
	// over mtscn.io/sandbox-memory).
	OvercommittedNodes int `json:"overcommittedNodes"`
	// Overcommits are the first maxOvercommits findings behind
	// OvercommittedNodes (rule and message), so that a result file says
	// which node holds more than it has and why.
	Overcommits []string `json:"overcommits,omitempty"`
	// Seconds is the wall time from the first pod's creation (or the
	// first deletion, for churn) until the scheduler settled (or the
	// timeout).
	Seconds float64 `json:"seconds"`
	// PendingReasons counts the pending pods by the scheduler's
	// PodScheduled=False message (without the preemption post-mortem).
	PendingReasons map[string]int `json:"pendingReasons,omitempty"`
	// Settled is false when the scheduler still had pods to try at the
	// timeout; Untried counts the pods it had not tried yet.
	Settled bool `json:"settled"`
	Untried int  `json:"untried,omitempty"`
}

// Result is one profile's placement of the workload.
type Result struct {
	Profile string `json:"profile"`
	Nodes   int    `json:"nodes"`
	Pods    int    `json:"pods"`
	// PoolNodes is the number of nodes reserved for tenant pools
	// (dedicated-pools only).
	PoolNodes int `json:"poolNodes,omitempty"`
	// Placement is the audit once the workload settled.
	Placement
	// Churn is the audit after the churn phase (Options.Churn), nil when
	// it did not run.
	Churn *Churn `json:"churn,omitempty"`
}

// Churn is the audit after the churn phase.
type Churn struct {
	// Deleted and Created count the pods the phase deleted and created.
	Deleted int `json:"deleted"`
	Created int `json:"created"`
	Placement
}

// TotalViolations sums Violations.
func (p Placement) TotalViolations() int {
	n := 0
	for _, v := range p.Violations {
		n += v
	}
	return n
}

// OverLowerBound is NodesUsed / LowerBound (the memory bound).
func (p Placement) OverLowerBound() float64 {
	if p.LowerBound == 0 {
		return 0
	}
	return float64(p.NodesUsed) / float64(p.LowerBound)
}

// OverTenancyBound is NodesUsed / TenancyLowerBound.
func (p Placement) OverTenancyBound() float64 {
	if p.TenancyLowerBound == 0 {
		return 0
	}
	return float64(p.NodesUsed) / float64(p.TenancyLowerBound)
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
	cfgs, err := loadConfigs(ctx, opts, profiles)
	if err != nil {
		return nil, err
	}
	// The audit applies the shipped configuration's rules, as
	// `mtscnctl audit --config` does.
	policy, err := audit.PolicyFromConfig(cfgs.shipped, "", "the shipped scheduler configuration")
	if err != nil {
		return nil, err
	}
	iso := policy.Isolation
	var model *vmsize.Model
	if policy.Resources != nil {
		model = policy.Resources.Model
	}
	var results []Result
	for _, prof := range profiles {
		res, err := runProfile(ctx, opts, prof, cfgs, iso, model)
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

func runProfile(ctx context.Context, opts Options, profile string, cfgs configs, iso audit.IsolationOptions, model *vmsize.Model) (*Result, error) {
	logger := klog.FromContext(ctx)
	cfg, err := schedulerConfig(profile, cfgs)
	if err != nil {
		return nil, err
	}
	objs, err := workload.Build(opts.Size, opts.RuntimeClasses, workload.VariantFor(profile))
	if err != nil {
		return nil, err
	}
	res := &Result{Profile: profile, Nodes: len(objs.Nodes), Pods: len(objs.Pods)}
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
	r := &runner{opts: opts, profile: profile, client: client, sched: sched, schedulerName: cfg.Profiles[0].SchedulerName, iso: iso, model: model}

	progressf(opts.Progress, "%s: %d nodes, %d namespaces; creating %d pods for %s", profile, len(objs.Nodes), len(objs.Namespaces), len(objs.Pods), r.schedulerName)
	start := time.Now()
	if err := r.createPods(ctx, objs.Pods); err != nil {
		return nil, err
	}
	if res.Placement, err = r.settleAndAudit(ctx, start, len(objs.Pods)); err != nil {
		return nil, err
	}
	if opts.HeapProfileDir != "" {
		if err := writeHeapProfile(filepath.Join(opts.HeapProfileDir, "heap-"+profile+".pprof")); err != nil {
			return nil, err
		}
	}
	if !opts.Churn || !res.Settled {
		return res, nil
	}
	progressf(opts.Progress, "%s: churn: deleting a third of the pods, creating as many new ones", profile)
	if res.Churn, err = r.churn(ctx, objs.Pods); err != nil {
		return nil, fmt.Errorf("churn: %w", err)
	}
	return res, nil
}

// writeHeapProfile writes the live heap after a garbage collection.
func writeHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing heap profile %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing heap profile %s: %w", path, err)
	}
	return nil
}
