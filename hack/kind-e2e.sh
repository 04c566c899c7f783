#!/usr/bin/env bash
# End-to-end run of mtscn on a kind cluster, on a Linux host with (nested)
# virtualization: Kata VMs run inside the kind nodes, which are privileged
# containers sharing the host's /dev/kvm.
#
#   1. build an image with mtscn's binaries and Kata's release artifacts
#   2. create a kind cluster whose workers register with mtscn's startup taint
#   3. install NFD + mtscn (manifests/overlays/with-nfd) with that image
#   4. wait until mtscn-node has installed Kata and NFD has labelled the nodes
#   5. run test/e2e/kind: Kata pods of several tenants, `mtscnctl audit`, the
#      admission policies, and a scheduling/sandbox-start latency table
#
# Needs: docker, kind (>= 0.27), kubectl, go, and /dev/kvm + /dev/vhost-vsock
# on the host (check: ls /dev/kvm /dev/vhost-vsock; nested virtualization
# when the host is itself a VM: cat /sys/module/kvm_intel/parameters/nested).
#
# Environment:
#   CLUSTER=mtscn-e2e        kind cluster name
#   KIND_NODE_IMAGE=...      kind node image (a Kubernetes 1.35 kindest/node)
#   KATA_VERSION=3.23.0      Kata Containers release whose artifacts are installed
#   IMAGE=mtscn-e2e:dev      image to build and load into kind
#   KEEP=1                   keep the cluster afterwards (default: delete it)
#   REUSE=1                  reuse an existing cluster of that name
#   E2E_PODS=6               pods per configuration in the latency table (each Kata
#                            pod commits ~2.2Gi of guest memory, which mtscn-scheduler
#                            counts: keep E2E_PODS x 2.2Gi below the host's RAM)
#   WORK=<dir>               where kubeconfig, logs and the report go
set -o errexit -o nounset -o pipefail

CLUSTER="${CLUSTER:-mtscn-e2e}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.35.0}"
KATA_VERSION="${KATA_VERSION:-3.23.0}"
IMAGE="${IMAGE:-mtscn-e2e:dev}"
KEEP="${KEEP:-0}"
REUSE="${REUSE:-0}"
E2E_PODS="${E2E_PODS:-6}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/mtscn-e2e.XXXXXX")}"
KUBECONFIG_FILE="${WORK}/kubeconfig"

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'kind-e2e: %s\n' "$*" >&2; exit 1; }

preflight() {
  local tool
  for tool in docker kind kubectl go; do
    command -v "${tool}" >/dev/null || die "${tool} not found on PATH"
  done
  docker info >/dev/null 2>&1 || die "docker is not running (or this user may not use it)"
  [[ -c /dev/kvm ]] || die "/dev/kvm missing: Kata needs KVM (enable VT-x/AMD-V, or nested virtualization when this host is a VM)"
  [[ -r /dev/kvm && -w /dev/kvm ]] || die "/dev/kvm is not usable by this user (add it to the kvm group)"
  [[ -c /dev/vhost-vsock ]] || die "/dev/vhost-vsock missing: sudo modprobe vhost_vsock"
  local nested
  for nested in /sys/module/kvm_intel/parameters/nested /sys/module/kvm_amd/parameters/nested; do
    if [[ -r "${nested}" ]] && grep -qiE '^(y|1)$' "${nested}"; then
      log "nested virtualization is on (${nested})"
    fi
  done
}

cleanup() {
  local rc=$?
  if [[ "${KEEP}" == 1 ]]; then
    log "keeping cluster ${CLUSTER}: export KUBECONFIG=${KUBECONFIG_FILE}"
  elif [[ "${REUSE}" != 1 ]]; then
    log "deleting cluster ${CLUSTER} (KEEP=1 keeps it)"
    kind delete cluster --name "${CLUSTER}" >/dev/null 2>&1 || true
  fi
  log "logs and report in ${WORK}"
  exit "${rc}"
}

build_image() {
  log "building ${IMAGE} (Kata ${KATA_VERSION})"
  docker build --build-arg "KATA_VERSION=${KATA_VERSION}" -f "${ROOT}/test/e2e/kind/Dockerfile" -t "${IMAGE}" "${ROOT}"
}

