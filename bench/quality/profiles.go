package quality

import (
	"context"
	"fmt"

	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/bench/workload"
	"github.com/mtscn/mtscn/pkg/devcluster"
)

// ProfileMtscnSpread runs the documented spreading alternative,
// manifests/scheduler/scheduler-config-spread.yaml (Options.SpreadSchedulerConfig):
// the same plugins and isolation, scoring for headroom per node instead of
// fewer nodes.
const ProfileMtscnSpread = "mtscn-spread"

// ProfileMtscnAllNodes is the shipped configuration with
// percentageOfNodesToScore: 100: every pod sees every feasible node, so
// packing finds the fullest node of the whole cluster instead of the
// fullest of the scheduler's rotating sample, at the cost of Filter and
// Score on every node.
const ProfileMtscnAllNodes = "mtscn-all-nodes"

// Profiles are the profiles Run compares, in table order.
var Profiles = []string{workload.ProfileDefault, workload.ProfileAntiAffinity, workload.ProfileDedicatedPools, workload.ProfileMtscn, ProfileMtscnAllNodes, ProfileMtscnSpread}

// configs are the scheduler configurations a run may need.
type configs struct {
	shipped *schedconfig.KubeSchedulerConfiguration
	// spread is nil unless a profile needs it.
	spread *schedconfig.KubeSchedulerConfiguration
}

// loadConfigs loads the shipped configuration and, when profiles include
// ProfileMtscnSpread, the spreading one.
func loadConfigs(ctx context.Context, opts Options, profiles []string) (configs, error) {
	var c configs
	var err error
	if c.shipped, err = devcluster.LoadSchedulerConfig(ctx, opts.SchedulerConfig); err != nil {
		return configs{}, err
	}
	for _, p := range profiles {
		if p != ProfileMtscnSpread {
			continue
		}
		if opts.SpreadSchedulerConfig == "" {
			return configs{}, fmt.Errorf("profile %s needs Options.SpreadSchedulerConfig", ProfileMtscnSpread)
		}
		if c.spread, err = devcluster.LoadSchedulerConfig(ctx, opts.SpreadSchedulerConfig); err != nil {
			return configs{}, err
		}
	}
	return c, nil
}

// schedulerConfig returns the configuration a profile runs.
func schedulerConfig(profile string, c configs) (*schedconfig.KubeSchedulerConfiguration, error) {
	switch profile {
	case workload.ProfileMtscn:
		return c.shipped, nil
	case ProfileMtscnAllNodes:
		cfg := c.shipped.DeepCopy()
		for i := range cfg.Profiles {
			cfg.Profiles[i].PercentageOfNodesToScore = ptr.To[int32](100)
		}
		return cfg, nil
	case ProfileMtscnSpread:
		if c.spread == nil {
			return nil, fmt.Errorf("profile %s: no spreading configuration loaded", profile)
		}
		return c.spread, nil
	case workload.ProfileDefault, workload.ProfileAntiAffinity, workload.ProfileDedicatedPools:
	default:
		return nil, fmt.Errorf("unknown profile %q: want one of %v", profile, Profiles)
	}
	def, err := devcluster.DefaultProfile()
	if err != nil {
		return nil, err
	}
	cfg := c.shipped.DeepCopy()
	cfg.Profiles = []schedconfig.KubeSchedulerProfile{def}
	return cfg, nil
}
