// +k8s:deepcopy-gen=package
// +groupName=kubescheduler.config.k8s.io

// Package config holds the internal (unversioned) types of the arguments of
// mtscn's scheduler plugins: TenantIsolationArgs, SandboxOverheadArgs and
// SandboxFeaturesArgs. They are registered in kube-scheduler's own
// kubescheduler.config.k8s.io scheme so that a KubeSchedulerConfiguration's
// pluginConfig decodes into them; the versioned form lives in ./v1.
package config
