package quality

import (
	"fmt"

	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/mtscn/mtscn/bench/workload"
	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/devcluster"
)

// ProfileMtscnBinpack is the shipped profile with both memory scorers
// switched to bin packing (SandboxOverhead MostCommitted, NodeResourcesFit
// MostAllocated): what an operator who pays per node would configure.
const ProfileMtscnBinpack = "mtscn-binpack"

// Profiles are the profiles Run compares, in table order.
var Profiles = []string{workload.ProfileDefault, workload.ProfileAntiAffinity, workload.ProfileDedicatedPools, workload.ProfileMtscn, ProfileMtscnBinpack}

// schedulerConfig returns the configuration a profile runs.
func schedulerConfig(profile string, shipped *schedconfig.KubeSchedulerConfiguration) (*schedconfig.KubeSchedulerConfiguration, error) {
	switch profile {
	case workload.ProfileMtscn:
		return shipped, nil
	case ProfileMtscnBinpack:
		return binpack(shipped)
	}
	if profile != workload.ProfileDefault && profile != workload.ProfileAntiAffinity && profile != workload.ProfileDedicatedPools {
		return nil, fmt.Errorf("unknown profile %q: want one of %v", profile, Profiles)
	}
	def, err := devcluster.DefaultProfile()
	if err != nil {
		return nil, err
	}
	cfg := shipped.DeepCopy()
	cfg.Profiles = []schedconfig.KubeSchedulerProfile{def}
	return cfg, nil
}

// binpack returns the shipped configuration with SandboxOverhead scoring
// MostCommitted and NodeResourcesFit scoring MostAllocated.
func binpack(shipped *schedconfig.KubeSchedulerConfiguration) (*schedconfig.KubeSchedulerConfiguration, error) {
	cfg := shipped.DeepCopy()
	changed := 0
	for i := range cfg.Profiles {
		for _, pc := range cfg.Profiles[i].PluginConfig {
			switch args := pc.Args.(type) {
			case *config.SandboxOverheadArgs:
				args.ScoringStrategy = config.MostCommitted
				changed++
			case *schedconfig.NodeResourcesFitArgs:
				if args.ScoringStrategy == nil {
					args.ScoringStrategy = &schedconfig.ScoringStrategy{}
				}
				args.ScoringStrategy.Type = schedconfig.MostAllocated
				changed++
			}
		}
	}
	if changed != 2 {
		return nil, fmt.Errorf("the shipped configuration has %d SandboxOverhead and NodeResourcesFit args after defaulting, want 2", changed)
	}
	return cfg, nil
}
