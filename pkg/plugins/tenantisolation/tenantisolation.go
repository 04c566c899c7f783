package tenantisolation

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/validation"
)

// TenantIsolation is the TenantIsolation plugin. It holds only its validated arguments.
type TenantIsolation struct {
	args *config.TenantIsolationArgs
}

var (
	_ fwk.PreFilterPlugin = &TenantIsolation{}
	_ fwk.FilterPlugin    = &TenantIsolation{}
)

// Name is the name of the plugin used in the registry and configurations.
const Name = "TenantIsolation"

// Name returns name of the plugin. It is used in logs, etc.
func (pl *TenantIsolation) Name() string { return Name }

// New initializes a new plugin and returns it.
func New(_ context.Context, obj runtime.Object, _ fwk.Handle) (fwk.Plugin, error) {
	args, err := getArgs(obj)
	if err != nil {
		return nil, err
	}
	if err := validation.ValidateTenantIsolationArgs(field.NewPath("pluginConfig").Key(Name).Child("args"), args); err != nil {
		return nil, fmt.Errorf("invalid TenantIsolation args: %w", err)
	}
	return &TenantIsolation{args: args}, nil
}

func getArgs(obj runtime.Object) (*config.TenantIsolationArgs, error) {
	args, ok := obj.(*config.TenantIsolationArgs)
	if !ok {
		return nil, fmt.Errorf("want args to be of type TenantIsolationArgs, got %T", obj)
	}
	return args, nil
}

// PreFilter is not implemented yet: every pod is skipped.
func (pl *TenantIsolation) PreFilter(_ context.Context, _ fwk.CycleState, _ *v1.Pod, _ []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	return nil, fwk.NewStatus(fwk.Skip)
}

// PreFilterExtensions returns nil: the state does not depend on other pods.
func (pl *TenantIsolation) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// Filter admits every node.
func (pl *TenantIsolation) Filter(_ context.Context, _ fwk.CycleState, _ *v1.Pod, _ fwk.NodeInfo) *fwk.Status {
	return nil
}
