package vmsize

import (
	"fmt"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/scheme"
	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
)

// DefaultArgs returns the SandboxOverhead args the scheduler uses when its
// configuration sets none: Kata's shipped profiles, no overcommit, QAT and
// NVIDIA devices pinned. Offline tools (audit, simulate) start from it.
func DefaultArgs() (*config.SandboxOverheadArgs, error) {
	in := &configv1.SandboxOverheadArgs{}
	scheme.Scheme.Default(in)
	out := &config.SandboxOverheadArgs{}
	if err := scheme.Scheme.Convert(in, out, nil); err != nil {
		return nil, fmt.Errorf("converting default SandboxOverhead args: %w", err)
	}
	return out, nil
}

// DefaultModel returns the model of DefaultArgs.
func DefaultModel() (*Model, error) {
	args, err := DefaultArgs()
	if err != nil {
		return nil, err
	}
	return NewModel(args), nil
}
