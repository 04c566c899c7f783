// Package audit checks a cluster's state against the rules mtscn-scheduler
// enforces (docs/design.md): the isolation invariant I1-I4 (Check) and the
// VM limits F1-F3 of docs/vm-footprint.md (CheckResources). It is an
// independent checker: written for obviousness rather than speed, it shares
// nothing with the scheduler plugins' decision code beyond pkg/tenancy's
// classification and pkg/vmsize's footprints, so that a bug in a plugin
// shows up as a violation here.
//
// What it checks comes from the scheduler's own configuration (Policy:
// LoadPolicy, PolicyFromConfig, DefaultPolicy), decoded through the same
// scheme as the scheduler, and what it checks it reads with ReadSnapshot.
// It links neither the scheduler nor an API server: `mtscnctl audit`
// (package auditcmd) is this package plus client-go.
package audit
