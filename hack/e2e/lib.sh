# Shared by hack/e2e/*.sh (sourced). Everything `make e2e` creates on the
# host is named here, so that the cleanup and the leftover check cover
# exactly what the run creates. test/e2e/README.md lists it for people.
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$REPO/bin
# Persistent state (containerd roots, kubelet root dirs, CNI configs,
# control plane data) and runtime state (sockets, containerd state, runc
# and runsc roots, network namespaces), both private to make e2e.
E2E_DIR=${E2E_DIR:-/var/lib/mtscn-e2e}
E2E_RUN=${E2E_RUN:-/run/mtscn-e2e}
# One node by default; E2E_NODES=2 adds a second kubelet with its own
# containerd, bridge, ports and cgroup root.
E2E_NODES=${E2E_NODES:-2}
# Which containerd each node runs. mixed (the default): node 1 Debian's
# 1.6 (/usr/bin/containerd, version 2 config, runtimes inline), node 2
# containerd 2.x (bin/containerd2 from hack/containerd2.sh, version 3
# config, runtimes in a drop-in), as in a cluster half way through the
# upgrade; 1 or 2: that one on every node.
E2E_CONTAINERD=${E2E_CONTAINERD:-mixed}
# node_containerd N: the major version of node N's containerd (1 or 2).
node_containerd() {
  case "$E2E_CONTAINERD" in
    1|2) echo "$E2E_CONTAINERD" ;;
    mixed) if [ "$1" = 1 ]; then echo 1; else echo 2; fi ;;
    *) die "E2E_CONTAINERD=$E2E_CONTAINERD: use mixed (node 1 on containerd 1.6, node 2 on 2.x), 1 or 2" ;;
  esac
}
# Host names of everything per node n (1-based).
node_name() { echo "mtscn-e2e-$1"; }
node_bridge() { echo "mtscne2e$1"; }
node_ip() { echo "10.250.$1.1"; }
node_subnet() { echo "10.250.$1.0/24"; }
node_cgroup() { echo "mtscn-e2e-$1"; }
node_dir() { echo "$E2E_DIR/node$1"; }
node_run() { echo "$E2E_RUN/node$1"; }
node_sock() { echo "$E2E_RUN/node$1/containerd.sock"; }
# Each node's CNI network; libcni caches results under /var/lib/cni/results
# by this name (containerd 1.6 offers no other cache directory).
node_cni_net() { echo "mtscn-e2e-$1"; }
KUBECONFIG_ADMIN=$E2E_DIR/controlplane/admin.kubeconfig
# The product's processes authenticate as the ServiceAccounts of their
# manifests, with tokens from the TokenRequest API (e2ectl kubeconfig);
# the node agents' tokens are bound to their Node, as a DaemonSet pod's
# projected token is. identity_kubeconfig NAME: mtscn-node-<n>,
# mtscn-node-install-<n>, mtscn-scheduler, nfd-master.
identity_kubeconfig() { echo "$E2E_DIR/identities/$1.kubeconfig"; }
CGROUP_CONTROLLERS=(cpu cpuacct cpuset memory devices freezer blkio pids systemd hugetlb net_cls net_prio perf_event rdma misc)
# Kernel settings the kubelet changes when protectKernelDefaults is false
# (k8s.io/kubernetes/pkg/kubelet/cm/container_manager_linux.go
# setupKernelTunables): saved
# before the first kubelet starts, restored by the cleanup.
KUBELET_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

log() { printf '\n== %s %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { printf 'e2e: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }

# start_bg NAME LOGFILE CMD...: run CMD in the background, its PID in
# $E2E_RUN/pids/NAME.pid (the cleanup stops processes by these PIDs).
start_bg() {
  local name=$1 logfile=$2; shift 2
  mkdir -p "$E2E_RUN/pids"
  "$@" >>"$logfile" 2>&1 &
  echo $! >"$E2E_RUN/pids/$name.pid"
}

# stop_pid NAME: SIGTERM the recorded process, SIGKILL after 20s.
stop_pid() {
  local f="$E2E_RUN/pids/$1.pid" pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
}

# Processes (PIDs) whose command line or working directory names our
# directories: shims (-address <our socket>), runsc (--root <our root>),
# everything else we started.
our_pids() {
  local p cmd
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$$" ] && continue
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
    case "$cmd" in
      *"$E2E_DIR"*|*"$E2E_RUN"*) echo "$p" ;;
    esac
  done
}

# Processes in our cgroups (containers, gVisor sandboxes, shims).
cgroup_pids() {
  local c n
  for n in $(seq 1 2); do
    for c in "${CGROUP_CONTROLLERS[@]}"; do
      [ -d "/sys/fs/cgroup/$c/$(node_cgroup "$n")" ] || continue
      find "/sys/fs/cgroup/$c/$(node_cgroup "$n")" -name cgroup.procs -exec cat {} + 2>/dev/null
    done
  done | sort -u
}

