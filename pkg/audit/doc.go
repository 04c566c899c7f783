// Package audit checks a cluster's state against mtscn's isolation invariant
// (I1-I4, docs/design.md) and against VM memory overcommit. It is an
// independent checker: written for obviousness rather than speed, it shares
// nothing with the scheduler plugins' decision code beyond pkg/tenancy's
// classification, so that a bug in a plugin shows up as a violation here.
package audit
