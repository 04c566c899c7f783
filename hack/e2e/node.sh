# One node of `make e2e` (sourced after lib.sh): a private bridge, a
# private containerd with CNI, the locally built images, and a kubelet
# v1.35.4 registering with mtscn's startup taint. Every path, socket, port
# and cgroup is per node (node_* in lib.sh), so two nodes run side by side.
# test/e2e/README.md explains each setting; the workarounds this machine
# needs are marked "Workaround".
# shellcheck shell=bash

# setup_bridge N: the node's bridge with the node IP. The CNI bridge plugin
# reuses it for the pods (no gateway, no masquerade, no IP forwarding:
# traffic stays between the host and its pods).
setup_bridge() {
  local n=$1 br
  br=$(node_bridge "$n")
  ip link add "$br" type bridge
  ip addr add "$(node_ip "$n")/24" dev "$br"
  ip link set "$br" up
}

# containerd_base_config N: the node's containerd configuration before
# mtscn-node installs anything: runc only, as a fresh node has it, in the
# layout of the node's containerd (node_containerd).
containerd_base_config() {
  if [ "$(node_containerd "$1")" = 2 ]; then containerd2_base_config "$1"; else containerd1_base_config "$1"; fi
}

# containerd1_base_config N: containerd 1.6, config version 2. mtscn-node
# install adds its runtimes to the CRI table in this file.
containerd1_base_config() {
  local n=$1 d r
  d=$(node_dir "$n"); r=$(node_run "$n")
  cat <<TOML
# containerd of make e2e node $n (hack/e2e/node.sh): private root, state and
# sockets; runc only. mtscn-node install adds the gVisor handler.
version = 2
root = "$d/containerd/root"
state = "$r/containerd"
# Plugins that would use host-wide paths or are not needed here.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$r/containerd.sock"

[ttrpc]
  address = "$r/containerd.sock.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "mtscn.test/pause:e2e"
  stream_server_address = "127.0.0.1"
  # Workaround: root here lacks CAP_SYS_RESOURCE, so runc cannot lower a
  # container's oom_score_adj below containerd's ("can't get final child's
  # PID from pipe: EOF"); this caps the score at containerd's own.
  restrict_oom_score_adj = true
  # Network namespaces under containerd's private state, not /var/run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$r/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni"
TOML
}

# containerd2_base_config N: containerd 2.x, config version 3, the same
# settings in 2.x's plugin layout (the CRI split into runtime and images).
# Like the config.toml that 2.x's `containerd config default` writes, it
# imports every *.toml of a conf.d directory, here the node's own (2.x
# writes /etc/containerd/conf.d/*.toml; the daemon loads only the imports
# its files name). mtscn-node install puts its runtimes into a drop-in there
# and leaves this file alone.
containerd2_base_config() {
  local n=$1 d r
  d=$(node_dir "$n"); r=$(node_run "$n")
  cat <<TOML
# containerd 2.x of make e2e node $n (hack/e2e/node.sh): private root, state
# and sockets; runc only. mtscn-node install adds the gVisor handler in a
# drop-in under conf.d.
version = 3
root = "$d/containerd/root"
state = "$r/containerd"
imports = ["$d/containerd/conf.d/*.toml"]
# Plugins that would use host-wide paths or are not needed here (NRI's
# socket is /var/run/nri/nri.sock).
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.nri.v1.nri"]

[grpc]
  address = "$r/containerd.sock"

[ttrpc]
  address = "$r/containerd.sock.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "mtscn.test/pause:e2e"

[plugins."io.containerd.cri.v1.runtime"]
  # Workaround: see containerd1_base_config (no CAP_SYS_RESOURCE here).
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  # CDI specs live in host-wide /etc/cdi and /var/run/cdi.
  enable_cdi = false
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        Root = "$r/runc"
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$d/cni"
TOML
}

# cni_config N: a bridge network on the node's bridge with host-local IPAM
# whose data stays in the node's directory.
cni_config() {
  local n=$1
  cat <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$(node_cni_net "$n")",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$(node_bridge "$n")",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$(node_dir "$n")/cni-ipam",
        "ranges": [[{"subnet": "$(node_subnet "$n")", "rangeStart": "10.250.$n.10", "rangeEnd": "10.250.$n.250"}]]
      }
    },
    {"type": "loopback"}
  ]
}
JSON
}

# containerd_bin N: node N's containerd binary.
containerd_bin() {
  if [ "$(node_containerd "$1")" = 2 ]; then echo "$BIN/containerd2"; else echo /usr/bin/containerd; fi
}

# containerd_path N: the PATH node N's containerd finds its shims in: bin/
# first (containerd-shim-runsc-v1), and on containerd 2.x its own runc shim
# before Debian's 1.6 one.
containerd_path() {
  if [ "$(node_containerd "$1")" = 2 ]; then echo "$BIN/containerd2-shim:$BIN:$PATH"; else echo "$BIN:$PATH"; fi
}

# start_containerd N: containerd with the node's config, waiting for its
# socket.
start_containerd() {
  local n=$1 d i
  d=$(node_dir "$n")
  mkdir -p "$d/containerd" "$d/cni" "$(node_run "$n")"
  [ -f "$d/containerd/config.toml" ] || containerd_base_config "$n" >"$d/containerd/config.toml"
  cni_config "$n" >"$d/cni/10-mtscn-e2e.conflist"
  PATH="$(containerd_path "$n")" start_bg "containerd-$n" "$E2E_LOGS/containerd-$n.log" \
    "$(containerd_bin "$n")" --config "$d/containerd/config.toml"
  for i in $(seq 1 100); do
    ctr -a "$(node_sock "$n")" version >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  tail -20 "$E2E_LOGS/containerd-$n.log"
  die "containerd of node $n did not come up"
}

