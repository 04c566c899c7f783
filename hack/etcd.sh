#!/usr/bin/env bash
# Builds bin/etcd from go.etcd.io/etcd/server/v3 at the version go.mod pins
# (the one k8s.io/kubernetes uses). Idempotent: a second run only checks
# that the binary is up to date, which takes seconds with a warm cache.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -o bin/etcd ./hack/etcd
echo "bin/etcd: $(bin/etcd --version | head -1)"
