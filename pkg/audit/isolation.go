package audit

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// IsolationOptions say how to classify pods and which rules apply.
type IsolationOptions struct {
	// Tenancy is the classification the scheduler uses (the TenantIsolation
	// args: tenant label keys, infrastructure namespaces, handler globs).
	Tenancy tenancy.Config
	// IgnoreSideChannel skips I4 (sideChannelPolicy: Ignore).
	IgnoreSideChannel bool
}

// member is a bound, running, non-infrastructure pod as the invariant sees
// it.
type member struct {
	key          string // namespace/name
	tenant       string
	sharedKernel bool
	exclusive    bool
	sandboxReq   bool
}

// Check returns every violation of I1-I4 in the snapshot, sorted by rule,
// node and pod. It considers only pods bound to a node that have not
// finished and are not infrastructure. A pod whose RuntimeClass is missing
// counts as shared-kernel; a pod whose Namespace is missing is its
// namespace's own tenant.
func Check(snap Snapshot, opts IsolationOptions) []Violation {
	classifier := tenancy.NewStatic(opts.Tenancy, snap.Namespaces, snap.RuntimeClasses)
	byNode := map[string][]member{}
	for _, pod := range snap.Pods {
		if pod.Spec.NodeName == "" || tenancy.IsTerminal(pod) {
			continue
		}
		m, ok := memberOf(classifier, pod)
		if !ok {
			continue
		}
		byNode[pod.Spec.NodeName] = append(byNode[pod.Spec.NodeName], m)
	}
	nodes := map[string]*v1.Node{}
	for _, n := range snap.Nodes {
		nodes[n.Name] = n
	}
	var out []Violation
	for name, members := range byNode {
		out = append(out, checkNode(name, nodes[name], members, opts)...)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		return strings.Join(a.Pods, ",") < strings.Join(b.Pods, ",")
	})
	return out
}

// LegalNodes returns the names of the nodes (sorted) where binding pod would
// keep I1-I4 true, judged by tenancy alone: it does not look at resources,
// taints, readiness or the other plugins' rules. It returns nil for a pod
// that is legal nowhere (I3, an unknown Namespace or RuntimeClass) and every
// node for an infrastructure pod.
func LegalNodes(snap Snapshot, opts IsolationOptions, pod *v1.Pod) []string {
	classifier := tenancy.NewStatic(opts.Tenancy, snap.Namespaces, snap.RuntimeClasses)
	class, err := classifier.Classify(pod)
	if err != nil {
		return nil
	}
	var names []string
	if class.Infrastructure {
		for _, n := range snap.Nodes {
			names = append(names, n.Name)
		}
		slices.Sort(names)
		return names
	}
	newcomer, _ := memberOf(classifier, pod)
	byNode := map[string][]member{}
	for _, p := range snap.Pods {
		if p.Spec.NodeName == "" || tenancy.IsTerminal(p) || (p.Namespace == pod.Namespace && p.Name == pod.Name) {
			continue
		}
		if m, ok := memberOf(classifier, p); ok {
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], m)
		}
	}
	for _, n := range snap.Nodes {
		members := append(slices.Clone(byNode[n.Name]), newcomer)
		if len(checkNode(n.Name, n, members, opts)) == 0 {
			names = append(names, n.Name)
		}
	}
	slices.Sort(names)
	return names
}

// memberOf classifies a pod; false for infrastructure pods.
func memberOf(classifier *tenancy.Classifier, pod *v1.Pod) (member, bool) {
	class := classifier.ClassifyBound(pod)
	if class.Infrastructure {
		return member{}, false
	}
	return member{key: pod.Namespace + "/" + pod.Name, tenant: class.Tenant, exclusive: class.Exclusive,
		sandboxReq: class.SandboxRequired, sharedKernel: class.SharedKernel()}, true
}

// checkNode checks I1-I4 over the members of one node. node may be nil (a
// pod bound to a node that no longer exists); I4 then does not apply.
func checkNode(name string, node *v1.Node, members []member, opts IsolationOptions) []Violation {
	var out []Violation
	tenantSet := map[string]bool{}
	for _, m := range members {
		tenantSet[m.tenant] = true
	}
	tenants := sortedKeys(tenantSet)

	// I3, per pod.
	for _, m := range members {
		if m.sandboxReq && m.sharedKernel {
			out = append(out, Violation{Rule: RuleI3, Node: name, Tenants: []string{m.tenant}, Pods: []string{m.key},
				Message: fmt.Sprintf("pod %s of tenant %s runs without a sandbox but its namespace requires one", m.key, m.tenant)})
		}
	}
	if len(tenants) < 2 {
		return out
	}

	// I1 and I2: one violation per rule and node, naming the pods that
	// claim the node and every tenant present.
	var sharedKernel, exclusive []string
	for _, m := range members {
		if m.sharedKernel {
			sharedKernel = append(sharedKernel, m.key)
		}
		if m.exclusive {
			exclusive = append(exclusive, m.key)
		}
	}
	if len(sharedKernel) > 0 {
		slices.Sort(sharedKernel)
		out = append(out, Violation{Rule: RuleI1, Node: name, Tenants: tenants, Pods: sharedKernel,
			Message: fmt.Sprintf("node %s runs shared-kernel pods (%s) alongside pods of other tenants (tenants: %s)", name, strings.Join(sharedKernel, ", "), strings.Join(tenants, ", "))})
	}
	if len(exclusive) > 0 {
		slices.Sort(exclusive)
		out = append(out, Violation{Rule: RuleI2, Node: name, Tenants: tenants, Pods: exclusive,
			Message: fmt.Sprintf("node %s runs pods of an exclusive tenant (%s) alongside pods of other tenants (tenants: %s)", name, strings.Join(exclusive, ", "), strings.Join(tenants, ", "))})
	}
	if !opts.IgnoreSideChannel && node != nil && !tenancy.CotenancySafe(node.Labels) {
		var all []string
		for _, m := range members {
			all = append(all, m.key)
		}
		slices.Sort(all)
		out = append(out, Violation{Rule: RuleI4, Node: name, Tenants: tenants, Pods: all,
			Message: fmt.Sprintf("node %s is not labelled %s=%s but runs pods of tenants %s", name, wellknown.LabelCotenancySafe, wellknown.ValueTrue, strings.Join(tenants, ", "))})
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
