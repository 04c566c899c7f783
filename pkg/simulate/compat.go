package simulate

import (
	"context"

	"k8s.io/client-go/kubernetes"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/schedulercmd"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// Policies returns the mtscn-scheduler profile's classification and VM
// model (defaults for a nil cfg).
//
// Deprecated: use audit.PolicyFromConfig (or audit.DefaultPolicy); kept
// until bench/quality moves over.
func Policies(cfg *schedconfig.KubeSchedulerConfiguration) (audit.IsolationOptions, *vmsize.Model, error) {
	var p *audit.Policy
	var err error
	if cfg == nil {
		p, err = audit.DefaultPolicy()
	} else {
		p, err = audit.PolicyFromConfig(cfg, schedulercmd.SchedulerName, "the scheduler configuration")
	}
	if err != nil {
		return audit.IsolationOptions{}, nil, err
	}
	var model *vmsize.Model
	if p.Resources != nil {
		model = p.Resources.Model
	}
	return p.Isolation, model, nil
}

// ReadSnapshot lists what audit checks.
//
// Deprecated: use audit.ReadSnapshot; kept until bench/quality moves over.
func ReadSnapshot(ctx context.Context, client kubernetes.Interface) (*audit.Snapshot, error) {
	return audit.ReadSnapshot(ctx, client)
}
