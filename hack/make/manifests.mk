# Manifests (manifests/): render every kustomization with kustomize's Go API
# and server-side apply it, strictly validated, to a real kube-apiserver.
# The same tests, plus the RBAC and admission-policy tests, run in
# `make test-integration` (package ./test/integration/manifests). TestChart*
# renders the Helm chart (manifests/charts/mtscn) and applies it the same way.
.PHONY: manifests-check e2e-lint kind-e2e

manifests-check: etcd
	$(GO) test -count=1 -run 'TestManifestLayout|TestManifestConsistency|TestManifestsCheck|TestMutatingPolicy|TestChart' ./test/integration/manifests/

# Static checks of the kind end-to-end scripts (they need Docker and a host
# with nested virtualization to run: `make kind-e2e`).
e2e-lint:
	bash -n hack/kind-e2e.sh
	@if command -v shellcheck >/dev/null; then shellcheck hack/kind-e2e.sh; else echo "shellcheck not installed (apt-get install shellcheck): skipped"; fi

kind-e2e:
	bash hack/kind-e2e.sh

# The Helm chart's files/ are copies of the kustomize sources
# (hack/update-chart.sh; manifests/charts/mtscn/README.md).
.PHONY: update-chart verify-chart
update-chart:
	bash hack/update-chart.sh

verify: verify-chart
verify-chart:
	@echo "helm chart files"; bash hack/update-chart.sh --verify
