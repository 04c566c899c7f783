// Package vmsize is the Kata Containers VM footprint model
// (docs/vm-footprint.md): how much host memory a pod really commits on a
// node once its runtime handler boots a VM for it.
//
// Kubernetes sizes a pod by its memory requests plus pod.spec.overhead (the
// RuntimeClass's overhead.podFixed). A Kata VM commits more: the Go runtime
// boots the guest with default_memory (2Gi) and hot-plugs every container's
// memory limit on top; runtime-rs and the TEE shims size the guest as the sum
// of limits plus a small overhead_memory. On top of the guest the host runs
// the VMM and the shim, and a VM with a VFIO device has all of its guest
// memory pinned. This package turns a pod, its runtime handler's profile and
// the node's own Kata values (published by the node agent as labels) into a
// Footprint with every term named, so that the scheduler, the audit and the
// failure messages all tell the same story.
//
// The model is pure arithmetic on int64 bytes: it does no I/O, keeps no
// state and is safe for concurrent use.
package vmsize
