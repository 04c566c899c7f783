#!/usr/bin/env bash
# install-e2e.sh installs the Debian packages `make e2e` runs when they are
# missing: containerd (1.6, with ctr), runc, the CNI plugins
# (/usr/lib/cni: bridge, host-local, loopback) and iproute2. Returns
# immediately when everything is there. It never starts a daemon: make e2e
# runs its own containerd with a private config.
set -euo pipefail

missing=()
command -v containerd >/dev/null 2>&1 || missing+=(containerd)
command -v ctr >/dev/null 2>&1 || missing+=(containerd)
command -v runc >/dev/null 2>&1 || missing+=(runc)
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] || missing+=(containernetworking-plugins)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if [ ${#missing[@]} = 0 ]; then
	echo "make e2e packages present: $(containerd --version), $(runc --version | head -1), CNI plugins in /usr/lib/cni"
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "missing ${missing[*]} and apt-get is not available; install them yourself" >&2
	exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
echo "installed: ${missing[*]}"
