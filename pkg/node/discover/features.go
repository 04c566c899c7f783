package discover

import (
	"slices"
	"strconv"

	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// Features converts the result into the raw mtscn.* NFD features of the
// contract in nfd-rules/README.md (names in pkg/wellknown/features.go). Sections of
// sources that did not run, or failed before producing anything, are left
// out; so is every element that could not be determined.
func (r *Result) Features() *nfdv1alpha1.Features {
	f := nfdv1alpha1.NewFeatures()
	if k := r.KVM; k != nil {
		// Usability the agent could not judge is left out, never "false".
		e := map[string]string{}
		if k.Usable != nil {
			e[wellknown.KVMUsable] = strconv.FormatBool(*k.Usable)
			e[wellknown.KVMVhostVsock] = strconv.FormatBool(k.VhostVsock)
		}
		if k.CreateVM {
			e[wellknown.KVMAPIVersion] = strconv.Itoa(k.APIVersion)
		}
		if k.Module != "" {
			e[wellknown.KVMModule] = k.Module
		}
		f.Attributes[wellknown.FeatureKVM] = nfdv1alpha1.NewAttributeFeatures(e)
	}
	if c := r.CPU; c != nil {
		e := map[string]string{wellknown.CPUCotenancySafe: strconv.FormatBool(c.CotenancySafe)}
		if c.VirtFlags != nil { // nil: /proc/cpuinfo could not be read
			e[wellknown.CPUHypervisor] = strconv.FormatBool(slices.Contains(c.VirtFlags, "hypervisor"))
		}
		if c.SMTActive != nil {
			e[wellknown.CPUSMTActive] = strconv.FormatBool(*c.SMTActive)
		}
		f.Attributes[wellknown.FeatureCPU] = nfdv1alpha1.NewAttributeFeatures(e)
		if c.Vulnerabilities != nil {
			v := make(map[string]string, len(c.Vulnerabilities))
			for name, vuln := range c.Vulnerabilities {
				v[name] = vuln.Detail
			}
			f.Attributes[wellknown.FeatureVulnerability] = nfdv1alpha1.NewAttributeFeatures(v)
		}
	}
	if io := r.IOMMU; io != nil {
		f.Attributes[wellknown.FeatureIOMMU] = nfdv1alpha1.NewAttributeFeatures(map[string]string{
			wellknown.IOMMUEnabled: strconv.FormatBool(io.Enabled),
			wellknown.IOMMUGroups:  strconv.Itoa(io.Groups),
		})
	}
	if m := r.Memory; m != nil {
		e := map[string]string{
			wellknown.CapacityMemoryBytes: strconv.FormatInt(m.TotalBytes, 10),
			wellknown.CapacityShmBytes:    strconv.FormatInt(m.ShmBytes, 10),
		}
		if c := r.Capacity; c != nil {
			e[wellknown.CapacitySandboxMemoryBytes] = strconv.FormatInt(c.SandboxMemoryBytes, 10)
			e[wellknown.CapacitySandboxes] = strconv.FormatInt(c.Sandboxes, 10)
		}
		f.Attributes[wellknown.FeatureCapacity] = nfdv1alpha1.NewAttributeFeatures(e)
	}
	if p := r.PCI; p != nil {
		inst := []nfdv1alpha1.InstanceFeature{} // never null: the CRD requires elements
		for _, d := range p.QAT {
			a := map[string]string{
				wellknown.QATAddress: d.Address,
				wellknown.QATVendor:  d.Vendor,
				wellknown.QATDevice:  d.Device,
			}
			if d.Class != "" {
				a[wellknown.QATClass] = d.Class
			}
			if d.Driver != "" {
				a[wellknown.QATDriver] = d.Driver
			}
			if d.IOMMUGroup != "" {
				a[wellknown.QATIOMMUGroup] = d.IOMMUGroup
			}
			inst = append(inst, *nfdv1alpha1.NewInstanceFeature(a))
		}
		f.Instances[wellknown.FeatureQAT] = nfdv1alpha1.NewInstanceFeatures(inst...)
	}
	if k := r.Kata; k != nil {
		inst := []nfdv1alpha1.InstanceFeature{} // never null: the CRD requires elements
		for _, h := range k.Handlers {
			a := map[string]string{wellknown.RuntimeHandler: h.Name}
			if h.CRIListed != nil {
				a[wellknown.RuntimeCRIListed] = strconv.FormatBool(*h.CRIListed)
			}
			// A sandbox the CRI was asked about and does not list is not
			// served, nor is one the installer withdrew: no sandbox
			// attribute, so no runtime label.
			if h.Sandbox != "" && (h.CRIListed == nil || *h.CRIListed) && !h.Withdrawn {
				a[wellknown.RuntimeSandbox] = h.Sandbox
			}
			if h.RuntimeType != "" {
				a[wellknown.RuntimeType] = h.RuntimeType
			}
			if h.ConfigPath != "" {
				a[wellknown.RuntimeConfigPath] = h.ConfigPath
			}
			if h.DefaultMemoryMiB > 0 {
				a[wellknown.RuntimeDefaultMemoryMiB] = strconv.FormatInt(h.DefaultMemoryMiB, 10)
			}
			if h.DefaultVCPUs > 0 {
				a[wellknown.RuntimeDefaultVCPUs] = strconv.FormatInt(h.DefaultVCPUs, 10)
			}
			inst = append(inst, *nfdv1alpha1.NewInstanceFeature(a))
		}
		f.Instances[wellknown.FeatureRuntime] = nfdv1alpha1.NewInstanceFeatures(inst...)
	}
	return f
}
