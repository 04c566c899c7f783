#!/usr/bin/env bash
# Builds bin/containerd2: containerd 2.x from its Go module, so that the Kata
# installer's tests can check containerd 2.x (config version 3) fixtures
# with the real `containerd config dump` (Debian ships only 1.6). Only the
# config loader is exercised: the daemon is never started from this binary.
# Idempotent: seconds when bin/containerd2 is already at the pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."

version=v2.2.9
if [ -x bin/containerd2 ] && bin/containerd2 --version 2>/dev/null | grep -q " ${version#v}"; then
  echo "bin/containerd2: $(bin/containerd2 --version)"
  exit 0
fi
mkdir -p bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# go install builds in module mode, outside mtscn's go.mod.
GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod go install \
  -tags "no_btrfs no_devmapper no_zfs no_aufs" \
  "github.com/containerd/containerd/v2/cmd/containerd@${version}"
mv "$tmp/containerd" bin/containerd2
echo "bin/containerd2: $(bin/containerd2 --version)"
