package quality

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/mtscn/mtscn/bench/workload"
	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/devcluster"
	"github.com/mtscn/mtscn/pkg/simulate"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// PoolLabel is the node label the dedicated-pools profile pins tenants
// with (pods carry nodeSelector PoolLabel=<tenant>).
const PoolLabel = "bench.mtscn.io/pool"

// ProfileMtscnBinpack is the shipped profile with both memory scorers
// switched to bin packing (SandboxOverhead MostCommitted, NodeResourcesFit
// MostAllocated): what an operator who pays per node would configure.
const ProfileMtscnBinpack = "mtscn-binpack"

// Profiles are the profiles Run compares, in table order.
var Profiles = []string{workload.ProfileDefault, workload.ProfileAntiAffinity, workload.ProfileDedicatedPools, workload.ProfileMtscn, ProfileMtscnBinpack}

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

// schedulerConfig returns the configuration a profile runs.
func schedulerConfig(profile string, shipped *schedconfig.KubeSchedulerConfiguration) (*schedconfig.KubeSchedulerConfiguration, error) {
	switch profile {
	case workload.ProfileMtscn:
		return shipped, nil
	case ProfileMtscnBinpack:
		return binpack(shipped)
	}
	if profile != workload.ProfileDefault && profile != workload.ProfileAntiAffinity && profile != workload.ProfileDedicatedPools {
		return nil, fmt.Errorf("unknown profile %q: want one of %v", profile, Profiles)
	}
	def, err := devcluster.DefaultProfile()
	if err != nil {
		return nil, err
	}
	cfg := shipped.DeepCopy()
	cfg.Profiles = []schedconfig.KubeSchedulerProfile{def}
	return cfg, nil
}

// binpack returns the shipped configuration with SandboxOverhead scoring
// MostCommitted and NodeResourcesFit scoring MostAllocated.
func binpack(shipped *schedconfig.KubeSchedulerConfiguration) (*schedconfig.KubeSchedulerConfiguration, error) {
	cfg := shipped.DeepCopy()
	changed := 0
	for i := range cfg.Profiles {
		for _, pc := range cfg.Profiles[i].PluginConfig {
			switch args := pc.Args.(type) {
			case *config.SandboxOverheadArgs:
				args.ScoringStrategy = config.MostCommitted
				changed++
			case *schedconfig.NodeResourcesFitArgs:
				if args.ScoringStrategy == nil {
					args.ScoringStrategy = &schedconfig.ScoringStrategy{}
				}
				args.ScoringStrategy.Type = schedconfig.MostAllocated
				changed++
			}
		}
	}
	if changed != 2 {
		return nil, fmt.Errorf("the shipped configuration has %d SandboxOverhead and NodeResourcesFit args after defaulting, want 2", changed)
	}
	return cfg, nil
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

// createCluster creates the RuntimeClasses, Namespaces and Nodes (Ready,
// allocatable = capacity, as a kubelet would report).
func createCluster(ctx context.Context, client kubernetes.Interface, objs *workload.Objects) error {
	for _, rc := range objs.RuntimeClasses {
		if _, err := client.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating RuntimeClass %s: %w", rc.Name, err)
		}
	}
	for _, ns := range objs.Namespaces {
		if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating Namespace %s: %w", ns.Name, err)
		}
	}
	var firstErr error
	workqueue.ParallelizeUntil(ctx, 8, len(objs.Nodes), func(i int) {
		n := objs.Nodes[i].DeepCopy()
		status := n.Status
		if status.Allocatable == nil {
			status.Allocatable = status.Capacity.DeepCopy()
		}
		created, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err == nil {
			created.Status = status
			_, err = client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("creating Node %s: %w", n.Name, err)
		}
	})
	return firstErr
}

