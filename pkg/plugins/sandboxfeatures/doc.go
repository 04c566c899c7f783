// Package sandboxfeatures implements the SandboxFeatures scheduler plugin: it places sandboxed pods only on nodes whose virtualization features (KVM, PVM, nested, IOMMU, VFIO QAT, TDX, SEV-SNP) can run them.
package sandboxfeatures
