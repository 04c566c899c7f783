# Scheduler plugins, classification and VM sizing under the race detector
# and the plugin args fuzz targets; both run as part of `make test`.
.PHONY: test-race test-fuzz

# The plugins' Filter and Score run in parallel over nodes and share
# per-node caches: the unit tests of the plugins, pkg/tenancy and pkg/vmsize
# and the integration test that drives the real scheduler through the
# TenantIsolation scenarios run with -race (about two minutes on 2 cores).
test-race: etcd
	$(GO) test -race -count=1 ./pkg/plugins/... ./pkg/tenancy/... ./pkg/vmsize/...
	$(GO) test -race -count=1 -timeout 20m ./test/integration/tenantisolation/

# FUZZTIME per target; any input must decode to valid args or fail naming
# its field, never panic (pkg/apis/config/scheme/fuzz_test.go).
FUZZTIME ?= 10s
test-fuzz:
	@for f in FuzzTenantIsolationArgs FuzzSandboxOverheadArgs FuzzSandboxFeaturesArgs; do \
	  echo "$$f ($(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./pkg/apis/config/scheme/ || exit 1; \
	done
