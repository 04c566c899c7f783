package discover

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// Intel QAT device ids (vendor 8086), from
// github.com/intel/intel-device-plugins-for-kubernetes/cmd/qat_plugin/dpdkdrv/dpdkdrv.go.
var (
	QATVendor = "8086"
	// QATPhysicalFunctions are PF ids: C62x, 4xxx/401xx/402xx/420xx generations.
	QATPhysicalFunctions = []string{"37c8", "4940", "4942", "4944", "4946", "4948"}
	// QATVirtualFunctions are VF ids.
	QATVirtualFunctions = []string{"0443", "18a1", "19e3", "37c9", "4941", "4943", "4945", "4947", "4949", "6f55"}
	// QATClassPrefix is the PCI class of co-processors (0b40xx): Intel
	// functions of that class with unknown ids are QAT too; a VF is
	// recognised by its physfn link.
	QATClassPrefix = "0b40"
)

// Function kinds of a QAT device.
const (
	FunctionPF = "pf"
	FunctionVF = "vf"
)

// PCI lists the node's QAT functions.
type PCI struct {
	QAT []QATDevice `json:"qat"`
	// QATPFs and QATVFs count the functions found.
	QATPFs int `json:"qatPFs"`
	QATVFs int `json:"qatVFs"`
	// QATVFsVFIO counts the VFs (known VF ids) bound to vfio-pci with an
	// IOMMU group: the ones a Kata VM can be given (the mtscn.io/qat-vfio
	// label when > 0).
	QATVFsVFIO int `json:"qatVFsVFIO"`
}

// QATDevice is one QAT PCI function.
type QATDevice struct {
	Address string `json:"address"`
	// Vendor, Device and Class are the PCI ids, lower case without 0x.
	Vendor   string `json:"vendor"`
	Device   string `json:"device"`
	Class    string `json:"class"`
	Function string `json:"function"`
	// Driver is the bound driver ("" when unbound).
	Driver string `json:"driver"`
	// IOMMUGroup is the function's IOMMU group ("" without an IOMMU).
	IOMMUGroup string `json:"iommuGroup,omitempty"`
	// VFIODevice is true when /dev/vfio/<group> exists.
	VFIODevice bool `json:"vfioDevice,omitempty"`
	// PhysFn is a VF's parent PF address.
	PhysFn string `json:"physfn,omitempty"`
	// SRIOVTotalVFs and SRIOVNumVFs are a PF's SR-IOV capacity and enabled VFs.
	SRIOVTotalVFs int `json:"sriovTotalVFs,omitempty"`
	SRIOVNumVFs   int `json:"sriovNumVFs,omitempty"`
}

func discoverPCI(h host) (*PCI, error) {
	p := &PCI{QAT: []QATDevice{}}
	const devices = "/sys/bus/pci/devices"
	entries, err := h.readDir(devices)
	if isNotExist(err) {
		return p, nil // no PCI bus (some VMs, containers without sysfs)
	}
	if err != nil {
		return p, fmt.Errorf("reading %s: %w", devices, err)
	}
	var errs []string
	for _, e := range entries {
		dir := devices + "/" + e + "/"
		vendor, err := h.readString(dir + "vendor")
		if err != nil {
			errs = append(errs, fmt.Sprintf("reading %s: %v", dir+"vendor", err))
			continue
		}
		if pciID(vendor) != QATVendor {
			continue
		}
		device, err := h.readString(dir + "device")
		if err != nil {
			errs = append(errs, fmt.Sprintf("reading %s: %v", dir+"device", err))
			continue
		}
		device = pciID(device)
		class, _ := h.readString(dir + "class")
		class = pciID(class)
		d := QATDevice{Address: e, Vendor: QATVendor, Device: device, Class: class}
		d.Function = qatFunction(device, class, h.exists(dir+"physfn"))
		switch d.Function {
		case FunctionPF:
			p.QATPFs++
			if n, err := h.readInt(dir + "sriov_totalvfs"); err == nil {
				d.SRIOVTotalVFs = int(n)
			}
			if n, err := h.readInt(dir + "sriov_numvfs"); err == nil {
				d.SRIOVNumVFs = int(n)
			}
		case FunctionVF:
			p.QATVFs++
			d.PhysFn = h.linkBase(dir + "physfn")
		default:
			continue
		}
		d.Driver = h.linkBase(dir + "driver")
		d.IOMMUGroup = h.linkBase(dir + "iommu_group")
		if d.IOMMUGroup != "" {
			d.VFIODevice = h.exists("/dev/vfio/" + d.IOMMUGroup)
		}
		if slices.Contains(QATVirtualFunctions, d.Device) && d.Driver == wellknown.DriverVFIOPCI && d.IOMMUGroup != "" {
			p.QATVFsVFIO++
		}
		p.QAT = append(p.QAT, d)
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return p, nil
}

// pciID normalizes a sysfs PCI id ("0x8086\n") to lower-case hex without
// 0x; anything that is not 1 to 8 hex digits becomes "" (unknown).
func pciID(s string) string {
	s = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "0x"))
	if len(s) == 0 || len(s) > 8 || strings.Trim(s, "0123456789abcdef") != "" {
		return ""
	}
	return s
}

// qatFunction classifies an Intel PCI function as a QAT PF, a QAT VF or
// neither (""): by the known device ids, else by the co-processor class and
// the physfn link every VF has.
func qatFunction(device, class string, hasPhysfn bool) string {
	switch {
	case slices.Contains(QATPhysicalFunctions, device):
		return FunctionPF
	case slices.Contains(QATVirtualFunctions, device):
		return FunctionVF
	case !strings.HasPrefix(class, QATClassPrefix):
		return ""
	case hasPhysfn:
		return FunctionVF
	}
	return FunctionPF
}