our_mounts() {
  awk -v a="$E2E_DIR" -v b="$E2E_RUN" 'index($5, a) == 1 || index($5, b) == 1 { print $5 }' /proc/self/mountinfo
}

# leftovers prints one line per thing a previous run left on the host.
leftovers() {
  local n c p
  [ -e "$E2E_DIR" ] && echo "directory $E2E_DIR"
  [ -e "$E2E_RUN" ] && echo "directory $E2E_RUN"
  for n in 1 2; do
    ip link show "$(node_bridge "$n")" >/dev/null 2>&1 && echo "bridge $(node_bridge "$n")"
    for c in "${CGROUP_CONTROLLERS[@]}"; do
      [ -d "/sys/fs/cgroup/$c/$(node_cgroup "$n")" ] && echo "cgroup /sys/fs/cgroup/$c/$(node_cgroup "$n")"
    done
  done
  for p in $(our_pids) $(cgroup_pids); do
    echo "process $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-160)"
  done
  our_mounts | sed 's/^/mount /'
  ls -d /var/lib/cni/results/mtscn-e2e-* 2>/dev/null | sed 's/^/CNI cache /'
  find /var/log/containers -maxdepth 1 -lname "$E2E_DIR/*" 2>/dev/null | sed 's/^/log symlink /'
  true
}

# cleanup removes everything a run (or a crashed run) created, in an order
# that lets each step succeed: kubelets first (no restarts), then the
# product's processes, containers and sandboxes, containerd, the control
# plane, then mounts, cgroups, bridges and files. Safe to run twice.
cleanup() {
  local n f c p i
  for f in "$E2E_RUN"/pids/kubelet-*.pid; do [ -e "$f" ] && stop_pid "$(basename "$f" .pid)"; done
  for f in "$E2E_RUN"/pids/*.pid; do
    [ -e "$f" ] || continue
    case "$(basename "$f")" in containerd-*|controlplane*) continue ;; esac
    stop_pid "$(basename "$f" .pid)"
  done
  # Stop the pods' tasks through containerd while it runs, so that shims
  # and sandboxes exit on their own.
  for n in 1 2; do
    [ -S "$(node_sock "$n")" ] || continue
    for c in $(timeout 10 ctr -a "$(node_sock "$n")" -n k8s.io tasks ls -q 2>/dev/null); do
      timeout 10 ctr -a "$(node_sock "$n")" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
    done
    sleep 1
    for c in $(timeout 10 ctr -a "$(node_sock "$n")" -n k8s.io tasks ls -q 2>/dev/null); do
      timeout 10 ctr -a "$(node_sock "$n")" -n k8s.io tasks delete -f "$c" >/dev/null 2>&1 || true
    done
  done
  for f in "$E2E_RUN"/pids/containerd-*.pid "$E2E_RUN"/pids/controlplane.pid; do
    [ -e "$f" ] && stop_pid "$(basename "$f" .pid)"
  done
  # Whatever survived: processes in our cgroups or naming our directories.
  for i in 1 2 3; do
    p=$( { cgroup_pids; our_pids; } | sort -u)
    [ -z "$p" ] && break
    # shellcheck disable=SC2086
    kill -KILL $p 2>/dev/null || true
    sleep 0.5
  done
  # Mounts (rootfs, netns, shm, gVisor's), innermost first.
  for i in 1 2 3; do
    for p in $(our_mounts | sort -r); do umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null || true; done
  done
  for n in 1 2; do
    for c in "${CGROUP_CONTROLLERS[@]}"; do
      [ -d "/sys/fs/cgroup/$c/$(node_cgroup "$n")" ] || continue
      find "/sys/fs/cgroup/$c/$(node_cgroup "$n")" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    ip link del "$(node_bridge "$n")" 2>/dev/null || true
    rm -rf "/var/lib/cni/results/$(node_cni_net "$n")"-* 2>/dev/null || true
  done
  find /var/log/containers -maxdepth 1 -lname "$E2E_DIR/*" -delete 2>/dev/null || true
  # Shim sockets: containerd 1.6 and gVisor's shim library put them in
  # /run/containerd/s whatever containerd's state dir is. Those of this run
  # are newer than its start marker; one nobody listens on is stale.
  if [ -f "$E2E_RUN/started" ] && [ -d /run/containerd/s ]; then
    for p in $(find /run/containerd/s -type s -newer "$E2E_RUN/started" 2>/dev/null); do
      ss -xl 2>/dev/null | grep -qF "$p" || rm -f "$p"
    done
    # and the directories, when this run created them and they are empty
    [ -f "$E2E_RUN/created-run-containerd" ] && { rmdir /run/containerd/s /run/containerd/runc /run/containerd 2>/dev/null || true; }
  fi
  if [ -f "$E2E_RUN/sysctls" ]; then
    while IFS='=' read -r k v; do sysctl -qw "$k=$v" || true; done <"$E2E_RUN/sysctls"
  fi
  rm -rf "$E2E_DIR" "$E2E_RUN"
}