create_cluster() {
  if [[ "${REUSE}" == 1 ]] && kind get clusters | grep -qx "${CLUSTER}"; then
    log "reusing cluster ${CLUSTER}"
  else
    log "creating kind cluster ${CLUSTER} (${KIND_NODE_IMAGE})"
    kind create cluster --name "${CLUSTER}" --image "${KIND_NODE_IMAGE}" \
      --config "${ROOT}/test/e2e/kind/kind-config.yaml" --wait 5m
  fi
  kind get kubeconfig --name "${CLUSTER}" >"${KUBECONFIG_FILE}"
  kind load docker-image "${IMAGE}" --name "${CLUSTER}"
}

install_mtscn() {
  # An overlay of manifests/overlays/with-nfd that points the image at the
  # one just built. kustomize refuses absolute paths to bases.
  local overlay="${WORK}/overlay" name="${IMAGE%:*}" tag="${IMAGE##*:}"
  [[ "${tag}" != "${IMAGE}" ]] || tag=latest
  mkdir -p "${overlay}"
  cat >"${overlay}/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="${overlay}" "${ROOT}/manifests/overlays/with-nfd")
images:
  - name: ghcr.io/mtscn/mtscn
    newName: ${name}
    newTag: ${tag}
YAML
  log "installing NFD and mtscn"
  # Server-side: NFD's CRDs exceed the client-side last-applied annotation.
  kubectl apply --server-side --force-conflicts -k "${overlay}"
  kubectl -n node-feature-discovery rollout status deployment/nfd-master --timeout=5m
  kubectl -n node-feature-discovery rollout status daemonset/nfd-worker --timeout=5m
  kubectl -n mtscn-system rollout status deployment/mtscn-scheduler --timeout=5m
  log "waiting for mtscn-node to install Kata on the workers"
  if ! kubectl -n mtscn-system rollout status daemonset/mtscn-node --timeout=20m; then
    kubectl -n mtscn-system logs daemonset/mtscn-node --all-containers --tail=100 >&2 || true
    die "mtscn-node did not become ready (Kata not installed)"
  fi
  local selector='!node-role.kubernetes.io/control-plane'
  kubectl wait node -l "${selector}" --for=jsonpath='{.metadata.labels.katacontainers\.io/kata-runtime}'=true --timeout=5m
  # NFD turns mtscn-node's NodeFeatures into labels through nfd-rules/.
  kubectl wait node -l "${selector}" --for=jsonpath='{.metadata.labels.mtscn\.io/kvm}'=true --timeout=5m
  if kubectl get nodes -l "${selector}" -o jsonpath='{range .items[*]}{.spec.taints[*].key}{"\n"}{end}' | grep -q 'mtscn.io/sandbox-not-ready'; then
    die "a worker still has the startup taint mtscn.io/sandbox-not-ready after Kata was installed"
  fi
  kubectl get nodes -L katacontainers.io/kata-runtime,mtscn.io/kvm,mtscn.io/virt-mode,mtscn.io/cotenancy-safe
}

run_tests() {
  log "building mtscnctl"
  (cd "${ROOT}" && go build -o "${WORK}/mtscnctl" ./cmd/mtscnctl)
  log "running test/e2e/kind"
  (cd "${ROOT}" && MTSCN_E2E_KUBECONFIG="${KUBECONFIG_FILE}" MTSCNCTL="${WORK}/mtscnctl" \
    E2E_REPORT_DIR="${WORK}" E2E_PODS="${E2E_PODS}" \
    go test -count=1 -v -timeout 90m ./test/e2e/kind/ 2>&1 | tee "${WORK}/e2e.log")
  if [[ -s "${WORK}/latency.md" ]]; then
    log "latency (${WORK}/latency.md)"
    cat "${WORK}/latency.md"
  fi
}

main() {
  preflight
  mkdir -p "${WORK}"
  export KUBECONFIG="${KUBECONFIG_FILE}"
  trap cleanup EXIT
  build_image
  create_cluster
  install_mtscn
  run_tests
}

main "$@"
