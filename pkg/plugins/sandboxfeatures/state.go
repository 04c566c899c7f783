package sandboxfeatures

import (
	"fmt"

	fwk "k8s.io/kube-scheduler/framework"
)

// preFilterState holds what a pod needs from a node.
type preFilterState struct {
	reqs []*requirement
}

// Clone returns the state itself: it is never modified after PreFilter
// and does not depend on other pods.
func (s *preFilterState) Clone() fwk.StateData { return s }

func getPreFilterState(cycleState fwk.CycleState) (*preFilterState, error) {
	c, err := cycleState.Read(preFilterStateKey)
	if err != nil {
		return nil, fmt.Errorf("reading %q from cycle state: %w", preFilterStateKey, err)
	}
	s, ok := c.(*preFilterState)
	if !ok {
		return nil, fmt.Errorf("invalid PreFilter state, got type %T", c)
	}
	return s, nil
}
