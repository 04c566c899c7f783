package demo

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/devcluster"
	"github.com/mtscn/mtscn/pkg/schedulercmd"
	"github.com/mtscn/mtscn/pkg/simulate"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// Options configure Run.
type Options struct {
	// Engine configures the control plane and the scheduler.
	Engine simulate.Options
	// Out receives the report.
	Out io.Writer
	// Keep leaves the cluster running when Run returns; the caller stops
	// it with Summary.Engine.Stop.
	Keep bool
	// Compare first runs the same workload through kube-scheduler's default
	// profile and reports what it would have done.
	Compare bool
}

// Outcome of one scheduler on the workload.
type Outcome struct {
	Result     *simulate.Result
	Memory     []simulate.NodeMemory
	Violations []audit.Violation
	// VMsWithoutKVM are sandboxed pods bound to nodes without a usable
	// /dev/kvm: their VMs cannot start.
	VMsWithoutKVM []string
}

// Summary is what the demo found, for callers that check it.
type Summary struct {
	// Mtscn is mtscn-scheduler's outcome.
	Mtscn Outcome
	// Default is default-scheduler's outcome on the same workload (with
	// Options.Compare).
	Default *Outcome
	// Policy is what the shipped configuration enforces; the reports and
	// the audit follow it.
	Policy *audit.Policy
	// Engine is non-nil only with Options.Keep.
	Engine *simulate.Engine
}

// Run starts the embedded control plane and mtscn-scheduler, builds the
// demo cluster, submits the workload and prints the placement table, the
// pending pods with their reasons, committed memory per node, the audit
// and, with Compare, what the default scheduler does with the same pods.
func Run(ctx context.Context, opts Options) (_ *Summary, err error) {
	engOpts := opts.Engine
	engOpts.WithDefaultScheduler = opts.Compare
	eng, err := simulate.Start(ctx, engOpts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil || !opts.Keep {
			if stopErr := eng.Stop(); stopErr != nil && err == nil {
				err = stopErr
			}
		}
	}()
	sc := Scenario()
	if err := eng.Setup(ctx, sc); err != nil {
		return nil, err
	}
	s := &Summary{Policy: eng.Policy}
	if opts.Compare {
		res, err := eng.Schedule(ctx, sc.NewPods, devcluster.DefaultSchedulerName)
		if err != nil {
			return nil, err
		}
		o, err := evaluate(eng, res)
		if err != nil {
			return nil, err
		}
		s.Default = &o
		if err := eng.Clear(ctx, sc.NewPods); err != nil {
			return nil, err
		}
	}
	res, err := eng.Schedule(ctx, sc.NewPods, schedulercmd.SchedulerName)
	if err != nil {
		return nil, err
	}
	if s.Mtscn, err = evaluate(eng, res); err != nil {
		return nil, err
	}
	eng.Progressf("audited %d nodes, %d pods", len(res.Snapshot.Nodes), len(res.Snapshot.Pods))
	if opts.Keep {
		s.Engine = eng
	}
	return s, write(opts.Out, s)
}

func evaluate(eng *simulate.Engine, res *simulate.Result) (Outcome, error) {
	violations, err := audit.Audit(res.Snapshot, eng.Policy)
	if err != nil {
		return Outcome{}, err
	}
	memory, err := simulate.MemoryByNode(res.Snapshot, eng.Policy)
	if err != nil {
		return Outcome{}, err
	}
	o := Outcome{Result: res, Memory: memory, Violations: violations}
	classifier := tenancy.NewStatic(eng.Policy.Isolation.Tenancy, res.Snapshot.Namespaces, res.Snapshot.RuntimeClasses)
	kvm := map[string]bool{}
	for _, n := range res.Snapshot.Nodes {
		kvm[n.Name] = n.Labels[wellknown.LabelKVM] == "true"
	}
	for _, p := range res.Snapshot.Pods {
		if p.Spec.NodeName == "" || kvm[p.Spec.NodeName] {
			continue
		}
		if rt := classifier.BoundRuntime(p.Spec.RuntimeClassName); rt.Sandboxed && !rt.OffNode {
			o.VMsWithoutKVM = append(o.VMsWithoutKVM, p.Namespace+"/"+p.Name)
		}
	}
	return o, nil
}

func write(w io.Writer, s *Summary) error {
	m := s.Mtscn
	section(w, "Placements by mtscn-scheduler (node × tenant × runtime)")
	if err := simulate.WritePlacements(w, m.Result, s.Policy.Isolation); err != nil {
		return err
	}
	section(w, "Pending pods and why")
	if err := simulate.WritePending(w, m.Result.Outcomes); err != nil {
		return err
	}
	section(w, "Memory per node: requests + overhead (what the default scheduler counts) vs what the VMs commit")
	if err := simulate.WriteMemory(w, m.Memory); err != nil {
		return err
	}
	section(w, "Audit (I1-I4, F1-F3)")
	if err := audit.WriteViolations(w, m.Violations); err != nil {
		return err
	}
	if s.Default == nil {
		return nil
	}
	d := s.Default
	section(w, "The same workload under default-scheduler (RuntimeClass nodeSelector + requests + overhead only)")
	if err := simulate.WriteMemory(w, d.Memory); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := audit.WriteViolations(w, d.Violations); err != nil {
		return err
	}
	section(w, "Summary")
	mr, dr := summaryRows(m), summaryRows(*d)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tMTSCN-SCHEDULER\tDEFAULT-SCHEDULER")
	for i := range mr {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mr[i][0], mr[i][1], dr[i][1])
	}
	return tw.Flush()
}

// summaryRows are (label, value) pairs comparing outcomes.
func summaryRows(o Outcome) [][2]string {
	placed := 0
	for _, p := range o.Result.Outcomes {
		if p.Node != "" {
			placed++
		}
	}
	byRule := map[audit.Rule]int{}
	for _, v := range o.Violations {
		byRule[v.Rule]++
	}
	overflow, overcommitted := 0, 0
	for _, m := range o.Memory {
		if m.SharedOverflow() {
			overflow++
		}
		if m.Overcommitted() {
			overcommitted++
		}
	}
	isolation := byRule[audit.RuleI1] + byRule[audit.RuleI2] + byRule[audit.RuleI3] + byRule[audit.RuleI4]
	return [][2]string{
		{"pods placed", fmt.Sprintf("%d/%d", placed, len(o.Result.Outcomes))},
		{"isolation violations (I1-I4)", fmt.Sprint(isolation)},
		{"nodes with memory overcommitted", fmt.Sprint(overcommitted)},
		{"nodes overflowing /dev/shm (VMs fail to start or die of SIGBUS)", fmt.Sprint(overflow)},
		{"VMs on nodes without KVM (cannot start)", fmt.Sprint(len(o.VMsWithoutKVM))},
	}
}

func section(w io.Writer, title string) {
	fmt.Fprintf(w, "\n== %s\n", title)
}
