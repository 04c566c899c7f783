package names

// Plugin names, as used in KubeSchedulerConfiguration profiles and as the
// kind prefix of their args (<Name>Args).
const (
	TenantIsolation = "TenantIsolation"
	SandboxOverhead = "SandboxOverhead"
	SandboxFeatures = "SandboxFeatures"
)
