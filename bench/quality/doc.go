// Package quality measures where schedulers put the multi-tenant Kata
// workload of bench/workload, not how fast: for each profile (default,
// anti-affinity, dedicated-pools, mtscn) it starts a fresh embedded
// control plane (pkg/devcluster: etcd, kube-apiserver with RuntimeClass
// admission, the scheduler in-process), creates the same nodes, tenants
// and pods, waits until the scheduler settles and audits the placement
// with pkg/audit: nodes used against a lower bound, isolation violations
// (I1-I4), overcommitted nodes and pending pods.
package quality
