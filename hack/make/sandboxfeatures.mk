# SandboxFeatures and nfd-rules (issue 5). `make test` already runs both the
# rule-engine tests (nfd-rules/, a unit test package) and the integration
# tests; these targets run them alone.
.PHONY: test-sandboxfeatures bench-sandboxfeatures

# NFD rule engine cases, plugin unit tests, then the real apiserver: NFD CRDs
# accept the rules, and the scheduler places Kata pods by node features.
test-sandboxfeatures: etcd
	$(GO) test -count=1 ./nfd-rules/ ./pkg/wellknown/ ./pkg/plugins/sandboxfeatures/
	$(GO) test -count=1 ./test/integration/sandboxfeatures/

# Filter and PreFilter cost per pod/node pair.
bench-sandboxfeatures:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./pkg/plugins/sandboxfeatures/
