#!/usr/bin/env bash
# install-containerd.sh makes sure the `containerd` binary is on PATH, so
# that the Kata installer tests (pkg/node/install) can check their output
# with the real `containerd config dump`. It installs Debian's containerd
# package (1.6.x) when the binary is missing, and returns immediately when
# it is already there. It never starts the daemon.
set -euo pipefail

if command -v containerd >/dev/null 2>&1; then
	echo "containerd present: $(containerd --version 2>/dev/null || echo unknown version)"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "containerd is missing and apt-get is not available; install containerd yourself" >&2
	exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
# The package postinst tries to start the service; on a machine without
# systemd as PID 1 that is a no-op, and policy-rc.d keeps sysvinit quiet.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends containerd >/dev/null
echo "containerd installed: $(containerd --version)"