// waitSettled waits until every pod is bound or marked unschedulable and
// the scheduler has nothing left to retry. It returns false when the
// timeout came first.
func waitSettled(ctx context.Context, client kubernetes.Interface, sched *devcluster.Scheduler, total int, timeout time.Duration, report func(placed, pending int)) (bool, error) {
	lastReport := time.Now()
	idleSince := time.Time{}
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, false, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			// Near the timeout the client's rate limiter refuses to wait
			// past the deadline; any other failure is retried too, and
			// the poll's own timeout ends the wait.
			klog.FromContext(ctx).V(2).Info("listing pods failed, retrying", "err", err)
			return false, nil
		}
		placed, pending := 0, 0
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Spec.NodeName != "" {
				placed++
			} else if unschedulable(p) {
				pending++
			}
		}
		if time.Since(lastReport) > 10*time.Second {
			report(placed, pending)
			lastReport = time.Now()
		}
		if placed+pending < total || !sched.Idle() {
			idleSince = time.Time{}
			return false, nil
		}
		if idleSince.IsZero() {
			idleSince = time.Now()
		}
		return time.Since(idleSince) >= 2*time.Second, nil
	})
	if wait.Interrupted(err) && ctx.Err() == nil {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("waiting for the scheduler to place %d pods: %w", total, err)
	}
	return true, nil
}

func unschedulable(p *v1.Pod) bool {
	_, ok := unschedulableMessage(p)
	return ok
}

// unschedulableMessage returns the PodScheduled=False message up to the
// preemption post-mortem.
func unschedulableMessage(p *v1.Pod) (string, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse {
			msg, _, _ := strings.Cut(c.Message, " preemption: ")
			msg = strings.ReplaceAll(msg, " no new claims to deallocate,", "")
			return strings.TrimSpace(msg), true
		}
	}
	return "", false
}

// footprints returns each pod's VM footprint (pkg/vmsize), with the
// RuntimeClass overhead the admission controller adds when the pod has
// none yet.
func footprints(pods []*v1.Pod, rcs []*nodev1.RuntimeClass, namespaces []*v1.Namespace, cfg tenancy.Config, model *vmsize.Model) []vmsize.Footprint {
	classifier := tenancy.NewStatic(cfg, namespaces, rcs)
	byName := map[string]*nodev1.RuntimeClass{}
	for _, rc := range rcs {
		byName[rc.Name] = rc
	}
	out := make([]vmsize.Footprint, len(pods))
	for i, p := range pods {
		if p.Spec.Overhead == nil && p.Spec.RuntimeClassName != nil {
			if rc := byName[*p.Spec.RuntimeClassName]; rc != nil && rc.Overhead != nil {
				p = p.DeepCopy()
				p.Spec.Overhead = rc.Overhead.PodFixed.DeepCopy()
			}
		}
		rt, _ := classifier.Runtime(p.Spec.RuntimeClassName)
		out[i] = model.PodFootprint(p, rt, nil)
	}
	return out
}

// LowerBounds returns two numbers of nodes no placement can go below:
// the fewest nodes whose allocatable memory, largest nodes first, adds up
// to the memory all of the snapshot's pods commit (bound or not), and the
// fewest nodes whose mtscn.io/sandbox-memory adds up to the guest memory
// the pods' VMs keep in /dev/shm.
func LowerBounds(snap audit.Snapshot, cfg tenancy.Config, model *vmsize.Model) (memory, shm int, err error) {
	var sumMem, sumShm int64
	for _, f := range footprints(snap.Pods, snap.RuntimeClasses, snap.Namespaces, cfg, model) {
		sumMem += f.Committed
		sumShm += f.SharedMemory
	}
	var allocs, shms []int64
	for _, n := range snap.Nodes {
		m := n.Status.Allocatable[v1.ResourceMemory]
		allocs = append(allocs, m.Value())
		if q, ok := n.Status.Allocatable[wellknown.ResourceSandboxMemory]; ok {
			shms = append(shms, q.Value())
		}
	}
	if memory, err = fewest(allocs, sumMem); err != nil {
		return 0, 0, fmt.Errorf("memory: %w", err)
	}
	if shm, err = fewest(shms, sumShm); err != nil {
		return 0, 0, fmt.Errorf("/dev/shm: %w", err)
	}
	return memory, shm, nil
}

