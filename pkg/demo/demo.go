package demo

import (
	"context"
	"fmt"
	"io"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/simulate"
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
}

// Summary is what the demo found, for callers that check it.
type Summary struct {
	Result     *simulate.Result
	Memory     []simulate.NodeMemory
	Violations []audit.Violation
	// Engine is non-nil only with Options.Keep.
	Engine *simulate.Engine
}

// Run starts the embedded control plane and mtscn-scheduler, builds the
// demo cluster, submits the workload and prints the placement table, the
// pending pods with their reasons, committed memory per node and the audit.
func Run(ctx context.Context, opts Options) (_ *Summary, err error) {
	eng, err := simulate.Start(ctx, opts.Engine)
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
	res, err := eng.Run(ctx, Scenario())
	if err != nil {
		return nil, err
	}
	s := &Summary{Result: res}
	s.Memory = simulate.MemoryByNode(res.Snapshot, eng.Isolation, eng.Model)
	s.Violations = simulate.Audit(res.Snapshot, eng.Isolation, eng.Model)
	eng.Progressf("audited %d nodes, %d pods", len(res.Snapshot.Nodes), len(res.Snapshot.Pods))
	if opts.Keep {
		s.Engine = eng
	}

	w := opts.Out
	section(w, "Placements (node × tenant × runtime)")
	if err := simulate.WritePlacements(w, res, eng.Isolation); err != nil {
		return nil, err
	}
	section(w, "Pending pods")
	if err := simulate.WritePending(w, res.Outcomes); err != nil {
		return nil, err
	}
	section(w, "Memory per node: what a Kata VM commits vs what the default scheduler counts")
	if err := simulate.WriteMemory(w, s.Memory); err != nil {
		return nil, err
	}
	section(w, "Audit (I1-I4, overcommit)")
	if err := simulate.WriteViolations(w, s.Violations); err != nil {
		return nil, err
	}
	return s, nil
}

func section(w io.Writer, title string) {
	fmt.Fprintf(w, "\n== %s\n", title)
}
