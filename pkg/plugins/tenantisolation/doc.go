// Package tenantisolation implements the TenantIsolation scheduler plugin
// (docs/design.md): a pod that shares the node's kernel turns its
// node into a single-tenant node, pods of an exclusive tenant get nodes of
// their own, tenants that require a sandbox get nothing else, and sandboxed
// pods of many tenants may share a node unless its CPU leaks across VMs.
//
// PreFilter only classifies the pod through pkg/tenancy, from one
// immutable copy of the Namespaces and RuntimeClasses (a classify.View)
// that the whole cycle uses. Filter and Score read the tenancy summary of
// the node they are given (pods per tenant, shared-kernel and exclusive
// pods) from the node cache (pkg/plugins/internal/nodecache) keyed by node
// name, NodeInfo generation and View version, and answer in
// constant time whatever the number of pods on the node; a node is
// summarized from its pods only when it changed. The NodeInfo copies the
// framework filters for nominated pods and preemption victims have
// generations of their own, so they are summarized from their own pods.
// Tenant conflicts are Unschedulable, so that preemption can evict
// lower-priority pods of another tenant.
package tenantisolation