// fewest is how many of the largest capacities add up to demand.
func fewest(capacities []int64, demand int64) (int, error) {
	if demand <= 0 {
		return 0, nil
	}
	sort.Slice(capacities, func(i, j int) bool { return capacities[i] > capacities[j] })
	for i, c := range capacities {
		demand -= c
		if demand <= 0 {
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("the workload needs %s more than all %d nodes have", vmsize.FormatBytes(demand, true), len(capacities))
}

// poolGroup is the kind of node a group of a tenant's pods needs.
type poolGroup string

const (
	groupTDX  poolGroup = "tdx"
	groupQAT  poolGroup = "qat"
	groupKata poolGroup = "kata"
	groupRunc poolGroup = "runc"
)

// groupClasses are the node classes a pool of each group is carved from,
// in order of preference.
var groupClasses = map[poolGroup][]string{
	groupTDX:  {"tdx"},
	groupQAT:  {"qat"},
	groupKata: {"hw", "nested"},
	groupRunc: {"plain", "hw", "nested"},
}

func groupOf(p *v1.Pod) poolGroup {
	switch {
	case p.Spec.RuntimeClassName == nil:
		return groupRunc
	case *p.Spec.RuntimeClassName == "kata-qemu-tdx":
		return groupTDX
	}
	for _, c := range p.Spec.Containers {
		if _, ok := c.Resources.Limits["qat.intel.com/cy"]; ok {
			return groupQAT
		}
	}
	return groupKata
}

// AssignPools gives every tenant its own node pools, as an operator of a
// Capsule-style cluster would size them: per kind of node a tenant's pods
// need (TDX, QAT, other Kata, runc), enough nodes for the memory its pods
// commit and for the guest memory its QEMU VMs keep in /dev/shm
// (mtscn.io/sandbox-memory), so that pools are not overcommitted by design,
// plus one spare node (N+1, for node failures and upgrades). It labels the
// pool nodes with PoolLabel and returns how many nodes the pools reserve.
// A pool that does not fit in what is left of its node classes gets what
// is left.
func AssignPools(objs *workload.Objects, cfg tenancy.Config, model *vmsize.Model) (int, error) {
	fps := footprints(objs.Pods, objs.RuntimeClasses, objs.Namespaces, cfg, model)
	type key struct {
		ns    string
		group poolGroup
	}
	type need struct{ memory, shm int64 }
	demand := map[key]*need{}
	for i, p := range objs.Pods {
		k := key{p.Namespace, groupOf(p)}
		if demand[k] == nil {
			demand[k] = &need{}
		}
		demand[k].memory += fps[i].Committed
		demand[k].shm += fps[i].SharedMemory
	}
	free := map[string][]*v1.Node{}
	for _, n := range objs.Nodes {
		class := n.Labels["bench.mtscn.io/class"]
		free[class] = append(free[class], n)
	}
	reserved := 0
	for _, t := range workload.Tenants {
		for _, g := range []poolGroup{groupTDX, groupQAT, groupKata, groupRunc} {
			d := demand[key{t.Namespace(), g}]
			if d == nil {
				continue
			}
			spare := 1
			for _, class := range groupClasses[g] {
				for len(free[class]) > 0 && (d.memory > 0 || d.shm > 0 || spare > 0) {
					n := free[class][0]
					free[class] = free[class][1:]
					n.Labels[PoolLabel] = t.Name
					reserved++
					if d.memory > 0 || d.shm > 0 {
						m := n.Status.Capacity[v1.ResourceMemory]
						shm := n.Status.Capacity[wellknown.ResourceSandboxMemory]
						d.memory -= m.Value()
						d.shm -= shm.Value()
					} else {
						spare--
					}
				}
			}
		}
	}
	if reserved == 0 {
		return 0, fmt.Errorf("no node was assigned to a pool")
	}
	return reserved, nil
}
