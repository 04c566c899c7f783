package cyclestate

import (
	"errors"
	"testing"

	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

type state struct{ n int }

func (s *state) Clone() fwk.StateData { return s }

type other struct{}

func (o *other) Clone() fwk.StateData { return o }

func TestRead(t *testing.T) {
	cs := framework.NewCycleState()
	const key fwk.StateKey = "PreFilterX"
	if _, err := Read[*state](cs, key); !errors.Is(err, fwk.ErrNotFound) || err.Error() != `reading "PreFilterX" from cycle state: not found` {
		t.Errorf("nothing stored: err = %v, want one wrapping fwk.ErrNotFound", err)
	}
	cs.Write(key, &other{})
	if _, err := Read[*state](cs, key); err == nil || err.Error() != "invalid PreFilterX state, got type *cyclestate.other" {
		t.Errorf("another type stored: err = %v", err)
	}
	cs.Write(key, &state{n: 7})
	if s, err := Read[*state](cs, key); err != nil || s.n != 7 {
		t.Errorf("Read = %v, %v; want the stored state", s, err)
	}
}
