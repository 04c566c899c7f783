# Repository checks (hack/repocheck, Go tests): the vocabulary is spelled only
# in pkg/wellknown, classification fallbacks live only in pkg/tenancy, every
# document or path a file names exists in the repository, the binaries'
# package graph keeps its layering, and no source file exceeds 500 lines.
# `make verify` runs them; `make test-unit` too, as part of ./...
.PHONY: verify-repo

verify: verify-repo

verify-repo:
	@echo "repository checks (hack/repocheck)"; $(GO) test -count=1 ./hack/repocheck
