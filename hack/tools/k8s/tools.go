//go:build tools

// Package tools pins the Kubernetes node components `make e2e` runs:
// the kubelet from k8s.io/kubernetes (the release mtscn-scheduler is built
// from) and NFD's nfd-master from the NFD module mtscn's go.mod pins. The
// replace block is the main module's (hack/update-k8s-replace.sh), so both
// build against the same Kubernetes libraries as mtscn itself.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "sigs.k8s.io/node-feature-discovery/cmd/nfd-master"
)
