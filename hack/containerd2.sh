#!/usr/bin/env bash
# Builds containerd 2.x from its Go module (Debian ships only 1.6):
#  - bin/containerd2: the daemon. The installer's and discovery's tests run
#    its `config dump` on containerd 2.x (config version 3) fixtures, and
#    `make e2e` runs it as the containerd of its second node (a cluster
#    half way through the upgrade from 1.x to 2.x; test/e2e/README.md);
#  - bin/containerd2-shim/containerd-shim-runc-v2: the runc shim of the same
#    release, which that node's containerd finds first in its PATH, as a
#    node upgraded to 2.x has it (the first node keeps Debian's 1.6 shim).
# Idempotent: seconds when both are already at the pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."

version=v2.2.9
shim=bin/containerd2-shim/containerd-shim-runc-v2
if [ -x bin/containerd2 ] && bin/containerd2 --version 2>/dev/null | grep -q " ${version#v}" \
  && [ -x "$shim" ] && [ "$(cat "$shim.version" 2>/dev/null)" = "$version" ]; then
  echo "bin/containerd2: $(bin/containerd2 --version)"
  exit 0
fi
mkdir -p bin/containerd2-shim
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# go install builds in module mode, outside mtscn's go.mod.
GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod go install \
  -tags "no_btrfs no_devmapper no_zfs no_aufs" \
  "github.com/containerd/containerd/v2/cmd/containerd@${version}" \
  "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@${version}"
mv "$tmp/containerd" bin/containerd2
mv "$tmp/containerd-shim-runc-v2" "$shim"
echo "$version" >"$shim.version"
echo "bin/containerd2: $(bin/containerd2 --version); $shim"
