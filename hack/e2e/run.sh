#!/usr/bin/env bash
# make e2e: a real node on this machine, mtscn on it, and the checks of
# test/e2e. See test/e2e/README.md for the pieces and the workarounds.
#
#   E2E_NODES=1|2        nodes to run (default 2)
#   E2E_CONTAINERD=mixed|1|2
#                        mixed (default): node 1 on Debian's containerd 1.6,
#                        node 2 on containerd 2.x (bin/containerd2); 1 or 2:
#                        that version on every node
#   E2E_KEEP=1           leave everything running after the checks; clean up
#                        later with `make e2e-clean`
#   E2E_RUN_TESTS=regexp go test -run filter for the checks
#   E2E_SKIP_BUILD=1     use bin/ as it is (iterating on the scripts)
set -euo pipefail
# shellcheck source=hack/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=hack/e2e/node.sh
source "$(dirname "$0")/node.sh"
cd "$REPO"

T0=$(now_ms)
[ "$(id -u)" = 0 ] || die "make e2e runs a kubelet and containerd: run it as root"
for c in ip ctr containerd runc; do command -v $c >/dev/null || die "$c not found: run hack/install-e2e.sh"; done
[ -d /sys/fs/cgroup/memory ] || die "make e2e expects cgroup v1 with the memory controller (this machine's layout)"
case "$E2E_CONTAINERD" in 1|2|mixed) ;; *) node_containerd 0 ;; esac
for n in $(seq 1 "$E2E_NODES"); do
  [ "$(node_containerd "$n")" = 1 ] || [ -x "$BIN/containerd2" ] || die "node $n runs containerd 2.x: build bin/containerd2 with make containerd2"
done
if [ "${1:-}" != "--no-check" ]; then
  left=$(leftovers)
  if [ -n "$left" ]; then
    printf 'e2e: a previous run left these behind; run `make e2e-clean` to remove them:\n%s\n' "$left" >&2
    exit 1
  fi
fi

