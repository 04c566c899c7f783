package audit

import (
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
)

// Rule names a checked property.
type Rule string

const (
	// RuleI1: a node running a shared-kernel pod of tenant T runs only T's pods.
	RuleI1 Rule = "I1"
	// RuleI2: a node running a pod of an exclusive tenant runs only its pods.
	RuleI2 Rule = "I2"
	// RuleI3: every pod of a sandbox=required tenant is sandboxed.
	RuleI3 Rule = "I3"
	// RuleI4: tenants share only nodes labelled mtscn.io/cotenancy-safe=true.
	RuleI4 Rule = "I4"
	// RuleF1: the memory the running pods of a node commit (VM footprints
	// included) fits its allocatable memory.
	RuleF1 Rule = "F1"
	// RuleF2: the guest memory of a node's /dev/shm-backed VMs fits its
	// allocatable mtscn.io/sandbox-memory.
	RuleF2 Rule = "F2"
	// RuleF3: a node runs no more VMs than its allocatable
	// mtscn.io/sandboxes.
	RuleF3 Rule = "F3"
)

// Snapshot is the cluster state to check.
type Snapshot struct {
	Nodes          []*v1.Node
	Pods           []*v1.Pod
	Namespaces     []*v1.Namespace
	RuntimeClasses []*nodev1.RuntimeClass
}

// Violation is one broken rule on one node (or, for I3, one pod).
type Violation struct {
	Rule    Rule     `json:"rule"`
	Node    string   `json:"node,omitempty"`
	Tenants []string `json:"tenants,omitempty"`
	// Pods are namespace/name of the pods involved.
	Pods    []string `json:"pods,omitempty"`
	Message string   `json:"message"`
}
