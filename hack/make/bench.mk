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
# stands (anti-affinity is the slow one), per size: at 5000 nodes even
# mtscn needs several minutes on 2 cores, so 3m would audit half-placed
# workloads.
BENCH_QUALITY_TIMEOUT_small ?= 3m
BENCH_QUALITY_TIMEOUT_full ?= 30m
# Profiles of the quality comparison, per size (empty: all). At 5000 nodes
# mtscn-all-nodes (percentageOfNodesToScore 100) filters and scores every
# node for every pod, about ten times the shipped profile's work; its point,
# what the scheduler's sample costs in nodes, is made at 500 nodes.
BENCH_QUALITY_PROFILES_small ?=
BENCH_QUALITY_PROFILES_full ?= default,anti-affinity,dedicated-pools,mtscn,mtscn-spread
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
	@echo "== placement quality ($(1)): $(or $(BENCH_QUALITY_PROFILES_$(1)),all profiles); then churn"
	$(GO) run ./bench/cmd/benchreport quality -size $(1) -timeout $(BENCH_QUALITY_TIMEOUT_$(1)) $(if $(BENCH_QUALITY_PROFILES_$(1)),-profiles $(BENCH_QUALITY_PROFILES_$(1))) $(BENCH_QUALITY_FLAGS) -out $(BENCH_RESULTS)/quality-$(1).json > /dev/null
	@echo "== report"
	$(GO) run ./bench/cmd/benchreport report -size $(1) -perf $(BENCH_RESULTS)/perf-$(1) -quality $(BENCH_RESULTS)/quality-$(1).json -out $(BENCH_RESULTS)
endef

bench: etcd
	$(call bench-run,small)

bench-full: etcd
	$(call bench-run,full)

bench-quality: etcd
	$(GO) run ./bench/cmd/benchreport quality -size small -timeout $(BENCH_QUALITY_TIMEOUT_small) $(BENCH_QUALITY_FLAGS) -out $(BENCH_RESULTS)/quality-small.json

# The plugins' own Go micro-benchmarks (Filter, Score, PreFilter at 10, 110
# and 500 pods per node), collected in one run; bench/README.md lists the
# latest numbers. Each plugin also has bench-<plugin> with -count 5.
.PHONY: bench-plugins
bench-plugins:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./pkg/plugins/tenantisolation/ ./pkg/plugins/sandboxoverhead/ ./pkg/plugins/sandboxfeatures/
