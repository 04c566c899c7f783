// Package manifests checks mtscn's kustomize manifests (manifests/) against
// a real kube-apiserver: every kustomization renders with kustomize's Go API
// (what `kubectl apply -k` runs), every rendered object is accepted by a
// server-side apply with strict field validation, and the shipped RBAC and
// admission policies do what they promise when exercised by impersonating
// the scheduler, the node agent and a tenant. `make manifests-check` runs
// the render-and-apply part; `make test-integration` runs all of it.
package manifests
