package audit

import (
	"fmt"
	"slices"
	"sort"

	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// ResourceOptions say how SandboxOverhead sizes pods.
type ResourceOptions struct {
	// Tenancy classifies runtimes (SandboxOverhead's sandboxed and off-node
	// handler globs) and names the tenants in findings.
	Tenancy tenancy.Config
	// Model is the VM footprint model (the SandboxOverhead args); nil means
	// vmsize.DefaultModel.
	Model *vmsize.Model
}

// NodeUsage is what the running pods of one node commit, next to what the
// node offers: the sums SandboxOverhead's Filter keeps per node.
type NodeUsage struct {
	Node string `json:"node"`
	// Pods are namespace/name of the node's running pods, sorted.
	Pods []string `json:"pods"`
	// Tenants of those pods, sorted.
	Tenants []string `json:"tenants"`
	// Counted is Σ requests + overhead: what Kubernetes counts.
	Counted int64 `json:"countedBytes"`
	// Committed is Σ committed(p) (F1): VM footprints per pkg/vmsize.
	Committed int64 `json:"committedBytes"`
	// SharedMemory is Σ guest RAM in /dev/shm of shm-backed VMs (F2).
	SharedMemory int64 `json:"sharedMemoryBytes"`
	// VMs is the number of VMs booted on the node (F3).
	VMs int64 `json:"vms"`
	// Allocatable is the node's allocatable memory.
	Allocatable int64 `json:"allocatableBytes"`
	// SandboxMemory and Sandboxes are the node's allocatable
	// mtscn.io/sandbox-memory and mtscn.io/sandboxes; the Has fields say
	// whether it advertises them at all.
	SandboxMemory    int64 `json:"sandboxMemoryBytes,omitempty"`
	Sandboxes        int64 `json:"sandboxes,omitempty"`
	HasSandboxMemory bool  `json:"-"`
	HasSandboxes     bool  `json:"-"`
	// Overhead compares each handler's modelled and observed sandbox
	// overhead on the node, for the handlers the node agent measured.
	Overhead []HandlerOverhead `json:"sandboxOverhead,omitempty"`
}

// Usage sums the footprints of every bound, running pod per node, in node
// name order, for every node of the snapshot. A pod whose RuntimeClass is
// missing is counted by its requests + overhead (pkg/tenancy); pods bound
// to a node that is not in the snapshot are left out.
func Usage(snap Snapshot, opts ResourceOptions) ([]NodeUsage, error) {
	model := opts.Model
	if model == nil {
		m, err := vmsize.DefaultModel()
		if err != nil {
			return nil, fmt.Errorf("building the default VM model: %w", err)
		}
		model = m
	}
	classifier := tenancy.NewStatic(opts.Tenancy, snap.Namespaces, snap.RuntimeClasses)
	byNode := map[string]*NodeUsage{}
	tenants := map[string]map[string]bool{}
	values := map[string]vmsize.NodeValues{}
	for _, n := range snap.Nodes {
		c := vmsize.CapacityOf(n)
		u := &NodeUsage{Node: n.Name, Allocatable: c.Memory,
			SandboxMemory: c.SharedMemory, HasSandboxMemory: c.HasSharedMemory,
			Sandboxes: c.Slots, HasSandboxes: c.HasSlots}
		byNode[n.Name] = u
		tenants[n.Name] = map[string]bool{}
		values[n.Name] = c.Values
		u.Overhead = handlerOverheads(model, values[n.Name])
	}
	for _, pod := range snap.Pods {
		u := byNode[pod.Spec.NodeName]
		if u == nil || tenancy.IsTerminal(pod) {
			continue
		}
		fp := model.PodFootprint(pod, classifier.BoundRuntime(pod.Spec.RuntimeClassName), values[pod.Spec.NodeName])
		u.Counted += fp.Floor
		u.Committed += fp.Committed
		u.SharedMemory += fp.SharedMemory
		if fp.VM {
			u.VMs++
		}
		u.Pods = append(u.Pods, pod.Namespace+"/"+pod.Name)
		tenants[pod.Spec.NodeName][classifier.BoundNamespace(pod.Namespace).Tenant] = true
	}
	out := make([]NodeUsage, 0, len(byNode))
	for name, u := range byNode {
		slices.Sort(u.Pods)
		u.Tenants = sortedKeys(tenants[name])
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, nil
}

// CheckResources returns, per node, a violation of F1 when its running
// pods commit more memory than its allocatable memory, of F2 when its
// /dev/shm-backed guests need more than its mtscn.io/sandbox-memory, and of
// F3 when it runs more VMs than its mtscn.io/sandboxes: the three limits
// SandboxOverhead's Filter enforces (docs/vm-footprint.md). Violations are
// sorted by node, then rule.
func CheckResources(snap Snapshot, opts ResourceOptions) ([]Violation, error) {
	usage, err := Usage(snap, opts)
	if err != nil {
		return nil, err
	}
	var out []Violation
	for _, u := range usage {
		if len(u.Pods) == 0 {
			continue
		}
		if u.Committed > u.Allocatable {
			out = append(out, Violation{Rule: RuleF1, Node: u.Node, Tenants: u.Tenants, Pods: u.Pods,
				Message: fmt.Sprintf("node %s: pods commit %s (VM footprints included) but allocatable memory is %s",
					u.Node, vmsize.FormatBytes(u.Committed, true), vmsize.FormatBytes(u.Allocatable, false))})
		}
		if u.HasSandboxMemory && u.SharedMemory > u.SandboxMemory {
			out = append(out, Violation{Rule: RuleF2, Node: u.Node, Tenants: u.Tenants, Pods: u.Pods,
				Message: fmt.Sprintf("node %s: /dev/shm-backed VM guests need %s but %s is %s",
					u.Node, vmsize.FormatBytes(u.SharedMemory, true), wellknown.ResourceSandboxMemory, vmsize.FormatBytes(u.SandboxMemory, false))})
		}
		if u.HasSandboxes && u.VMs > u.Sandboxes {
			out = append(out, Violation{Rule: RuleF3, Node: u.Node, Tenants: u.Tenants, Pods: u.Pods,
				Message: fmt.Sprintf("node %s runs %d VMs but %s is %d", u.Node, u.VMs, wellknown.ResourceSandboxes, u.Sandboxes)})
		}
	}
	return out, nil
}

// Audit checks a snapshot against a policy: I1-I4 (Check), then F1-F3
// (CheckResources) when the policy's profile enables SandboxOverhead.
func Audit(snap Snapshot, p *Policy) ([]Violation, error) {
	vs := Check(snap, p.Isolation)
	if p.Resources == nil {
		return vs, nil
	}
	res, err := CheckResources(snap, *p.Resources)
	if err != nil {
		return nil, err
	}
	return append(vs, res...), nil
}
