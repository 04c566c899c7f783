#!/usr/bin/env bash
# make e2e-clean: remove what a `make e2e` run left on this machine (after
# E2E_KEEP=1, a crash or a kill -9), then list anything that remains.
set -euo pipefail
# shellcheck source=hack/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root"
left=$(leftovers)
if [ -z "$left" ]; then echo "nothing to clean"; exit 0; fi
printf 'removing:\n%s\n' "$left"
cleanup
left=$(leftovers)
if [ -n "$left" ]; then printf 'still there:\n%s\n' "$left" >&2; exit 1; fi
echo "clean"
