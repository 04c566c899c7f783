// Package harness runs mtscn's integration tests against the real
// kube-apiserver and etcd, in-process, with the real scheduler built from the
// shipped configuration (manifests/scheduler/scheduler-config.yaml) and
// mtscn's out-of-tree registry.
//
// Every integration test package calls Main from its TestMain; each test
// then starts its own control plane with StartControlPlane (a fresh
// kube-apiserver on a private etcd prefix) and, when it needs one, a
// scheduler with StartScheduler. Everything is torn down at t.Cleanup, and
// Main removes the key files and the etcd process the framework leaves.
package harness
