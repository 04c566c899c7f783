// Package perf runs Kubernetes' own scheduler_perf harness
// (k8s.io/kubernetes/test/integration/scheduler_perf) on the multi-tenant
// Kata workload of bench/workload, once per scheduler profile: default
// (upstream plugins only), anti-affinity (the upstream plugins, every pod
// carrying a required pod anti-affinity against other tenants) and mtscn
// (the shipped manifests/scheduler/scheduler-config.yaml).
//
// It has no tests, only BenchmarkPerfScheduling, which needs etcd on PATH
// (`make etcd`): `make bench` runs the 500-node size, `make bench-full` the
// 5000-node one. scheduler_perf writes its JSON data items to
// -data-items-dir; bench/cmd/benchreport turns them into tables and charts.
package perf
