// Package kind runs mtscn end to end on a real cluster with Kata installed:
// hack/kind-e2e.sh builds a kind cluster on a host with nested
// virtualization, installs NFD and mtscn, and runs these tests against it
// with MTSCN_E2E_KUBECONFIG set. Without that variable every test skips,
// so the package only compiles (and is vetted) in `make verify`.
//
// The tests start real Kata pods of several tenants through
// mtscn-scheduler, check the placements with `mtscnctl audit`, check that
// the admission policies reject an unsandboxed pod in a sandbox=required
// namespace, and measure scheduling and sandbox start latency (p50/p99) for
// Kata and runc under mtscn-scheduler and the default scheduler, written as
// a Markdown table to $E2E_REPORT_DIR/latency.md.
package kind