E2E_LOGS=${E2E_LOGS:-$(mktemp -d /tmp/mtscn-e2e-logs.XXXXXX)}
export E2E_LOGS E2E_DIR E2E_RUN E2E_NODES E2E_CONTAINERD
finish() {
  local rc=$?
  if [ "${E2E_KEEP:-}" = 1 ]; then
    echo "E2E_KEEP=1: everything is still running (KUBECONFIG=$E2E_DIR/controlplane/admin.kubeconfig); make e2e-clean removes it"
  else
    log "cleanup"
    cleanup
    left=$(leftovers)
    [ -n "$left" ] && { printf 'e2e: cleanup left:\n%s\n' "$left" >&2; rc=1; }
  fi
  if [ $rc != 0 ]; then
    echo "e2e FAILED (exit $rc); logs in $E2E_LOGS"
  elif [ "${E2E_KEEP_LOGS:-}" != 1 ]; then
    rm -rf "$E2E_LOGS"
  fi
  exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

log "build (kubelet, nfd-master, gVisor, images; cached in bin/)"
[ "${E2E_SKIP_BUILD:-}" = 1 ] || bash hack/e2e/build.sh
T_BUILT=$(now_ms)

mkdir -p "$E2E_DIR/controlplane" "$E2E_DIR/images" "$E2E_RUN/pids"
touch "$E2E_RUN/started"
[ -e /run/containerd ] || touch "$E2E_RUN/created-run-containerd"
cp bin/e2e-images/*.tar "$E2E_DIR/images/"
: >"$E2E_RUN/sysctls"
for s in "${KUBELET_SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")" >>"$E2E_RUN/sysctls"; done

NODES=()
for n in $(seq 1 "$E2E_NODES"); do NODES+=("$(node_name "$n")"); done


log "control plane: etcd + kube-apiserver v1.35.4 (pkg/devcluster)"
start_bg controlplane "$E2E_LOGS/controlplane.log" bin/e2ectl controlplane -dir "$E2E_DIR/controlplane" -nodes "$(IFS=,; echo "${NODES[*]}")"
for i in $(seq 1 300); do [ -f "$E2E_DIR/controlplane/ready" ] && break; sleep 0.2; done
[ -f "$E2E_DIR/controlplane/ready" ] || { tail -20 "$E2E_LOGS/controlplane.log"; die "control plane did not start"; }
echo "kube-apiserver at $(cat "$E2E_DIR/controlplane/ready")"

# The DaemonSet and the Deployment are left out: their binaries run below as
# processes with the same flags (no controller-manager here, and this
# apiserver does not allow privileged pods).
log "mtscn's manifests (kubectl apply -k manifests/) and NFD's CRDs"
# NFD's own RBAC (ServiceAccount nfd-master in node-feature-discovery), as
# manifests/overlays/with-nfd deploys it from NFD's default deployment.
NFD_DIR=$(go list -m -f '{{.Dir}}' sigs.k8s.io/node-feature-discovery)
bin/e2ectl apply -kubeconfig "$KUBECONFIG_ADMIN" -f "$NFD_DIR/deployment/base/nfd-crds/nfd-api-crds.yaml" -k manifests \
  -f "$NFD_DIR/deployment/overlays/default/namespace.yaml" -k "$NFD_DIR/deployment/base/rbac" \
  -skip-kinds DaemonSet,Deployment,PodDisruptionBudget

log "nodes: bridge, containerd, images, kubelet"
T_NODES=$(now_ms)
for n in $(seq 1 "$E2E_NODES"); do
  echo "node $n: $(node_name "$n"), containerd $("$(containerd_bin "$n")" --version | awk '{print $3}') ($(containerd_bin "$n"))"
  setup_bridge "$n"
  start_containerd "$n"
  import_images "$n"
  start_kubelet "$n"
done
for n in $(seq 1 "$E2E_NODES"); do
  bin/e2ectl wait-node -kubeconfig "$KUBECONFIG_ADMIN" -node "$(node_name "$n")" -timeout 3m
done
T_READY=$(now_ms)

# Each process runs as the ServiceAccount its manifest gives its pod, so
# the shipped RBAC and node-admission-policy.yaml apply to it: tokens from
# the TokenRequest API, the node agents' bound to their Node (the
# authenticator then adds the user extra authentication.kubernetes.io/node-name,
# as for a DaemonSet pod's projected token, which is bound to a Pod on
# that node; there are no pods of the agents here, they run as processes).
log "identities: ServiceAccount tokens (TokenRequest), node agents' bound to their Node"
for n in $(seq 1 "$E2E_NODES"); do
  for sa in mtscn-node mtscn-node-install; do
    bin/e2ectl kubeconfig -kubeconfig "$KUBECONFIG_ADMIN" -serviceaccount "mtscn-system/$sa" -node "$(node_name "$n")" \
      -out "$(identity_kubeconfig "$sa-$n")"
  done
done
bin/e2ectl kubeconfig -kubeconfig "$KUBECONFIG_ADMIN" -serviceaccount mtscn-system/mtscn-scheduler -out "$(identity_kubeconfig mtscn-scheduler)"
bin/e2ectl kubeconfig -kubeconfig "$KUBECONFIG_ADMIN" -serviceaccount node-feature-discovery/nfd-master -out "$(identity_kubeconfig nfd-master)"

log "NFD's nfd-master with mtscn's NodeFeatureRules"
NODE_NAME=$(node_name 1) start_bg nfd-master "$E2E_LOGS/nfd-master.log" bin/nfd-master -kubeconfig "$(identity_kubeconfig nfd-master)" \
  -enable-leader-election=false -port=0
log "mtscn-node run (discovery, NodeFeature) on each node"
for n in $(seq 1 "$E2E_NODES"); do
  NODE_NAME=$(node_name "$n") POD_NAMESPACE=mtscn-system start_bg "mtscn-node-$n" "$E2E_LOGS/mtscn-node-$n.log" \
    bin/mtscn-node run --host-root=/ --listen-address=127.0.0.1:0 --kubeconfig="$(identity_kubeconfig "mtscn-node-$n")" \
    --containerd-config="$(node_dir "$n")/containerd/config.toml" --interval=5s --v=4 \
    --withdrawn-note="$(node_dir "$n")/mtscn-install/withdrawn/handlers.json"
done

log "mtscn-node install: gVisor (runsc) into each node's containerd (1.x inline, 2.x drop-in)"
for n in $(seq 1 "$E2E_NODES"); do
  install_gvisor "$n"
done

log "mtscn-scheduler with the shipped configuration"
sed "s|kubeconfig: \"\"|kubeconfig: $(identity_kubeconfig mtscn-scheduler)|" manifests/scheduler/scheduler-config.yaml >"$E2E_DIR/scheduler-config.yaml"
start_bg mtscn-scheduler "$E2E_LOGS/mtscn-scheduler.log" bin/mtscn-scheduler \
  --config="$E2E_DIR/scheduler-config.yaml" --v=2 --bind-address=127.0.0.1 --secure-port=10359
T_PRODUCT=$(now_ms)

log "checks (go test -tags e2e ./test/e2e/)"
CONTAINERDS=()
for n in $(seq 1 "$E2E_NODES"); do CONTAINERDS+=("$(node_containerd "$n")"); done
export MTSCN_E2E_KUBECONFIG=$KUBECONFIG_ADMIN MTSCN_E2E_NODES="${NODES[*]}" MTSCN_E2E_BIN=$BIN \
  MTSCN_E2E_CONTAINERD="${CONTAINERDS[*]}" \
  MTSCN_E2E_DIR=$E2E_DIR MTSCN_E2E_RUN=$E2E_RUN MTSCN_E2E_REPORT=$E2E_LOGS/report.txt
go test -tags e2e -count=1 -timeout 20m -v -run "${E2E_RUN_TESTS:-.}" ./test/e2e/ 2>&1 | tee "$E2E_LOGS/test.log" \
  | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test\.go:[0-9]+:'
T_TESTS=$(now_ms)

log "measurements"
cat "$E2E_LOGS/report.txt" 2>/dev/null || true
printf 'build (cached binaries: seconds)      %6.1f s\n' "$(( T_BUILT - T0 ))e-3"
printf 'start of the nodes -> all Ready       %6.1f s\n' "$(( T_READY - T_NODES ))e-3"
printf 'make e2e start -> product running     %6.1f s\n' "$(( T_PRODUCT - T0 ))e-3"
printf 'checks                                %6.1f s\n' "$(( T_TESTS - T_PRODUCT ))e-3"
