// Package sandboxoverhead implements the SandboxOverhead scheduler plugin.
//
// Kubernetes counts a pod's memory requests plus pod.spec.overhead; a Kata
// VM commits its whole guest (default_memory plus every limit, per
// pkg/vmsize) plus the VMM. The plugin accounts for that gap on every node:
//
//   - F1: Σ committed(p) over the node's pods plus the new pod ≤ allocatable memory;
//   - F2: Σ guest RAM of /dev/shm-backed VMs ≤ allocatable mtscn.io/sandbox-memory (when advertised);
//   - F3: on-node VMs < allocatable mtscn.io/sandboxes (when advertised).
//
// PreFilter only sizes the pod, whatever the number of nodes, from one
// immutable copy of the RuntimeClasses (a classify.View) that the whole
// cycle sizes pods from. Filter and Score read the node's totals from the
// node cache (pkg/plugins/internal/nodecache) keyed by node name, NodeInfo
// generation and View version, so they do constant work per node unless
// the node changed; AddPod/RemovePod keep the summary of the NodeInfo copy
// they change in the cycle state, for nominated pods and preemption. Score is
// LeastCommitted or MostCommitted. See README.md.
package sandboxoverhead
