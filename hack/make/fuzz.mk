# Go native fuzz targets of the host-file parsers and of the plugin args
# decoding (go test -fuzz), run for a
# short fixed number of calls each by `make test` (test-unit calls fuzz-short): a
# regression in a parser that panics, hangs or accepts out-of-range values
# shows up in CI. Every fuzz target of the repository is listed here as
# <package>:<FuzzName>; TestFuzzTargetsListed (pkg/node/discover) fails when
# one is missing. Run one longer with
#   go test -run '^$' -fuzz '^FuzzKataConfig$' -fuzztime 5m ./pkg/node/discover/
.PHONY: fuzz-short

# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can
# fail a target with a bare "context deadline exceeded" when a worker is
# mid-call as the time runs out (golang/go#75804, fixed in Go 1.27), which
# CI's loaded 2 cores hit. 10000 calls take 1-10 s per target here.
FUZZTIME ?= 10000x
# -parallel 1 keeps CI's 2 cores for the rest; seeds and new corpus entries
# live in the Go build cache (testdata/fuzz holds checked-in crashers).
FUZZ_TARGETS := \
	./pkg/node/discover:FuzzParseVulnerability \
	./pkg/node/discover:FuzzParseCPUInfo \
	./pkg/node/discover:FuzzKataConfig \
	./pkg/node/discover:FuzzPCIID \
	./pkg/node/discover:FuzzMemoryFiles \
	./pkg/node/containerd:FuzzParse \
	./pkg/node/containerd:FuzzLoad \
	./pkg/node/withdrawal:FuzzParse \
	./pkg/node/overhead:FuzzParseMemoryFiles \
	./pkg/node/overhead:FuzzParseProcKB \
	./pkg/apis/config/scheme:FuzzTenantIsolationArgs \
	./pkg/apis/config/scheme:FuzzSandboxOverheadArgs \
	./pkg/apis/config/scheme:FuzzSandboxFeaturesArgs

fuzz-short:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -parallel 1 $$pkg; \
	done
