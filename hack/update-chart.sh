#!/usr/bin/env bash
# Copies the kustomize install's source files into the Helm chart
# (manifests/charts/mtscn/files/), so that the chart and `kubectl apply -k
# manifests/` install the same objects from one source: the chart's
# templates only read these copies and apply the chart's values to them.
# Run it after changing anything under manifests/ or nfd-rules/ that the
# default install (or components/node-labels) includes; `make verify` runs
# it with --verify and fails when the copies are stale, and the manifests
# tests compare the rendered chart with the kustomize build.
#
# Which files: every `- <file>.yaml` entry of the listed kustomizations
# (resources, and configMapGenerator files, which go to files/config/).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
chart=$root/manifests/charts/mtscn
verify=false
[[ ${1:-} == --verify ]] && verify=true

# kustomization directory (relative to the repository) -> directory under files/
dirs=(
  "manifests:."
  "manifests/scheduler:scheduler"
  "manifests/node-agent:node-agent"
  "manifests/runtimeclasses:runtimeclasses"
  "manifests/policies:policies"
  "manifests/components/node-labels:components/node-labels"
  "nfd-rules:nfd-rules"
)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for entry in "${dirs[@]}"; do
  src=${entry%%:*} dst=${entry#*:}
  k=$root/$src/kustomization.yaml
  [[ -f $k ]] || { echo "$k: missing (update the list in $0)" >&2; exit 1; }
  # "resources:" entries are objects; entries under configMapGenerator are
  # files a ConfigMap is generated from.
  awk '
    /^[A-Za-z]/ { gen = ($1 == "configMapGenerator:") }
    match($0, /^[ \t]*-[ \t]+[^ \t\/]+\.ya?ml[ \t]*$/) {
      f = $0; sub(/^[ \t]*-[ \t]+/, "", f); sub(/[ \t]*$/, "", f)
      print (gen ? "config " : "object ") f
    }' "$k" | while read -r what f; do
    if [[ $what == config ]]; then
      mkdir -p "$out/config"
      cp "$root/$src/$f" "$out/config/$f"
    else
      mkdir -p "$out/$dst"
      cp "$root/$src/$f" "$out/$dst/$f"
    fi
  done
done

if $verify; then
  if ! diff -r "$out" "$chart/files" >/dev/null 2>&1; then
    diff -r "$out" "$chart/files" | head -40 >&2 || true
    echo "manifests/charts/mtscn/files/ differs from the kustomize sources: run hack/update-chart.sh and commit the result" >&2
    exit 1
  fi
  exit 0
fi
rm -rf "$chart/files"
cp -r "$out" "$chart/files"
echo "updated $chart/files"
