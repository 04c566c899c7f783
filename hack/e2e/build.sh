#!/usr/bin/env bash
# Builds what `make e2e` runs that mtscn's own `make build` does not:
#  - bin/kubelet (k8s.io/kubernetes/cmd/kubelet, stamped v1.35.4) and
#    bin/nfd-master (sigs.k8s.io/node-feature-discovery/cmd/nfd-master) from
#    hack/tools/k8s, whose replace block is mtscn's;
#  - bin/runsc and bin/containerd-shim-runsc-v1 from hack/tools/gvisor
#    (gvisor.dev/gvisor at the version its go.mod pins, CGO_ENABLED=0);
#  - bin/e2ectl and the two images (pause and the test app) as OCI archives
#    in bin/e2e-images/.
# Each tool group is rebuilt only when its module files or sources change
# (a stamp with their hash sits next to the binaries); a cold build takes
# ~4 min (kubelet) and ~6 min (gVisor) on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bin/e2e-images

K8S_VERSION=$(sed -n 's/^\s*k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' go.mod | head -1)
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}

# build_group NAME DIR BINARIES... -- GO BUILD ARGS: go build in DIR unless
# bin/.e2e-NAME.stamp matches the hash of DIR's files.
build_group() {
  local name=$1 dir=$2; shift 2
  local bins=() b missing=0 stamp
  while [ "$1" != -- ]; do bins+=("$1"); shift; done; shift
  stamp=$( (cd "$dir" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | sort | xargs sha256sum; echo "$*") | sha256sum | cut -c1-16)
  for b in "${bins[@]}"; do [ -x "bin/$b" ] || missing=1; done
  if [ $missing = 0 ] && [ "$(cat "bin/.e2e-$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "bin: ${bins[*]} up to date"
    return
  fi
  echo "building ${bins[*]} (go build in $dir)"
  local start; start=$(date +%s)
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -o "$OLDPWD/bin/" "$@")
  echo "$stamp" >"bin/.e2e-$name.stamp"
  echo "built ${bins[*]} in $(( $(date +%s) - start ))s"
}

build_group k8s hack/tools/k8s kubelet nfd-master -- \
  -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
  k8s.io/kubernetes/cmd/kubelet sigs.k8s.io/node-feature-discovery/cmd/nfd-master
GVISOR_VERSION=$(sed -n 's/^\s*gvisor.dev\/gvisor \(v[^ ]*\).*$/\1/p' hack/tools/gvisor/go.mod | head -1)
build_group gvisor hack/tools/gvisor runsc containerd-shim-runsc-v1 -- \
  -ldflags "-s -w -X gvisor.dev/gvisor/runsc/version.version=$GVISOR_VERSION" gvisor.dev/gvisor/runsc ./containerd-shim-runsc-v1

go build -o bin/ ./hack/e2e/e2ectl
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/" ./hack/e2e/images/pause ./hack/e2e/images/app
bin/e2ectl image -name mtscn.test/pause:e2e -binary "$tmp/pause" -out bin/e2e-images/pause.tar
bin/e2ectl image -name mtscn.test/app:e2e -binary "$tmp/app" -out bin/e2e-images/app.tar
echo "bin/e2e-images: $(ls bin/e2e-images)"
