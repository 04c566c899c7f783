// Package tenantisolation tests the TenantIsolation plugin inside the real
// mtscn-scheduler (shipped profile) against a real kube-apiserver and etcd:
// every isolation rule, requeueing on the events that lift a rejection,
// preemption across tenants, and a randomized test whose end state
// pkg/audit must find free of violations.
package tenantisolation
