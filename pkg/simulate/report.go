package simulate

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	v1 "k8s.io/api/core/v1"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// WriteOutcomes prints one line per new pod: where it went, or why it
// could not go anywhere.
func WriteOutcomes(w io.Writer, outcomes []Outcome) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "POD\tTENANT\tRUNTIME\tNODE")
	for _, o := range outcomes {
		node := o.Node
		if node == "" {
			node = "(pending)"
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\n", o.Namespace, o.Name, o.Tenant, runtimeName(o.RuntimeClass), node)
	}
	return tw.Flush()
}

func runtimeName(rc string) string {
	if rc == "" {
		return "runc"
	}
	return rc
}

// WritePlacements prints node × tenant × runtime with pod counts, nodes in
// name order, every node listed (an empty node shows as "-").
func WritePlacements(w io.Writer, res *Result, iso audit.IsolationOptions) error {
	classifier := tenancy.NewStatic(iso.Tenancy, res.Snapshot.Namespaces, res.Snapshot.RuntimeClasses)
	type key struct{ tenant, runtime string }
	byNode := map[string]map[key]int{}
	for _, p := range res.Snapshot.Pods {
		if p.Spec.NodeName == "" || tenancy.IsTerminal(p) {
			continue
		}
		tenant := "(infrastructure)"
		if nsp := classifier.BoundNamespace(p.Namespace); !nsp.Infrastructure {
			tenant = nsp.Tenant
		}
		rc := ""
		if p.Spec.RuntimeClassName != nil {
			rc = *p.Spec.RuntimeClassName
		}
		if byNode[p.Spec.NodeName] == nil {
			byNode[p.Spec.NodeName] = map[key]int{}
		}
		byNode[p.Spec.NodeName][key{tenant, runtimeName(rc)}]++
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "NODE\tKIND\tTENANT\tRUNTIME\tPODS")
	for _, n := range sortedNodes(res.Snapshot.Nodes) {
		kind := n.Annotations[wellknown.AnnotationDemoNodeKind]
		if kind == "" {
			kind = "-"
		}
		groups := byNode[n.Name]
		if len(groups) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t0\n", n.Name, kind)
			continue
		}
		keys := make([]key, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].tenant != keys[j].tenant {
				return keys[i].tenant < keys[j].tenant
			}
			return keys[i].runtime < keys[j].runtime
		})
		for i, k := range keys {
			name, kd := n.Name, kind
			if i > 0 {
				name, kd = "", ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", name, kd, k.tenant, k.runtime, groups[k])
		}
	}
	return tw.Flush()
}

// WritePending prints the pods left pending, each followed by the
// scheduler's verdicts, one per line. Pods of one namespace with the same
// runtime and the same verdicts are listed together.
func WritePending(w io.Writer, outcomes []Outcome) error {
	type group struct {
		pods           []string
		ns, rc, reason string
	}
	var groups []*group
	for _, o := range outcomes {
		if o.Node != "" {
			continue
		}
		if n := len(groups); n > 0 {
			if g := groups[n-1]; g.ns == o.Namespace && g.rc == o.RuntimeClass && g.reason == o.Reason {
				g.pods = append(g.pods, o.Name)
				continue
			}
		}
		groups = append(groups, &group{pods: []string{o.Name}, ns: o.Namespace, rc: o.RuntimeClass, reason: o.Reason})
	}
	if len(groups) == 0 {
		_, err := fmt.Fprintln(w, "none")
		return err
	}
	for _, g := range groups {
		head, items := SplitReason(g.reason)
		if _, err := fmt.Fprintf(w, "%s/%s (%s): %s\n", g.ns, strings.Join(g.pods, ", "), runtimeName(g.rc), head); err != nil {
			return err
		}
		for _, it := range items {
			if _, err := fmt.Fprintf(w, "    %s\n", it); err != nil {
				return err
			}
		}
	}
	return nil
}

