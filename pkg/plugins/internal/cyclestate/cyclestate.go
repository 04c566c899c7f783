// Package cyclestate reads mtscn's plugin state from the scheduler's
// CycleState with one set of error texts (docs/contributing.md, "One
// plugin, one layout"): each plugin's typed getPreFilterState calls Read.
package cyclestate

import (
	"fmt"

	fwk "k8s.io/kube-scheduler/framework"
)

// Read returns the state stored under key as a T. It fails, wrapping the
// framework's error, when nothing is stored (fwk.ErrNotFound: PreFilter
// did not run or skipped the pod), and when the stored state is of another
// type.
func Read[T fwk.StateData](cs fwk.CycleState, key fwk.StateKey) (T, error) {
	var zero T
	c, err := cs.Read(key)
	if err != nil {
		return zero, fmt.Errorf("reading %q from cycle state: %w", key, err)
	}
	s, ok := c.(T)
	if !ok {
		return zero, fmt.Errorf("invalid %s state, got type %T", key, c)
	}
	return s, nil
}
