# Scheduler plugins, classification and VM sizing under the race detector,
# part of `make test`. The plugin args fuzz targets
# (pkg/apis/config/scheme/fuzz_test.go: any input decodes to valid args or
# fails naming its field, never panics) run with the others in fuzz-short
# (hack/make/fuzz.mk).
.PHONY: test-race

# The plugins' Filter and Score run in parallel over nodes and share
# per-node caches: the unit tests of the plugins, pkg/tenancy and pkg/vmsize
# and the integration test that drives the real scheduler through the
# TenantIsolation scenarios run with -race (about two minutes on 2 cores).
test-race: etcd
	$(GO) test -race -count=1 ./pkg/plugins/... ./pkg/tenancy/... ./pkg/vmsize/...
	$(GO) test -race -count=1 -timeout 20m ./test/integration/tenantisolation/
