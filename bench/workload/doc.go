// Package workload defines the multi-tenant Kata workload that mtscn's
// benchmarks run: node classes with the labels and extended resources of
// docs/labels.md, 24 tenant namespaces with policies, kata-deploy's
// RuntimeClasses, and pods (80% Kata, 20% runc, some TDX and QAT).
//
// The workload is written once, as templates: stage 1 ([[ ]], this
// package) fills in a tenant or node class, stage 2 ({{ }}) varies each
// object with its .Index exactly as Kubernetes' scheduler_perf renders
// templates. RenderPerf writes the scheduler_perf configuration that
// bench/perf runs; Build renders the same objects in memory for
// bench/quality, so both benchmarks place the same workload.
package workload
