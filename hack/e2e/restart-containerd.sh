#!/usr/bin/env bash
# restart-containerd.sh N: restart node N's containerd (stop by PID, start
# with the same config, wait for its socket). mtscn-node install and
# uninstall run it as their --restart-mode=command on make e2e's nodes,
# which have no systemd; a host supervised by runit or OpenRC would use
# `sv restart containerd` or `rc-service containerd restart` instead.
set -euo pipefail
# shellcheck source=hack/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=hack/e2e/node.sh
source "$(dirname "$0")/node.sh"
E2E_LOGS=${E2E_LOGS:-$E2E_RUN}
restart_containerd "${1:?usage: restart-containerd.sh N}"
