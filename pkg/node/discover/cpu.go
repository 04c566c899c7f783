package discover

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Vulnerability states, parsed from /sys/devices/system/cpu/vulnerabilities/*.
const (
	VulnNotAffected = "not-affected"
	VulnMitigated   = "mitigated"
	VulnVulnerable  = "vulnerable"
	VulnUnknown     = "unknown"
)

// CrossVMLeaks are the vulnerabilities (file names under
// /sys/devices/system/cpu/vulnerabilities) that let one VM read data of
// another VM or of the host: L1TF, the MDS family (MDS, TAA, MMIO stale data,
// RFDS), GDS, SRBDS, branch-target and return-stack attacks (Spectre v2,
// Retbleed, SRSO), TSA and VMSCAPE. Spectre v1, SSB and Meltdown stay inside
// one address space or kernel; iTLB multihit is a denial of service.
var CrossVMLeaks = []string{
	"gather_data_sampling", "l1tf", "mds", "mmio_stale_data", "reg_file_data_sampling",
	"retbleed", "spec_rstack_overflow", "spectre_v2", "srbds", "tsa", "tsx_async_abort", "vmscape",
}

// CPU describes the processor and its side-channel exposure.
type CPU struct {
	Vendor    string `json:"vendor"`
	Family    int    `json:"family"`
	Model     int    `json:"model"`
	ModelName string `json:"modelName,omitempty"`
	// VirtFlags are the virtualization-related /proc/cpuinfo flags present
	// (vmx, svm, hypervisor, sev, sev_es, sev_snp, tdx_guest).
	VirtFlags []string `json:"virtFlags"`
	// SMTControl is /sys/devices/system/cpu/smt/control (on, off,
	// forceoff, notsupported, notimplemented).
	SMTControl string `json:"smtControl,omitempty"`
	// SMTActive is /sys/devices/system/cpu/smt/active (nil when the file
	// is missing: kernels before 4.19 and some architectures).
	SMTActive *bool `json:"smtActive"`
	// Vulnerabilities maps each vulnerabilities file to its parsed state.
	Vulnerabilities map[string]Vulnerability `json:"vulnerabilities,omitempty"`
	// CrossVMExposure lists the CrossVMLeaks this CPU is exposed to: state
	// vulnerable, or mitigated with "SMT vulnerable" / "VMX: vulnerable".
	CrossVMExposure []string `json:"crossVMExposure"`
	// CotenancySafe is the mtscn.io/cotenancy-safe label: true only when
	// the kernel says no SMTLeaks can cross between VMs on this node (SMT
	// off, or each leak not affected or fully mitigated). Anything the
	// agent cannot read or the kernel does not know ("Unknown", "SMT Host
	// state unknown", a missing file) counts as not safe: the check fails
	// closed (docs/design.md, invariant I4).
	CotenancySafe bool `json:"cotenancySafe"`
	// CotenancyUnsafe says why CotenancySafe is false.
	CotenancyUnsafe []string `json:"cotenancyUnsafe,omitempty"`
}

// SMTLeaks are the CrossVMLeaks that work between sibling hyperthreads and
// that disabling SMT closes: L1TF, MDS, TAA and MMIO stale data. They decide
// CotenancySafe, which the mtscn-cotenancy NodeFeatureRule turns into the
// label.
var SMTLeaks = []string{"l1tf", "mds", "mmio_stale_data", "tsx_async_abort"}

// Vulnerability is one parsed vulnerabilities file.
type Vulnerability struct {
	State string `json:"state"`
	// SMTVulnerable is set when the kernel says the mitigation does not
	// cover sibling hyperthreads ("SMT vulnerable") or VM entry ("VMX: vulnerable").
	SMTVulnerable bool   `json:"smtVulnerable,omitempty"`
	Detail        string `json:"detail"`
}

var virtFlags = []string{"hypervisor", "sev", "sev_es", "sev_snp", "svm", "tdx_guest", "vmx"}

// cpuInfo is the first processor block of /proc/cpuinfo.
type cpuInfo struct {
	vendor, modelName string
	family, model     int
	flags             map[string]bool
}

func (c cpuInfo) has(flag string) bool { return c.flags[flag] }

func readCPUInfo(h host) (cpuInfo, error) {
	b, err := h.readFile("/proc/cpuinfo")
	if err != nil {
		return cpuInfo{}, fmt.Errorf("reading /proc/cpuinfo: %w", err)
	}
	return parseCPUInfo(b)
}

// parseCPUInfo parses the first processor block of /proc/cpuinfo.
func parseCPUInfo(b []byte) (cpuInfo, error) {
	kv := parseKeyValues(b, true)
	info := cpuInfo{vendor: kv["vendor_id"], modelName: kv["model name"], flags: map[string]bool{}}
	info.family, _ = strconv.Atoi(kv["cpu family"])
	info.model, _ = strconv.Atoi(kv["model"])
	for _, f := range strings.Fields(kv["flags"]) {
		info.flags[f] = true
	}
	if len(info.flags) == 0 {
		return info, fmt.Errorf("reading /proc/cpuinfo: no flags line in the first processor block")
	}
	return info, nil
}

// smtOff lists the smt/control values that mean SMT is not running.
var smtOff = []string{"off", "forceoff", "notsupported", "notimplemented"}

// discoverCPU reads the CPU identity and its side-channel state. A failed
// /proc/cpuinfo leaves the identity out (VirtFlags nil) but the
// side-channel state is still judged.
func discoverCPU(h host, info cpuInfo, infoErr error) (*CPU, error) {
	c := &CPU{CrossVMExposure: []string{}}
	var errs []string
	if infoErr != nil {
		errs = append(errs, infoErr.Error())
	} else {
		c.Vendor, c.Family, c.Model, c.ModelName = info.vendor, info.family, info.model, info.modelName
		c.VirtFlags = []string{}
		for _, f := range virtFlags {
			if info.has(f) {
				c.VirtFlags = append(c.VirtFlags, f)
			}
		}
	}
	if s, err := h.readString("/sys/devices/system/cpu/smt/control"); err == nil {
		c.SMTControl = s
	} else if !isNotExist(err) {
		errs = append(errs, fmt.Sprintf("reading smt/control: %v", err))
	}
	if active, err := h.readBool("/sys/devices/system/cpu/smt/active"); err == nil {
		c.SMTActive = &active
	} else if !isNotExist(err) {
		errs = append(errs, fmt.Sprintf("reading smt/active: %v", err))
	}

	const vulnDir = "/sys/devices/system/cpu/vulnerabilities"
	entries, err := h.readDir(vulnDir)
	vulnsRead := false
	switch {
	case isNotExist(err):
		// Very old kernels: nothing to parse, exposure unknown.
	case err != nil:
		errs = append(errs, fmt.Sprintf("reading vulnerabilities: %v", err))
	default:
		vulnsRead = true
		c.Vulnerabilities = make(map[string]Vulnerability, len(entries))
		for _, e := range entries {
			b, err := h.readString(vulnDir + "/" + e)
			if err != nil {
				errs = append(errs, fmt.Sprintf("reading vulnerability %s: %v", e, err))
				if slices.Contains(SMTLeaks, e) {
					vulnsRead = false
				}
				continue
			}
			v := ParseVulnerability(e, b)
			c.Vulnerabilities[e] = v
			if slices.Contains(CrossVMLeaks, e) && (v.State == VulnVulnerable || v.SMTVulnerable) {
				c.CrossVMExposure = append(c.CrossVMExposure, e)
			}
		}
	}
	c.CotenancyUnsafe = judgeCotenancy(c, vulnsRead)
	c.CotenancySafe = len(c.CotenancyUnsafe) == 0
	if len(errs) > 0 {
		return c, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return c, nil
}

// judgeCotenancy returns why VMs of different tenants are not known to be
// safe from each other on this CPU, or nothing when they are. It fails
// closed: what the agent cannot read or the kernel does not know counts
// against co-tenancy.
func judgeCotenancy(c *CPU, vulnsRead bool) []string {
	var why []string
	smtOn, smtKnown := false, true
	switch {
	case c.SMTActive != nil:
		smtOn = *c.SMTActive
	case slices.Contains(smtOff, c.SMTControl):
	default:
		smtKnown = false
		why = append(why, "SMT state unknown (smt/active missing or unreadable)")
	}
	if !vulnsRead {
		return append(why, "CPU vulnerabilities unknown (/sys/devices/system/cpu/vulnerabilities missing or unreadable)")
	}
	for _, leak := range SMTLeaks {
		v, ok := c.Vulnerabilities[leak]
		switch {
		case !ok:
			why = append(why, leak+": not reported by the kernel")
		case v.State == VulnVulnerable:
			why = append(why, leak+": "+v.Detail)
		case v.State == VulnUnknown || strings.Contains(v.Detail, "Host state unknown"):
			why = append(why, leak+": "+v.Detail)
		case v.SMTVulnerable && (smtOn || !smtKnown):
			why = append(why, leak+": "+v.Detail+" with SMT on")
		}
	}
	return why
}

// ParseVulnerability parses the content of one vulnerabilities file
// (Documentation/admin-guide/hw-vuln): "Not affected", "Vulnerable...",
// "Mitigation: ...", "Unknown: ...".
func ParseVulnerability(name, content string) Vulnerability {
	detail := strings.TrimSpace(content)
	v := Vulnerability{State: VulnUnknown, Detail: detail}
	switch {
	case strings.HasPrefix(detail, "Not affected"):
		v.State = VulnNotAffected
	case strings.HasPrefix(detail, "Vulnerable"):
		v.State = VulnVulnerable
	case strings.HasPrefix(detail, "Mitigation"):
		v.State = VulnMitigated
	}
	// "SMT vulnerable" (MDS, TAA, MMIO, L1TF) and L1TF's "VMX: vulnerable"
	// (no L1D flush on VM entry) mean the mitigation does not protect
	// guests from each other.
	if strings.Contains(detail, "SMT vulnerable") || (name == "l1tf" && strings.Contains(detail, "VMX: vulnerable")) {
		v.SMTVulnerable = true
	}
	return v
}
