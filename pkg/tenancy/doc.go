// Package tenancy is the one place that answers, for a pod: which tenant
// owns it, whether it is infrastructure, whether it runs in a sandbox (and
// whether that sandbox runs on the node), and which node-sharing and sandbox
// policies its namespace sets. Every scheduler plugin and the auditor
// classify pods through it, so that they can never disagree.
//
// Tenancy comes from Namespace labels only (admins control namespaces,
// tenants control their pods), sandboxing from the pod's RuntimeClass. Both
// are read from listers, never from the API server in a hot path.
package tenancy
