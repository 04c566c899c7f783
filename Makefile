# mtscn build, test and release targets. `make demo` and `make test` are the
# two commands a newcomer needs; see README.md.
SHELL := /usr/bin/env bash -o pipefail
GO ?= go
BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
GIT_COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
# kube-scheduler's --version prints k8s.io/component-base/version, and the
# scheduler derives its emulation version from it: keep the Kubernetes
# release it is built from and carry mtscn's version as build metadata,
# e.g. v1.35.4+mtscn-v0.1.0.
K8S_VERSION := $(shell sed -n 's/^\s*k8s.io\/kubernetes \(v[0-9.]*\)$$/\1/p' go.mod | head -1)
KUBE_VERSION ?= $(K8S_VERSION)+mtscn-$(subst +,-,$(VERSION))
LDFLAGS := -s -w \
	-X github.com/mtscn/mtscn/pkg/version.Version=$(VERSION) \
	-X github.com/mtscn/mtscn/pkg/version.GitCommit=$(GIT_COMMIT) \
	-X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitCommit=$(GIT_COMMIT) \
	-X k8s.io/component-base/version.gitTreeState=clean \
	-X k8s.io/component-base/version.buildDate=$(BUILD_DATE) \
	-X k8s.io/component-base/version/verflag.programName=mtscn-scheduler
IMAGE ?= ghcr.io/mtscn/mtscn:$(VERSION)

.PHONY: all build demo test test-unit test-integration verify etcd containerd2 image clean generate

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/mtscn-scheduler ./cmd/mtscn-node ./cmd/mtscnctl

etcd:
	bash hack/etcd.sh

# containerd 2.x built from its module: the installer's and the discovery's
# tests read containerd 2.x (config version 3) fixtures with the real
# `containerd config dump`.
containerd2:
	bash hack/containerd2.sh

demo: build
	$(BIN)/mtscnctl demo

# Unit tests: every package outside test/ and bench/ (plugins, config,
# agent, tools, nfd-rules), then each fuzz target for a few seconds
# (hack/make/fuzz.mk).
test-unit: containerd2
	$(GO) test -count=1 $$($(GO) list ./... | grep -v -e /test/ -e /bench/)
	$(MAKE) fuzz-short

# Integration tests: the real kube-apiserver and etcd, in-process, and the
# benchmarks' smoke tests (the benchmarks themselves run in `make bench`);
# test/e2e only checks its helpers here and skips without a kind cluster.
test-integration: etcd
	$(GO) test -count=1 -timeout 30m ./test/integration/... ./test/e2e/... $$($(GO) list ./bench/... 2>/dev/null)

test: test-unit test-race test-integration

generate:
	bash hack/update-codegen.sh

# gofmt, go vet, structured/contextual logging (logcheck), go mod tidy; the
# hack/make/*.mk files add theirs (repository checks, chart files).
verify:
	@echo "gofmt"; out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@echo "go vet"; $(GO) vet ./...
	@echo "logcheck"; bash hack/verify-logcheck.sh
	@echo "go mod tidy"; $(GO) mod tidy; \
	  if ! git diff --quiet -- go.mod go.sum; then git diff -- go.mod go.sum | head -40; echo "go mod tidy changed go.mod/go.sum: commit the result"; exit 1; fi

image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

clean:
	rm -rf $(BIN)

# Each area adds its own targets (bench, manifests-check, test-long, ...).
-include hack/make/*.mk
