// Package sandboxoverhead tests the SandboxOverhead plugin through the real
// scheduler against the real kube-apiserver and etcd: Kata VMs admitted by
// what they commit rather than by requests + overhead, the reasons pending
// pods are given, /dev/shm-backed guest capacity, node-published Kata
// values, requeueing and preemption.
package sandboxoverhead
