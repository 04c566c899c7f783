// Package mtscnctl tests the mtscnctl commands end to end: audit runs as
// the built binary against the real kube-apiserver (exit code and output
// included), demo and simulate run their engine on the embedded control
// plane and their printed reports are checked.
package mtscnctl
