// Package sandboxfeatures implements the SandboxFeatures scheduler plugin:
// it places sandboxed pods only on nodes whose virtualization features
// (KVM, the pod's Kata handler, TDX, SEV-SNP, IOMMU and QAT VFs on vfio-pci)
// can run them, and scores nodes by how fast they run VMs (mtscn.io/virt-mode
// hardware > pvm > nested).
//
// Requirements come from the plugin args (runtimeRequirements per handler
// glob, deviceRequirements per extended-resource glob) and are matched
// against node labels, which nfd-rules/ derive from mtscn-node's raw
// features. See README.md in this directory for the defaults and an example.
package sandboxfeatures
