// Package discover reads a host (under a configurable root, so that tests run
// on fixture trees and the DaemonSet on the host mounted at /host) and reports
// what Node Feature Discovery cannot see but mtscn's scheduler needs: a usable
// /dev/kvm and the virtualization mode behind it (hardware, nested, PVM), CPU
// side-channel exposure across VMs, the IOMMU, QAT functions bound to
// vfio-pci, the guest memory the node can back (/dev/shm, hugepages) and the
// Kata Containers handlers configured in containerd with their VM sizing.
//
// Each concern is a source (kvm, cpu, iommu, pci, memory, kata). A source that
// fails reports its error in Result.Errors; the others still run. Result is
// turned into NFD raw features by Features and into node labels by Labels.
package discover
