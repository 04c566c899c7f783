#!/usr/bin/env bash
# Regenerates go.mod's replace block so that every k8s.io staging module is
# pinned to the version matching k8s.io/kubernetes, then runs go mod tidy.
#
#   hack/update-k8s-replace.sh            # keep the version go.mod names
#   hack/update-k8s-replace.sh v1.36.1    # move to another Kubernetes release
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:-$(go list -m -f '{{.Version}}' k8s.io/kubernetes)}
case "$version" in
  v1.*) ;;
  *) echo "usage: $0 [v1.MINOR.PATCH]; got ${version}" >&2; exit 2 ;;
esac
staging="v0.${version#v1.}"

go mod download "k8s.io/kubernetes@${version}"
gomod=$(go mod download -json "k8s.io/kubernetes@${version}" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
mods=$(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#\1#p' "$gomod" | sort -u)
[ -n "$mods" ] || { echo "no staging modules found in ${gomod}" >&2; exit 1; }

args=(-replace "k8s.io/kubernetes=k8s.io/kubernetes@${version}")
for m in $mods; do
  args+=(-replace "${m}=${m}@${staging}")
done
# Drop the old staging replaces first so that removed modules do not linger.
for m in $(go mod edit -json | sed -n 's#.*"Path": "\(k8s.io/[a-z0-9-]*\)".*#\1#p' | sort -u); do
  go mod edit -dropreplace "$m" || true
done
go mod edit "${args[@]}" -require "k8s.io/kubernetes@${version}"
go mod tidy
# tidy records placeholder versions (v0.0.0) for staging modules that only
# k8s.io/kubernetes requires; name the real version so that go.mod reads true.
required=$(go mod edit -json | sed -n 's#.*"Path": "\(k8s.io/[a-z0-9-]*\)".*#\1#p' | sort -u)
for m in $mods; do
  if echo "$required" | grep -qx "$m"; then
    go mod edit -require "${m}@${staging}"
  fi
done
go mod tidy
echo "pinned k8s.io/kubernetes ${version} and $(echo "$mods" | wc -l) staging modules to ${staging}"
