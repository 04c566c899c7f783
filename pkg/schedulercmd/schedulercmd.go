package schedulercmd

import (
	"github.com/spf13/cobra"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	"sigs.k8s.io/scheduler-plugins/pkg/capacityscheduling"
	"sigs.k8s.io/scheduler-plugins/pkg/coscheduling"
	"sigs.k8s.io/scheduler-plugins/pkg/noderesources"
	"sigs.k8s.io/scheduler-plugins/pkg/noderesourcetopology"

	// Registers the scheduler-plugins args (CoschedulingArgs, ...).
	_ "sigs.k8s.io/scheduler-plugins/apis/config/scheme"

	// Registers mtscn's args (TenantIsolationArgs, ...).
	_ "github.com/mtscn/mtscn/pkg/apis/config/scheme"
	"github.com/mtscn/mtscn/pkg/plugins/names"
	"github.com/mtscn/mtscn/pkg/plugins/sandboxfeatures"
	"github.com/mtscn/mtscn/pkg/plugins/sandboxoverhead"
	"github.com/mtscn/mtscn/pkg/plugins/tenantisolation"
)

// SchedulerName is the name of the profile in the shipped configuration;
// pods choose mtscn by setting spec.schedulerName to it.
const SchedulerName = "mtscn-scheduler"

// Registry returns the out-of-tree plugins that mtscn-scheduler adds to the
// in-tree ones.
func Registry() frameworkruntime.Registry {
	return frameworkruntime.Registry{
		names.TenantIsolation:         tenantisolation.New,
		names.SandboxOverhead:         sandboxoverhead.New,
		names.SandboxFeatures:         sandboxfeatures.New,
		capacityscheduling.Name:       capacityscheduling.New,
		coscheduling.Name:             coscheduling.New,
		noderesources.AllocatableName: noderesources.NewAllocatable,
		noderesourcetopology.Name:     noderesourcetopology.New,
	}
}

// Options returns the app options registering every plugin of Registry.
func Options() []app.Option {
	var opts []app.Option
	for name, factory := range Registry() {
		opts = append(opts, app.WithPlugin(name, factory))
	}
	return opts
}

// NewCommand returns the mtscn-scheduler command.
func NewCommand() *cobra.Command {
	cmd := app.NewSchedulerCommand(Options()...)
	cmd.Use = "mtscn-scheduler"
	return cmd
}
