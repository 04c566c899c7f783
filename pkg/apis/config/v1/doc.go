// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/mtscn/mtscn/pkg/apis/config
// +k8s:defaulter-gen=TypeMeta
// +k8s:defaulter-gen-input=github.com/mtscn/mtscn/pkg/apis/config/v1
// +groupName=kubescheduler.config.k8s.io

// Package v1 is the versioned (kubescheduler.config.k8s.io/v1) form of the
// mtscn plugin arguments, as written in a KubeSchedulerConfiguration's
// pluginConfig, with their defaults and conversions to the internal types.
package v1
