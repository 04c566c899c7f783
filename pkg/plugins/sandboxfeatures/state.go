package sandboxfeatures

import (
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/plugins/internal/cyclestate"
)

// preFilterState holds what a pod needs from a node.
type preFilterState struct {
	reqs []*requirement
}

// Clone returns the state itself: it is never modified after PreFilter
// and does not depend on other pods.
func (s *preFilterState) Clone() fwk.StateData { return s }

func getPreFilterState(cycleState fwk.CycleState) (*preFilterState, error) {
	return cyclestate.Read[*preFilterState](cycleState, preFilterStateKey)
}