# restart_containerd N: what the installer's restart mode "command" runs
# (hack/e2e/restart-containerd.sh): stop by PID, start again.
restart_containerd() {
  stop_pid "containerd-$1"
  start_containerd "$1"
}

import_images() {
  local n=$1 img
  for img in "$E2E_DIR"/images/*.tar; do
    ctr -a "$(node_sock "$n")" -n k8s.io images import "$img" >/dev/null
  done
}

# start_kubelet N
start_kubelet() {
  local n=$1 d c name
  d=$(node_dir "$n"); name=$(node_name "$n")
  mkdir -p "$d/kubelet" "$d/pod-logs"
  # The kubelet requires its cgroup root to exist in every hierarchy.
  for c in "${CGROUP_CONTROLLERS[@]}"; do
    [ -d "/sys/fs/cgroup/$c" ] && mkdir -p "/sys/fs/cgroup/$c/$(node_cgroup "$n")"
  done
  cat >"$d/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Workaround: this machine has cgroup v1, which kubelet 1.35 refuses unless told.
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
cgroupRoot: /$(node_cgroup "$n")
containerRuntimeEndpoint: unix://$(node_sock "$n")
# Workaround: the node IP cannot be loopback, so the kubelet serves on the
# node's private bridge address; the API server reaches it there.
address: $(node_ip "$n")
port: 10250
readOnlyPort: 0
healthzPort: 0
podLogsDir: $d/pod-logs
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: $E2E_DIR/controlplane/ca.crt
authorization:
  mode: AlwaysAllow
registerWithTaints:
  - key: mtscn.io/sandbox-not-ready
    effect: NoSchedule
# This shared development machine's disk and memory are not the node's own.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 20
serializeImagePulls: false
# Leave the host's iptables alone (no KUBE-FIREWALL, no canary chains).
makeIPTablesUtilChains: false
YAML
  start_bg "kubelet-$n" "$E2E_LOGS/kubelet-$n.log" "$BIN/kubelet" \
    --config="$d/kubelet/config.yaml" \
    --kubeconfig="$E2E_DIR/controlplane/kubelet-$name.kubeconfig" \
    --root-dir="$d/kubelet" \
    --cert-dir="$d/kubelet/pki" \
    --hostname-override="$name" \
    --node-ip="$(node_ip "$n")" \
    --v=2
}

# installer_flags N: the flags of `mtscn-node install|uninstall` for node N,
# as pkg/node/install/README.md shows them for a containerd started by a
# script: gVisor only, gVisor's shim layout, the node's private paths, and
# restarts through hack/e2e/restart-containerd.sh (no systemd here), and
# the identity of install-daemonset.yaml's pod on node N (ServiceAccount
# mtscn-node-install, token bound to the Node). They go into the array
# INSTALLER_FLAGS.
installer_flags() {
  local n=$1 d
  d=$(node_dir "$n")
  INSTALLER_FLAGS=(--sandboxes=gvisor --gvisor-shim=runsc
    --gvisor-artifacts="$d/gvisor-artifacts" --gvisor-install-dir="$d/mtscn/gvisor"
    --containerd-config="$d/containerd/config.toml" --drop-in="$d/containerd/conf.d/mtscn.toml"
    --state-dir="$d/mtscn-install" --cri-socket="$(node_sock "$n")"
    --restart-mode=command --restart-command="$REPO/hack/e2e/restart-containerd.sh $n"
    --node-name="$(node_name "$n")" --kubeconfig="$(identity_kubeconfig "mtscn-node-install-$n")")
}

# install_gvisor N: mtscn-node install puts the gVisor handler runsc into
# node N's containerd, restarts it, checks it through the CRI, labels the
# node and lifts the startup taint. The artifacts are this build's runsc
# and shim (hard links into bin/) with a runsc.toml that keeps runsc's
# state under the node's private run directory.
install_gvisor() {
  local n=$1 d r
  d=$(node_dir "$n"); r=$(node_run "$n")
  cp "$d/containerd/config.toml" "$d/config.toml.before-install"
  mkdir -p "$d/gvisor-artifacts"
  ln -f "$BIN/runsc" "$BIN/containerd-shim-runsc-v1" "$d/gvisor-artifacts/"
  printf 'root = "%s"\n' "$r/runsc" >"$d/gvisor-artifacts/runsc.toml"
  installer_flags "$n"
  "$BIN/mtscn-node" install "${INSTALLER_FLAGS[@]}" >>"$E2E_LOGS/mtscn-node-install-$n.log" 2>&1 \
    || { tail -20 "$E2E_LOGS/mtscn-node-install-$n.log"; die "mtscn-node install failed on node $n"; }
  tail -3 "$E2E_LOGS/mtscn-node-install-$n.log"
}

# uninstall_gvisor N: mtscn-node uninstall (refuses while gVisor pods run).
uninstall_gvisor() {
  local n=$1
  installer_flags "$n"
  "$BIN/mtscn-node" uninstall "${INSTALLER_FLAGS[@]}" 2>&1 | tee -a "$E2E_LOGS/mtscn-node-install-$n.log"
}
