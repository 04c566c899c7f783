// Package e2e checks mtscn on a real node: `make e2e` (hack/e2e/run.sh)
// brings up the embedded control plane, real kubelets v1.35.4 with
// containerd, runc and gVisor on this machine, NFD's nfd-master,
// mtscn-node and mtscn-scheduler, then runs these tests against them with
// the build tag e2e. Without the tag (make test) only podcgroup's unit
// tests and the kind suite's helpers compile and run; with the tag but
// without MTSCN_E2E_KUBECONFIG the suite skips. test/e2e/README.md
// explains the pieces; the kind-based suite for hosts with nested
// virtualization lives in test/e2e/kind.
package e2e
