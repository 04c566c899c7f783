# SandboxOverhead (issue 4). Unit and integration tests run in `make test`.
.PHONY: bench-sandboxoverhead test-sandboxoverhead

# Filter/Score at 10, 110 and 500 pods per node, one node rescan, and
# PreFilter over 100-5000 nodes (ns/op, allocs/op).
bench-sandboxoverhead:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./pkg/plugins/sandboxoverhead/

# The plugin's unit, audit and integration tests alone.
test-sandboxoverhead: etcd
	$(GO) test -count=1 ./pkg/vmsize/ ./pkg/plugins/sandboxoverhead/ ./pkg/audit/
	$(GO) test -count=1 ./test/integration/sandboxoverhead/
