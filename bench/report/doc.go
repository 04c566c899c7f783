// Package report turns benchmark results into what `make bench` prints
// and keeps: the scheduler_perf throughput per profile (read from the JSON
// data items scheduler_perf writes), the placement-quality results of
// bench/quality, markdown tables, one JSON file and an SVG chart drawn
// without external tools.
package report
