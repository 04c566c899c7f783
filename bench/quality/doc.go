// Package quality measures where schedulers put the multi-tenant Kata
// workload of bench/workload, not how fast: for each profile (default,
// anti-affinity, dedicated-pools, mtscn and its variants) it starts a fresh embedded
// control plane (pkg/devcluster: etcd, kube-apiserver with RuntimeClass
// admission, the scheduler in-process), creates the same nodes, tenants
// and pods, waits until the scheduler settles and audits the placement
// with pkg/audit: nodes used against lower bounds (memory, /dev/shm, and
// tenancy: isolated tenants on nodes of their own), isolation violations
// (I1-I4), overcommitted nodes and pending pods. An optional churn phase
// replaces a third of the pods at random and audits again.
package quality
