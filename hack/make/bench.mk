# Benchmarks (issue 9, bench/README.md). Not part of `make test`: speed is
# measured here and reported, never asserted in CI.
#   make bench       500 nodes / 5000 pods: scheduler_perf throughput of the
#                    default, anti-affinity and mtscn profiles, placement
#                    quality of default, anti-affinity, dedicated-pools, mtscn
#                    and mtscn-spread (with a churn phase); tables, JSON and an SVG chart in
#                    bench/results/.
#   make bench-full  the same with 5000 nodes / 10000 pods (scheduler_perf and
#                    the 5000-node placement quality).
#   make bench-quality  only the 500-node placement-quality comparison,
#                    with its churn phase (minutes); writes
#                    bench/results/quality-small.json and prints the table.
.PHONY: bench bench-full bench-quality

BENCH_RESULTS := $(CURDIR)/bench/results
# How long one profile's placement may take before it is audited as it
# stands (anti-affinity is the slow one).
BENCH_QUALITY_TIMEOUT ?= 3m
# More benchreport quality flags, e.g. -profiles mtscn,mtscn-spread or
# -churn=false.
BENCH_QUALITY_FLAGS ?=

# $(call bench-run,<size>): scheduler_perf, then quality, then the report.
define bench-run
	@echo "== scheduler_perf ($(1)): default, anti-affinity, mtscn; log in bench/results/perf-$(1)/benchmark.log"
	@rm -rf $(BENCH_RESULTS)/perf-$(1) && mkdir -p $(BENCH_RESULTS)/perf-$(1)
	cd bench/perf && $(GO) test . -count=1 -run '^$$' -bench BenchmarkPerfScheduling -benchtime=1x -timeout 90m \
	  -perf-scheduling-label-filter=performance,$(1) -data-items-dir=$(BENCH_RESULTS)/perf-$(1) \
	  > $(BENCH_RESULTS)/perf-$(1)/benchmark.log 2>&1 || { grep -E -- '--- FAIL|Error|panic' $(BENCH_RESULTS)/perf-$(1)/benchmark.log | head -20; exit 1; }
	@grep -E '^(ok|PASS)' $(BENCH_RESULTS)/perf-$(1)/benchmark.log
	@echo "== placement quality ($(1)): default, anti-affinity, dedicated-pools, mtscn, mtscn-spread; then churn"
	$(GO) run ./bench/cmd/benchreport quality -size $(1) -timeout $(BENCH_QUALITY_TIMEOUT) $(BENCH_QUALITY_FLAGS) -out $(BENCH_RESULTS)/quality-$(1).json > /dev/null
	@echo "== report"
	$(GO) run ./bench/cmd/benchreport report -size $(1) -perf $(BENCH_RESULTS)/perf-$(1) -quality $(BENCH_RESULTS)/quality-$(1).json -out $(BENCH_RESULTS)
endef

bench: etcd
	$(call bench-run,small)

bench-full: etcd
	$(call bench-run,full)

bench-quality: etcd
	$(GO) run ./bench/cmd/benchreport quality -size small -timeout $(BENCH_QUALITY_TIMEOUT) $(BENCH_QUALITY_FLAGS) -out $(BENCH_RESULTS)/quality-small.json

# The plugins' own Go micro-benchmarks (Filter, Score, PreFilter at 10, 110
# and 500 pods per node), collected in one run; bench/README.md lists the
# latest numbers. Each plugin also has bench-<plugin> with -count 5.
.PHONY: bench-plugins
bench-plugins:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./pkg/plugins/tenantisolation/ ./pkg/plugins/sandboxoverhead/ ./pkg/plugins/sandboxfeatures/
