// Package metrics defines the decision metrics of mtscn's scheduler
// plugins, registered through k8s.io/component-base/metrics' legacy
// registry like kube-scheduler's own (k8s.io/kubernetes/pkg/scheduler/
// metrics), so they appear on mtscn-scheduler's /metrics beside
// scheduler_plugin_evaluation_total and scheduler_unschedulable_pods:
//
//   - mtscn_scheduler_rejections_total{plugin,reason}: each rejection
//     (PreFilter per pod, Filter per node), by the plugin's constant reason;
//   - mtscn_scheduler_requeues_total{plugin,event}: queueing hints that
//     moved a pod back to the active or backoff queue (fwk.Queue), by the
//     event that happened (the resource and Add, Update or Delete, e.g.
//     PodDelete);
//   - mtscn_scheduler_node_cache_lookups_total{plugin,result}: hits and
//     misses of the plugins' per-node summary caches;
//   - mtscn_scheduler_node_committed_memory_bytes{profile,node}: the
//     memory SandboxOverhead counts as committed on each node (VM
//     footprints included), one series per scheduler profile and node
//     (profiles may size nodes differently), removed when the node is
//     deleted.
//
// The plugins call Register from New and keep their hooks to one line.
// Labels are bounded: plugins and reasons are constants, events are the
// plugins' registered resources times three actions, nodes are the
// cluster's nodes, profiles the scheduler configuration's profiles.
// docs/design.md explains the rules the reasons stand for.
package metrics
