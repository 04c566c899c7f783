# Documentation (docs/). `make verify` also checks that every .md file named
# in code comments, help texts, READMEs, manifests and scripts exists in the
# repository (hack/verify-doc-refs.sh).
.PHONY: verify-doc-refs

verify: verify-doc-refs

verify-doc-refs:
	@echo "doc references"; bash hack/verify-doc-refs.sh
