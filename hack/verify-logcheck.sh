#!/usr/bin/env bash
# Checks structured and contextual logging with Kubernetes' logcheck,
# built from its module (seconds once cached).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
GOBIN="$PWD/bin" GOFLAGS=-mod=mod go install sigs.k8s.io/logtools/logcheck@v0.11.0
bin/logcheck -config="$PWD/hack/logcheck.conf" ./...
