// Package tenantisolation implements the TenantIsolation scheduler plugin
// (DESIGN.md sections 3-4): a pod that shares the node's kernel turns its
// node into a single-tenant node, pods of an exclusive tenant get nodes of
// their own, tenants that require a sandbox get nothing else, and sandboxed
// pods of many tenants may share a node unless its CPU leaks across VMs.
//
// PreFilter classifies the pod through pkg/tenancy and summarizes the
// tenancy of every node (pods per tenant, shared-kernel and exclusive pods),
// kept correct for nominated pods and preemption victims by AddPod and
// RemovePod; Filter then answers in constant time whatever the number of
// pods on the node. Tenant conflicts are Unschedulable, so that preemption
// can evict lower-priority pods of another tenant.
package tenantisolation
