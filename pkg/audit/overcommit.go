package audit

import (
	"fmt"
	"sort"

	v1 "k8s.io/api/core/v1"

	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// OvercommitOptions say how to size pods.
type OvercommitOptions struct {
	// Tenancy classifies runtimes (sandboxed and off-node handler globs) and
	// names the tenants in violations.
	Tenancy tenancy.Config
	// Model is the VM footprint model (the SandboxOverhead args); nil means
	// vmsize.DefaultModel.
	Model *vmsize.Model
}

// CheckOvercommit returns one RuleOvercommit violation per node whose
// running pods commit more memory than the node's allocatable memory (VM
// footprints per pkg/vmsize, with the node's own Kata values), and one per
// node whose /dev/shm-backed guests need more than its advertised
// mtscn.io/sandbox-memory. Violations are sorted by node. A pod whose
// RuntimeClass is missing is counted by its requests + overhead.
func CheckOvercommit(snap Snapshot, opts OvercommitOptions) ([]Violation, error) {
	model := opts.Model
	if model == nil {
		m, err := vmsize.DefaultModel()
		if err != nil {
			return nil, fmt.Errorf("building the default VM model: %w", err)
		}
		model = m
	}
	classifier := tenancy.NewStatic(opts.Tenancy, snap.Namespaces, snap.RuntimeClasses)

	type usage struct {
		committed, shm int64
		pods           []string
		tenants        map[string]bool
	}
	byNode := map[string]*usage{}
	nodes := map[string]*v1.Node{}
	values := map[string]vmsize.NodeValues{}
	for _, n := range snap.Nodes {
		nodes[n.Name] = n
		values[n.Name], _ = vmsize.ParseNodeLabels(n.Labels)
	}
	for _, pod := range snap.Pods {
		if pod.Spec.NodeName == "" || tenancy.IsTerminal(pod) {
			continue
		}
		fp := model.PodFootprint(pod, classifier.BoundRuntime(pod.Spec.RuntimeClassName), values[pod.Spec.NodeName])
		u := byNode[pod.Spec.NodeName]
		if u == nil {
			u = &usage{tenants: map[string]bool{}}
			byNode[pod.Spec.NodeName] = u
		}
		u.committed += fp.Committed
		u.shm += fp.SharedMemory
		u.pods = append(u.pods, pod.Namespace+"/"+pod.Name)
		u.tenants[classifier.BoundNamespace(pod.Namespace).Tenant] = true
	}

	var out []Violation
	for name, u := range byNode {
		node := nodes[name]
		if node == nil {
			continue // bound to a node that is gone: nothing to compare with
		}
		sort.Strings(u.pods)
		tenants := sortedKeys(u.tenants)
		allocatable := node.Status.Allocatable
		if q, ok := allocatable[v1.ResourceMemory]; ok && u.committed > q.Value() {
			out = append(out, Violation{Rule: RuleOvercommit, Node: name, Tenants: tenants, Pods: u.pods,
				Message: fmt.Sprintf("node %s: pods commit %s (VM footprints included) but allocatable memory is %s",
					name, vmsize.FormatBytes(u.committed, true), vmsize.FormatBytes(q.Value(), false))})
		}
		if q, ok := allocatable[wellknown.ResourceSandboxMemory]; ok && u.shm > q.Value() {
			out = append(out, Violation{Rule: RuleOvercommit, Node: name, Tenants: tenants, Pods: u.pods,
				Message: fmt.Sprintf("node %s: /dev/shm-backed VM guests need %s but %s is %s",
					name, vmsize.FormatBytes(u.shm, true), wellknown.ResourceSandboxMemory, vmsize.FormatBytes(q.Value(), false))})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, nil
}