// SplitReason splits a scheduler message such as "0/6 nodes are
// available: 1 node lacks: usable /dev/kvm, SEV-SNP, 5 Insufficient
// memory" into its head ("0/6 nodes are available") and its verdicts, one
// per group of nodes ("1 node lacks: usable /dev/kvm, SEV-SNP").
func SplitReason(msg string) (string, []string) {
	head, rest, ok := strings.Cut(msg, ": ")
	if !ok {
		return msg, nil
	}
	var items []string
	for _, part := range strings.Split(rest, ", ") {
		startsWithCount := part != "" && part[0] >= '0' && part[0] <= '9' && strings.Contains(part, " ")
		if len(items) == 0 || startsWithCount {
			items = append(items, part)
			continue
		}
		items[len(items)-1] += ", " + part
	}
	return head, items
}

// NodeMemory is the memory committed on one node.
type NodeMemory struct {
	Node string
	// Allocatable is the node's allocatable memory.
	Allocatable int64
	// Counted is Σ requests + overhead: what the default scheduler counts.
	Counted int64
	// Committed is Σ committed: VM footprints for sandboxed pods (pkg/vmsize),
	// requests + overhead for the others.
	Committed int64
	// VMs is the number of VMs on the node.
	VMs int
	// Shared is the guest memory of the VMs backed by /dev/shm.
	Shared int64
	// SandboxMemory is the node's allocatable mtscn.io/sandbox-memory, 0
	// when the node does not advertise it.
	SandboxMemory int64
}

// Overcommitted reports whether the node's pods commit more memory than it
// has.
func (m NodeMemory) Overcommitted() bool { return m.Committed > m.Allocatable }

// SharedOverflow reports whether the VMs' guest memory in /dev/shm exceeds
// what the node advertises: VMs fail to start or are killed by SIGBUS.
func (m NodeMemory) SharedOverflow() bool { return m.SandboxMemory > 0 && m.Shared > m.SandboxMemory }

// MemoryByNode sums, per node in name order, what its running pods
// commit as the policy's SandboxOverhead args size them (audit.Usage).
func MemoryByNode(snap audit.Snapshot, p *audit.Policy) ([]NodeMemory, error) {
	opts := audit.ResourceOptions{Tenancy: p.Isolation.Tenancy}
	if p.Resources != nil {
		opts = *p.Resources
	}
	usage, err := audit.Usage(snap, opts)
	if err != nil {
		return nil, err
	}
	out := make([]NodeMemory, 0, len(usage))
	for _, u := range usage {
		out = append(out, NodeMemory{Node: u.Node, VMs: int(u.VMs), Counted: u.Counted, Committed: u.Committed,
			Allocatable: u.Allocatable, Shared: u.SharedMemory, SandboxMemory: u.SandboxMemory})
	}
	return out, nil
}

// WriteMemory prints committed memory per node against allocatable and
// against what the default scheduler counts (requests + overhead), and the
// VMs' guest memory in /dev/shm against the node's mtscn.io/sandbox-memory.
func WriteMemory(w io.Writer, mem []NodeMemory) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NODE\tVMS\tREQUESTS+OVERHEAD\tCOMMITTED / ALLOCATABLE\tGUEST RAM IN /DEV/SHM")
	for _, m := range mem {
		committed := vmsize.FormatBytes(m.Committed, true) + " / " + vmsize.FormatBytes(m.Allocatable, false)
		if m.Overcommitted() {
			committed += " OVERCOMMITTED"
		}
		shm := "-"
		if m.SandboxMemory > 0 {
			shm = vmsize.FormatBytes(m.Shared, true) + " / " + vmsize.FormatBytes(m.SandboxMemory, false)
			if m.SharedOverflow() {
				shm += " OVERFLOW"
			}
		} else if m.Shared > 0 {
			shm = vmsize.FormatBytes(m.Shared, true)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", m.Node, m.VMs, vmsize.FormatBytes(m.Counted, true), committed, shm)
	}
	return tw.Flush()
}

func sortedNodes(nodes []*v1.Node) []*v1.Node {
	out := append([]*v1.Node(nil), nodes...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
