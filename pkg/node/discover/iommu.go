package discover

import (
	"fmt"
	"strings"
)

// IOMMU describes the node's IOMMU, needed for VFIO passthrough.
type IOMMU struct {
	// Groups is the number of /sys/kernel/iommu_groups entries.
	Groups int `json:"groups"`
	// Enabled is the mtscn.io/iommu label: at least one IOMMU group.
	Enabled bool `json:"enabled"`
	// Units are the IOMMU hardware units in /sys/class/iommu (dmar0, ivhd0).
	Units []string `json:"units"`
	// KernelArgs are the IOMMU-related kernel command line arguments
	// (intel_iommu=, amd_iommu=, iommu=, iommu.passthrough=, iommu.strict=).
	KernelArgs []string `json:"kernelArgs"`
	// Passthrough is true for iommu=pt or iommu.passthrough=1 (host DMA
	// bypasses translation; VFIO still works).
	Passthrough bool `json:"passthrough"`
}

func discoverIOMMU(h host) (*IOMMU, error) {
	io := &IOMMU{Units: []string{}, KernelArgs: []string{}}
	var errs []string
	groups, err := h.readDir("/sys/kernel/iommu_groups")
	if err != nil && !isNotExist(err) {
		errs = append(errs, fmt.Sprintf("reading iommu groups: %v", err))
	}
	io.Groups = len(groups)
	io.Enabled = io.Groups > 0
	units, err := h.readDir("/sys/class/iommu")
	if err != nil && !isNotExist(err) {
		errs = append(errs, fmt.Sprintf("reading iommu units: %v", err))
	}
	for _, u := range units {
		io.Units = append(io.Units, u)
	}
	cmdline, err := h.readString("/proc/cmdline")
	if err != nil {
		errs = append(errs, fmt.Sprintf("reading kernel command line: %v", err))
	}
	for _, arg := range strings.Fields(cmdline) {
		if arg == "--" {
			break // the rest belongs to init
		}
		k, v, _ := strings.Cut(arg, "=")
		switch k {
		case "intel_iommu", "amd_iommu", "iommu", "iommu.passthrough", "iommu.strict":
			io.KernelArgs = append(io.KernelArgs, arg)
		}
		if (k == "iommu" && v == "pt") || (k == "iommu.passthrough" && (v == "1" || v == "on" || v == "y")) {
			io.Passthrough = true
		}
	}
	if len(errs) > 0 {
		return io, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return io, nil
}
