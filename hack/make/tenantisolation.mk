# TenantIsolation (issue 3). `make test` runs the short randomized test as
# part of test-integration; `make test-long` adds the 1000-seed run.
.PHONY: test-long test-long-tenantisolation bench-tenantisolation

test-long: test-long-tenantisolation

# 1000 seeded scenarios (pods, deletions, preemption and nominated pods,
# namespace and node relabels, RuntimeClass deletion and re-creation, node
# handler labels) through the real scheduler and apiserver, eight at a
# time, audited by pkg/audit. Replay one with MTSCN_SEED=<n>, explore
# others with MTSCN_SEED_BASE=<n>, run fewer with MTSCN_SEEDS=<n>. Settling
# waits as long as pods keep changing, and API requests that time out on a
# loaded machine are retried (harness.Retry).
test-long-tenantisolation: etcd
	MTSCN_TEST_LONG=1 $(GO) test -count=1 -timeout 120m -parallel 8 -run 'TestRandomized' -v ./test/integration/tenantisolation/ 2>&1 | grep -E '^\s*(---|ok|FAIL|PASS)|_test.go'

# Filter/PreFilter cost at 10, 110 and 500 pods per node.
bench-tenantisolation:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./pkg/plugins/tenantisolation/
