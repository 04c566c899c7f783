// Package nodecache holds the per-node summaries that mtscn's scheduler
// plugins compute from a node's pods (docs/contributing.md, "Where each
// concept lives"): TenantIsolation's tenancy summary and SandboxOverhead's
// committed memory. Filter and Score run once per node per pod; reading a
// summary computed once per node change keeps them constant work whatever
// the number of pods on the node.
//
// # What it relies on
//
// A summary is keyed by node name and is valid for one NodeInfo generation
// and one epoch. That is sound because of how the scheduler framework
// (k8s.io/kubernetes/pkg/scheduler/framework/types.go and
// k8s.io/kubernetes/pkg/scheduler/backend/cache, v1.35.4) treats
// NodeInfo.Generation:
//
//  1. every change of a NodeInfo's pods or node (AddPodInfo, RemovePod,
//     SetNode, RemoveNode) draws a new generation from one process-wide
//     counter, so no two different pod sets of a node share a generation,
//     not even after a pod is deleted and another created, or a node is
//     deleted and re-created under its name;
//  2. the scheduler's cache copies a node into the cycle's snapshot with its
//     generation (UpdateSnapshot), so a node that did not change keeps its
//     generation from cycle to cycle, and one that changed (pods added,
//     assumed, forgotten, updated, removed) gets a new one;
//  3. NodeInfo.Snapshot keeps the generation, and the copies the framework
//     modifies for nominated pods and for preemption victims
//     (AddPodInfo/RemovePod on a Snapshot) get a new one: a copy never
//     matches the summary of the NodeInfo it was made from.
//
// framework_test.go pins each point against the vendored framework, so a
// Kubernetes bump that changes one fails there, not in production.
//
// What the generation does not cover is the plugins' own inputs that are
// not pods or the node (Namespaces, RuntimeClasses): a cycle names them by
// an epoch, the Version of the classification View it uses
// (pkg/plugins/internal/classify), and a summary serves only its epoch.
//
// # Replacement
//
// A node keeps SlotsPerNode summaries: the real NodeInfo's and one copy's.
// A new summary replaces an empty slot, else one of an older epoch, else
// the least recently used, else (same cycle) the one of the newer
// generation, which is the copy when the other is the NodeInfo it was made
// from; so the copies filtered for a node with nominated pods, and the many
// copies of a preemption dry run, do not evict the real node's summary.
// Every SweepEvery cycles, Begin drops the nodes no one asked for since the
// previous sweep (deleted nodes, nodes no longer considered). NodeInfos
// with generation 0 were not made by the framework and are never cached.
package nodecache
