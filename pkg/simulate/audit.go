package simulate

import (
	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// Audit returns every I1-I4 violation (audit.Check) followed by every node
// whose pods commit more memory than it has or whose /dev/shm-backed guests
// exceed its mtscn.io/sandbox-memory (audit.CheckOvercommit), classified
// and sized like the scheduler configuration says.
func Audit(snap audit.Snapshot, iso audit.IsolationOptions, model *vmsize.Model) ([]audit.Violation, error) {
	vs := audit.Check(snap, iso)
	over, err := audit.CheckOvercommit(snap, audit.OvercommitOptions{Tenancy: iso.Tenancy, Model: model})
	if err != nil {
		return nil, err
	}
	return append(vs, over...), nil
}
