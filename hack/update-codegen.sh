#!/usr/bin/env bash
# Regenerates deepcopy, conversion and defaulting code for pkg/apis/config
# with k8s.io/code-generator at the version go.mod pins (go tool).
set -euo pipefail
cd "$(dirname "$0")/.."

boilerplate=hack/boilerplate.go.txt
api=github.com/mtscn/mtscn/pkg/apis/config

go tool deepcopy-gen --go-header-file "$boilerplate" \
  --output-file zz_generated.deepcopy.go \
  "$api" "$api/v1"
go tool defaulter-gen --go-header-file "$boilerplate" \
  --output-file zz_generated.defaults.go \
  "$api/v1"
go tool conversion-gen --go-header-file "$boilerplate" \
  --output-file zz_generated.conversion.go \
  --extra-peer-dirs k8s.io/apimachinery/pkg/apis/meta/v1,k8s.io/apimachinery/pkg/conversion,k8s.io/apimachinery/pkg/runtime \
  "$api/v1"
