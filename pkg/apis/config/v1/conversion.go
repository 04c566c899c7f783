package v1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/conversion"

	"github.com/mtscn/mtscn/pkg/apis/config"
)

// The versioned args use pointers so that defaulting can tell "unset" from
// "zero"; the internal args are plain values. These functions finish what
// conversion-gen cannot do alone. Defaulting runs before conversion, so a nil
// pointer here only happens for objects built by hand; it converts to zero.

func quantityValue(q *resource.Quantity) resource.Quantity {
	if q == nil {
		return resource.Quantity{}
	}
	return q.DeepCopy()
}

func quantityPointer(q resource.Quantity) *resource.Quantity {
	c := q.DeepCopy()
	return &c
}

// Convert_v1_HypervisorProfile_To_config_HypervisorProfile converts a profile.
func Convert_v1_HypervisorProfile_To_config_HypervisorProfile(in *HypervisorProfile, out *config.HypervisorProfile, s conversion.Scope) error {
	if err := autoConvert_v1_HypervisorProfile_To_config_HypervisorProfile(in, out, s); err != nil {
		return err
	}
	out.DefaultMemory = quantityValue(in.DefaultMemory)
	out.OverheadMemory = quantityValue(in.OverheadMemory)
	out.HostOverhead = quantityValue(in.HostOverhead)
	out.SharedMemoryBacked = in.SharedMemoryBacked != nil && *in.SharedMemoryBacked
	return nil
}

// Convert_config_HypervisorProfile_To_v1_HypervisorProfile converts a profile.
func Convert_config_HypervisorProfile_To_v1_HypervisorProfile(in *config.HypervisorProfile, out *HypervisorProfile, s conversion.Scope) error {
	if err := autoConvert_config_HypervisorProfile_To_v1_HypervisorProfile(in, out, s); err != nil {
		return err
	}
	out.DefaultMemory = quantityPointer(in.DefaultMemory)
	out.OverheadMemory = quantityPointer(in.OverheadMemory)
	out.HostOverhead = quantityPointer(in.HostOverhead)
	shm := in.SharedMemoryBacked
	out.SharedMemoryBacked = &shm
	return nil
}

// Convert_v1_TenantIsolationArgs_To_config_TenantIsolationArgs converts args.
func Convert_v1_TenantIsolationArgs_To_config_TenantIsolationArgs(in *TenantIsolationArgs, out *config.TenantIsolationArgs, s conversion.Scope) error {
	if err := autoConvert_v1_TenantIsolationArgs_To_config_TenantIsolationArgs(in, out, s); err != nil {
		return err
	}
	if in.SideChannelPolicy != nil {
		out.SideChannelPolicy = config.SideChannelPolicy(*in.SideChannelPolicy)
	}
	return nil
}

// Convert_config_TenantIsolationArgs_To_v1_TenantIsolationArgs converts args.
func Convert_config_TenantIsolationArgs_To_v1_TenantIsolationArgs(in *config.TenantIsolationArgs, out *TenantIsolationArgs, s conversion.Scope) error {
	if err := autoConvert_config_TenantIsolationArgs_To_v1_TenantIsolationArgs(in, out, s); err != nil {
		return err
	}
	p := SideChannelPolicy(in.SideChannelPolicy)
	out.SideChannelPolicy = &p
	return nil
}

// Convert_v1_SandboxOverheadArgs_To_config_SandboxOverheadArgs converts args.
func Convert_v1_SandboxOverheadArgs_To_config_SandboxOverheadArgs(in *SandboxOverheadArgs, out *config.SandboxOverheadArgs, s conversion.Scope) error {
	if err := autoConvert_v1_SandboxOverheadArgs_To_config_SandboxOverheadArgs(in, out, s); err != nil {
		return err
	}
	out.VFIOPinnedOverhead = quantityValue(in.VFIOPinnedOverhead)
	if in.ScoringStrategy != nil {
		out.ScoringStrategy = config.ScoringStrategyType(*in.ScoringStrategy)
	}
	if in.LearnedOverhead != nil {
		return Convert_v1_LearnedOverhead_To_config_LearnedOverhead(in.LearnedOverhead, &out.LearnedOverhead, s)
	}
	return nil
}

// Convert_config_SandboxOverheadArgs_To_v1_SandboxOverheadArgs converts args.
func Convert_config_SandboxOverheadArgs_To_v1_SandboxOverheadArgs(in *config.SandboxOverheadArgs, out *SandboxOverheadArgs, s conversion.Scope) error {
	if err := autoConvert_config_SandboxOverheadArgs_To_v1_SandboxOverheadArgs(in, out, s); err != nil {
		return err
	}
	out.VFIOPinnedOverhead = quantityPointer(in.VFIOPinnedOverhead)
	st := ScoringStrategyType(in.ScoringStrategy)
	out.ScoringStrategy = &st
	out.LearnedOverhead = &LearnedOverhead{}
	return Convert_config_LearnedOverhead_To_v1_LearnedOverhead(&in.LearnedOverhead, out.LearnedOverhead, s)
}

// Convert_v1_SandboxFeaturesArgs_To_config_SandboxFeaturesArgs converts args.
func Convert_v1_SandboxFeaturesArgs_To_config_SandboxFeaturesArgs(in *SandboxFeaturesArgs, out *config.SandboxFeaturesArgs, s conversion.Scope) error {
	if err := autoConvert_v1_SandboxFeaturesArgs_To_config_SandboxFeaturesArgs(in, out, s); err != nil {
		return err
	}
	if in.VirtModeWeights != nil {
		return Convert_v1_VirtModeWeights_To_config_VirtModeWeights(in.VirtModeWeights, &out.VirtModeWeights, s)
	}
	return nil
}

// Convert_config_SandboxFeaturesArgs_To_v1_SandboxFeaturesArgs converts args.
func Convert_config_SandboxFeaturesArgs_To_v1_SandboxFeaturesArgs(in *config.SandboxFeaturesArgs, out *SandboxFeaturesArgs, s conversion.Scope) error {
	if err := autoConvert_config_SandboxFeaturesArgs_To_v1_SandboxFeaturesArgs(in, out, s); err != nil {
		return err
	}
	out.VirtModeWeights = &VirtModeWeights{}
	return Convert_config_VirtModeWeights_To_v1_VirtModeWeights(&in.VirtModeWeights, out.VirtModeWeights, s)
}
