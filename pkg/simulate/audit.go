package simulate

import (
	"fmt"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// Audit returns every I1-I4 violation (audit.Check) and one Overcommit
// violation per node whose pods commit more memory than it has
// (MemoryByNode with the scheduler's VM model).
func Audit(snap audit.Snapshot, iso audit.IsolationOptions, model *vmsize.Model) []audit.Violation {
	vs := audit.Check(snap, iso)
	for _, m := range MemoryByNode(snap, iso, model) {
		if !m.Overcommitted() {
			continue
		}
		vs = append(vs, audit.Violation{
			Rule: audit.RuleOvercommit,
			Node: m.Node,
			Message: fmt.Sprintf("node %s: pods commit %s (VM footprints included) but allocatable memory is %s",
				m.Node, vmsize.FormatBytes(m.Committed, true), vmsize.FormatBytes(m.Allocatable, false)),
		})
	}
	return vs
}
