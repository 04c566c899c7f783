// Package schedulercmd assembles the mtscn-scheduler command: kube-scheduler's
// own command with mtscn's plugins and the scheduler-plugins ones registered
// out of tree. The binary, the integration tests, the benchmarks and
// mtscnctl all build the scheduler from this one registry.
package schedulercmd
