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
// PreFilter sizes the pod once and keeps a per-node summary (cached across
// cycles by NodeInfo generation) so that Filter and Score do constant work
// per node; AddPod/RemovePod keep it right under nominated pods and
// preemption. Score is LeastCommitted or MostCommitted. See README.md.
package sandboxoverhead
