#!/usr/bin/env bash
# gvisor.sh install|uninstall N: put the gVisor handler runsc into node N's
# containerd, or take it out again (run.sh installs, test/e2e's
# TestUninstall uninstalls).
set -euo pipefail
# shellcheck source=hack/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=hack/e2e/node.sh
source "$(dirname "$0")/node.sh"
E2E_LOGS=${E2E_LOGS:-/tmp}
case "${1:-}" in
  install) install_gvisor "$2" ;;
  uninstall) uninstall_gvisor "$2" ;;
  *) die "usage: gvisor.sh install|uninstall N" ;;
esac
