// Package auditcmd is `mtscnctl audit`: it reads a live cluster's nodes,
// pods, namespaces and runtime classes and checks them (pkg/audit) against
// the policy of a scheduler configuration. It links client-go, pkg/audit and
// mtscn's config scheme only: neither the scheduler nor the embedded
// control plane of `mtscnctl demo` (a test pins this).
package auditcmd
