// Package failover proves that a scheduler failover loses nothing (issue
// 15 item 10): two replicas of the built mtscn-scheduler binary run with
// the shipped configuration and its leader election against a real
// kube-apiserver and etcd (pkg/devcluster, in this process); while they
// place 2000 pods of 8 tenants, the leader is killed with SIGKILL, or the
// API server is restarted. Every pod must be bound exactly once (never
// moved, never lost) and pkg/audit must find no violation; the time from
// the failure to the last binding is logged.
package failover
