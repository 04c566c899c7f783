# Go native fuzz targets of the host-file parsers and of the plugin args
# decoding (go test -fuzz), run for a
# short fixed time each by `make test` (test-unit calls fuzz-short): a
# regression in a parser that panics, hangs or accepts out-of-range values
# shows up in CI. Every fuzz target of the repository is listed here as
# <package>:<FuzzName>; TestFuzzTargetsListed (pkg/node/discover) fails when
# one is missing. Run one longer with
#   go test -run '^$' -fuzz '^FuzzKataConfig$' -fuzztime 5m ./pkg/node/discover/
.PHONY: fuzz-short

FUZZTIME ?= 5s
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
