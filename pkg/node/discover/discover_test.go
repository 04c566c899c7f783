package discover

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/mtscn/mtscn/pkg/wellknown"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"
)

const (
	kib = int64(1024)
	mib = 1024 * kib
	gib = 1024 * mib
)

const kataDefaults = "/opt/kata/share/defaults/kata-containers/"

// noCRI is what the kata source says on a fixture: no CRI socket to ask.
const noCRI = "not asked (" + DefaultCRISocket + " is not there: not mounted, or containerd is not running)"

// TestDiscoverFixtures runs every source on the fixture trees of five node
// types and checks each field of the result. The vulnerability maps are
// checked separately (TestVulnerabilityStates).
func TestDiscoverFixtures(t *testing.T) {
	noPCI := &PCI{QAT: []QATDevice{}}
	noIOMMU := &IOMMU{Units: []string{}, KernelArgs: []string{}}
	pools := func(giant, huge int64) []HugePages {
		return []HugePages{{SizeBytes: gib, Total: giant, Free: giant}, {SizeBytes: 2 * mib, Total: huge, Free: huge}}
	}
	runc := Handler{Name: "runc", RuntimeType: "io.containerd.runc.v2"}
	qemu := func(memMiB, vcpus int64) Handler {
		return Handler{
			Name: "kata-qemu", RuntimeType: "io.containerd.kata-qemu.v2", Sandbox: SandboxKata, Kata: true,
			ConfigPath: kataDefaults + "configuration-qemu.toml", Hypervisor: "qemu",
			DefaultMemoryMiB: memMiB, DefaultVCPUs: vcpus, SharedFS: "virtio-fs", Sizing: wellknown.SizingHotplug, ShmBacked: true,
		}
	}

	intelMem := 527826600 * kib
	amdMem := 792454500 * kib
	gceMem := 16375560 * kib
	awsMem := 7924000 * kib
	skxMem := 196608000 * kib
	pvmMem := 24684096 * kib

	tests := []struct {
		fixture string
		want    *Result
	}{
		{
			fixture: "intel-qat-baremetal",
			want: &Result{
				CPU: &CPU{
					Vendor: "GenuineIntel", Family: 6, Model: 143, ModelName: "Intel(R) Xeon(R) Gold 6438N",
					VirtFlags: []string{"vmx"}, SMTControl: "on", SMTActive: ptr.To(true),
					CrossVMExposure: []string{}, CotenancySafe: true,
				},
				KVM: &KVM{
					Device: true, APIVersion: 12, CreateVM: true, VhostVsock: true, Usable: ptr.To(true),
					Modules: []string{ModuleKVMIntel}, Module: ModuleKVMIntel, Nested: true,
					TEE: []string{}, Vhost: []string{"vhost-net", "vhost-vsock"}, Mode: ModeHardware,
				},
				IOMMU: &IOMMU{Groups: 120, Enabled: true, Units: []string{"dmar0", "dmar1"},
					KernelArgs: []string{"intel_iommu=on", "iommu=pt"}, Passthrough: true},
				PCI: &PCI{QAT: intelQAT(), QATPFs: 1, QATVFs: 16, QATVFsVFIO: 8},
				Memory: &Memory{
					TotalBytes: intelMem, HugePages: pools(0, 4096), HugePagesBytes: 8 * gib,
					ShmBytes: intelMem / 2, ShmSource: ShmFromDefault, GuestMemoryBytes: intelMem / 2,
				},
				Kata: &Kata{
					CRI:              noCRI,
					ContainerdConfig: DefaultContainerdConfig,
					Imports:          []string{"/etc/containerd/conf.d/kata-deploy.toml"},
					Handlers: []Handler{
						{
							Name: "kata-clh", RuntimeType: "io.containerd.kata-clh.v2", Sandbox: SandboxKata, Kata: true,
							ConfigPath: kataDefaults + "configuration-clh.toml", Hypervisor: "clh",
							DefaultMemoryMiB: 2048, DefaultVCPUs: 1, SharedFS: "virtio-fs", Sizing: wellknown.SizingHotplug,
						},
						qemu(4096, 2),
						runc,
					},
				},
				// kata-clh (memfd, not /dev/shm) fits 247 VMs of 2Gi in
				// RAM outside the hugepage pool: capped at 110.
				Capacity: &Capacity{SandboxMemoryBytes: intelMem / 2, Sandboxes: 110},
			},
		},
		{
			fixture: "amd-sev-snp",
			want: &Result{
				CPU: &CPU{
					Vendor: "AuthenticAMD", Family: 25, Model: 17, ModelName: "AMD EPYC 9654 96-Core Processor",
					VirtFlags: []string{"sev", "sev_es", "sev_snp", "svm"}, SMTControl: "on", SMTActive: ptr.To(true),
					CrossVMExposure: []string{}, CotenancySafe: true,
				},
				KVM: &KVM{
					Device: true, APIVersion: 12, CreateVM: true, VhostVsock: true, Usable: ptr.To(true),
					Modules: []string{ModuleKVMAMD}, Module: ModuleKVMAMD, Nested: true,
					TEE: []string{"sev", "sev_es", "sev_snp"}, Vhost: []string{"vhost-net", "vhost-vsock"}, Mode: ModeHardware,
				},
				IOMMU: &IOMMU{Groups: 48, Enabled: true, Units: []string{"ivhd0"}, KernelArgs: []string{"amd_iommu=on"}},
				PCI:   noPCI,
				Memory: &Memory{
					TotalBytes: amdMem, HugePages: pools(0, 0),
					ShmBytes: 396227248 * kib, ShmSource: ShmFromMounts, GuestMemoryBytes: 396227248 * kib,
				},
				Kata: &Kata{
					CRI:              noCRI,
					ContainerdConfig: DefaultContainerdConfig, Imports: []string{},
					Handlers: []Handler{
						qemu(2048, 1),
						{
							Name: "kata-qemu-snp", RuntimeType: "io.containerd.kata-qemu-snp.v2", Sandbox: SandboxKata, Kata: true,
							ConfigPath: kataDefaults + "configuration-qemu-snp.toml", Hypervisor: "qemu",
							DefaultMemoryMiB: 2048, DefaultVCPUs: 1, StaticSandboxResourceMgmt: true, SharedFS: "none",
							Sizing: wellknown.SizingStatic,
						},
						runc,
					},
				},
				Capacity: &Capacity{SandboxMemoryBytes: 396227248 * kib, Sandboxes: 110},
			},
		},
		{
			fixture: "nested-cloud-vm",
			want: &Result{
				CPU: &CPU{
					Vendor: "GenuineIntel", Family: 6, Model: 85, ModelName: "Intel(R) Xeon(R) CPU @ 2.80GHz",
					VirtFlags: []string{"hypervisor", "vmx"}, SMTControl: "on", SMTActive: ptr.To(true),
					CrossVMExposure: []string{}, CotenancySafe: false,
					// A VM cannot see its host's SMT: unknown, not safe.
					CotenancyUnsafe: []string{
						"mmio_stale_data: Mitigation: Clear CPU buffers; SMT Host state unknown",
						"tsx_async_abort: Mitigation: Clear CPU buffers; SMT Host state unknown",
					},
				},
				KVM: &KVM{
					Device: true, APIVersion: 12, CreateVM: true, VhostVsock: true, Usable: ptr.To(true),
					Modules: []string{ModuleKVMIntel}, Module: ModuleKVMIntel, Nested: false,
					TEE: []string{}, Vhost: []string{"vhost-net", "vhost-vsock"}, Mode: ModeNested,
				},
				IOMMU: noIOMMU,
				PCI:   noPCI,
				Memory: &Memory{
					TotalBytes: gceMem, HugePages: pools(0, 0),
					ShmBytes: gceMem / 2, ShmSource: ShmFromDefault, GuestMemoryBytes: gceMem / 2,
				},
				Kata: &Kata{
					CRI:              noCRI,
					ContainerdConfig: DefaultContainerdConfig, Imports: []string{},
					Handlers: []Handler{qemu(2048, 1), runc},
				},
				// 7.8Gi of /dev/shm holds three 2Gi guests.
				Capacity: &Capacity{SandboxMemoryBytes: gceMem / 2, Sandboxes: 3},
			},
		},
		{
			fixture: "vm-no-kvm",
			want: &Result{
				CPU: &CPU{
					Vendor: "GenuineIntel", Family: 6, Model: 106, ModelName: "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
					VirtFlags: []string{"hypervisor"}, SMTControl: "notsupported", SMTActive: ptr.To(false),
					CrossVMExposure: []string{}, CotenancySafe: false,
					CotenancyUnsafe: []string{"mmio_stale_data: Mitigation: Clear CPU buffers; SMT Host state unknown"},
				},
				KVM: &KVM{
					Usable: ptr.To(false), NotUsable: []string{NoKVMDevice, NoVhostVsockDevice},
					Modules: []string{}, TEE: []string{}, Vhost: []string{}, Mode: ModeNone,
				},
				IOMMU: noIOMMU,
				PCI:   noPCI,
				Memory: &Memory{
					TotalBytes: awsMem, HugePages: []HugePages{{SizeBytes: 2 * mib}},
					ShmBytes: gib, ShmSource: ShmFromMounts, GuestMemoryBytes: gib,
				},
				Kata:     &Kata{ContainerdConfig: DefaultContainerdConfig, Imports: []string{}, Handlers: []Handler{}},
				Capacity: &Capacity{SandboxMemoryBytes: gib, Sandboxes: 0},
				Errors: map[string]string{
					SourceKata: "containerd configuration /etc/containerd/config.toml not found (set --containerd-config if containerd keeps it elsewhere): " +
						"reading containerd configuration /etc/containerd/config.toml: open testdata/vm-no-kvm/etc/containerd/config.toml: no such file or directory",
				},
			},
		},
		{
			fixture: "smt-l1tf-vulnerable",
			want: &Result{
				CPU: &CPU{
					Vendor: "GenuineIntel", Family: 6, Model: 85, ModelName: "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz",
					VirtFlags: []string{"vmx"}, SMTControl: "on", SMTActive: ptr.To(true),
					CrossVMExposure: []string{"l1tf", "mds", "mmio_stale_data", "tsx_async_abort"}, CotenancySafe: false,
					CotenancyUnsafe: []string{
						"l1tf: Vulnerable",
						"mds: Mitigation: Clear CPU buffers; SMT vulnerable with SMT on",
						"mmio_stale_data: Mitigation: Clear CPU buffers; SMT vulnerable with SMT on",
						"tsx_async_abort: Mitigation: Clear CPU buffers; SMT vulnerable with SMT on",
					},
				},
				KVM: &KVM{
					Device: true, APIVersion: 12, CreateVM: true, VhostVsock: true, Usable: ptr.To(true),
					Modules: []string{ModuleKVMIntel}, Module: ModuleKVMIntel, Nested: true,
					TEE: []string{}, Vhost: []string{"vhost-net", "vhost-vsock"}, Mode: ModeHardware,
				},
				IOMMU: noIOMMU,
				PCI:   noPCI,
				Memory: &Memory{
					TotalBytes: skxMem, HugePages: []HugePages{{SizeBytes: gib, Total: 64, Free: 60}, {SizeBytes: 2 * mib}},
					HugePagesBytes: 64 * gib, ShmBytes: skxMem / 2, ShmSource: ShmFromDefault, GuestMemoryBytes: skxMem / 2,
				},
				Kata: &Kata{
					CRI:              noCRI,
					ContainerdConfig: DefaultContainerdConfig,
					Imports:          []string{"/etc/containerd/conf.d/10-kata.toml", "/etc/containerd/conf.d/20-gvisor.toml"},
					Handlers: []Handler{
						{
							Name: "kata-fc", RuntimeType: "io.containerd.kata-fc.v2", Sandbox: SandboxKata, Kata: true,
							Error: "reading Kata configuration " + kataDefaults + "configuration-fc.toml: open testdata/smt-l1tf-vulnerable" +
								kataDefaults + "configuration-fc.toml: no such file or directory",
						},
						func() Handler {
							h := qemu(2048, 1)
							h.EnableHugepages, h.ShmBacked = true, false
							return h
						}(),
						runc,
						{Name: "runsc", RuntimeType: "io.containerd.runsc.v1", Sandbox: SandboxGVisor},
					},
				},
				// kata-qemu boots from the 64Gi hugepage pool: 32 guests of 2Gi.
				Capacity: &Capacity{SandboxMemoryBytes: skxMem / 2, Sandboxes: 32},
				Errors: map[string]string{
					SourceKata: "handler kata-fc: reading Kata configuration " + kataDefaults + "configuration-fc.toml: open testdata/smt-l1tf-vulnerable" +
						kataDefaults + "configuration-fc.toml: no such file or directory",
				},
			},
		},
		{
			// Captured from the machine mtscn is developed on: a cloud VM
			// whose /dev/kvm is backed by kvm_pvm (no VMX/SVM), SMT off.
			fixture: "pvm-cloud-vm",
			want: &Result{
				CPU: &CPU{
					Vendor: "AuthenticAMD", Family: 25, Model: 17, ModelName: "AMD EPYC",
					VirtFlags: []string{"hypervisor"}, SMTControl: "notsupported", SMTActive: ptr.To(false),
					CrossVMExposure: []string{"spec_rstack_overflow"}, CotenancySafe: true,
				},
				KVM: &KVM{
					// KVM works, but the machine has no vhost_vsock: no Kata VM.
					Device: true, APIVersion: 12, CreateVM: true, Usable: ptr.To(false), NotUsable: []string{NoVhostVsockDevice},
					Modules: []string{ModuleKVMPVM}, Module: ModuleKVMPVM,
					TEE: []string{}, Vhost: []string{}, Mode: ModeNone,
				},
				IOMMU: noIOMMU,
				PCI:   noPCI,
				Memory: &Memory{
					TotalBytes: pvmMem, HugePages: pools(0, 0),
					ShmBytes: pvmMem, ShmSource: ShmFromMounts, GuestMemoryBytes: pvmMem,
				},
				Kata:     &Kata{ContainerdConfig: DefaultContainerdConfig, Imports: []string{}, Handlers: []Handler{}, CRI: noCRI},
				Capacity: &Capacity{SandboxMemoryBytes: pvmMem, Sandboxes: 0},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			tc.want.HostRoot = "testdata/" + tc.fixture
			got := Discover(ctx, fixtureOptions(tc.fixture))
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(CPU{}, "Vulnerabilities")); diff != "" {
				t.Errorf("Discover(%s) mismatch (-want,+got):\n%s", tc.fixture, diff)
			}
		})
	}
}

// intelQAT is the QAT 4xxx of the intel-qat-baremetal fixture: one PF with
// 16 VFs, the first eight bound to vfio-pci, the rest to the host driver.
func intelQAT() []QATDevice {
	devs := []QATDevice{{
		Address: "0000:6b:00.0", Vendor: "8086", Device: "4940", Class: "0b4000", Function: FunctionPF,
		Driver: "4xxx", IOMMUGroup: "40", SRIOVTotalVFs: 16, SRIOVNumVFs: 16,
	}}
	for i := 1; i <= 16; i++ {
		d := QATDevice{
			Address: fmt.Sprintf("0000:6b:%02x.%d", i/8, i%8),
			Vendor:  "8086", Device: "4941", Class: "0b4000", Function: FunctionVF,
			Driver: "4xxxvf", IOMMUGroup: strconv.Itoa(100 + i), PhysFn: "0000:6b:00.0",
		}
		if i <= 8 {
			d.Driver, d.VFIODevice = wellknown.DriverVFIOPCI, true
		}
		devs = append(devs, d)
	}
	return devs
}

func TestVulnerabilityStates(t *testing.T) {
	tests := []struct {
		fixture string
		want    map[string]Vulnerability
	}{
		{"smt-l1tf-vulnerable", map[string]Vulnerability{
			"l1tf":          {State: VulnVulnerable, Detail: "Vulnerable"},
			"mds":           {State: VulnMitigated, SMTVulnerable: true, Detail: "Mitigation: Clear CPU buffers; SMT vulnerable"},
			"meltdown":      {State: VulnMitigated, Detail: "Mitigation: PTI"},
			"srbds":         {State: VulnNotAffected, Detail: "Not affected"},
			"itlb_multihit": {State: VulnUnknown, Detail: "KVM: Mitigation: Split huge pages"},
		}},
		{"nested-cloud-vm", map[string]Vulnerability{
			"mmio_stale_data":      {State: VulnMitigated, Detail: "Mitigation: Clear CPU buffers; SMT Host state unknown"},
			"gather_data_sampling": {State: VulnUnknown, Detail: "Unknown: Dependent on hypervisor status"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			got := Discover(ctx, fixtureOptions(tc.fixture)).CPU.Vulnerabilities
			for name, want := range tc.want {
				if diff := cmp.Diff(want, got[name]); diff != "" {
					t.Errorf("vulnerability %s (-want,+got):\n%s", name, diff)
				}
			}
		})
	}
}

func TestParseVulnerability(t *testing.T) {
	tests := []struct {
		name, content string
		want          Vulnerability
	}{
		{"l1tf", "Not affected\n", Vulnerability{State: VulnNotAffected, Detail: "Not affected"}},
		{"l1tf", "Mitigation: PTE Inversion; VMX: conditional cache flushes, SMT vulnerable",
			Vulnerability{State: VulnMitigated, SMTVulnerable: true, Detail: "Mitigation: PTE Inversion; VMX: conditional cache flushes, SMT vulnerable"}},
		{"l1tf", "Mitigation: PTE Inversion; VMX: flush not necessary, SMT disabled",
			Vulnerability{State: VulnMitigated, Detail: "Mitigation: PTE Inversion; VMX: flush not necessary, SMT disabled"}},
		// With SMT on and L1D flushing off the kernel prints no SMT suffix.
		{"l1tf", "Mitigation: PTE Inversion; VMX: vulnerable",
			Vulnerability{State: VulnMitigated, SMTVulnerable: true, Detail: "Mitigation: PTE Inversion; VMX: vulnerable"}},
		{"mds", "Vulnerable: Clear CPU buffers attempted, no microcode; SMT vulnerable",
			Vulnerability{State: VulnVulnerable, SMTVulnerable: true, Detail: "Vulnerable: Clear CPU buffers attempted, no microcode; SMT vulnerable"}},
		{"spec_rstack_overflow", "Vulnerable: Safe RET, no microcode",
			Vulnerability{State: VulnVulnerable, Detail: "Vulnerable: Safe RET, no microcode"}},
		{"gather_data_sampling", "Unknown: Dependent on hypervisor status",
			Vulnerability{State: VulnUnknown, Detail: "Unknown: Dependent on hypervisor status"}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, ParseVulnerability(tc.name, tc.content)); diff != "" {
			t.Errorf("ParseVulnerability(%s, %q) (-want,+got):\n%s", tc.name, tc.content, diff)
		}
	}
}

// TestSourcesAreIndependent breaks one source at a time and checks that the
// others still report.
func TestSourcesAreIndependent(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	opts := fixtureOptions("intel-qat-baremetal")
	opts.ContainerdConfig = "/etc/containerd/missing.toml"
	got := Discover(ctx, opts)
	if _, ok := got.Errors[SourceKata]; !ok {
		t.Errorf("missing containerd config: want an error for source kata, got errors %v", got.Errors)
	}
	if got.KVM == nil || !got.KVM.IsUsable() || got.PCI == nil || got.PCI.QATVFsVFIO != 8 || got.Memory == nil {
		t.Errorf("the other sources must still report: kvm=%+v pci=%+v memory=%+v", got.KVM, got.PCI, got.Memory)
	}

	opts = fixtureOptions("intel-qat-baremetal")
	opts.HostRoot = t.TempDir() // an empty host: every file is missing
	got = Discover(ctx, opts)
	for _, s := range []string{SourceCPU, SourceMemory, SourceKata} {
		if got.Errors[s] == "" {
			t.Errorf("empty host root: want an error for source %s, got errors %v", s, got.Errors)
		}
	}
	if got.KVM == nil || got.KVM.Mode != ModeNone || got.IOMMU == nil || got.PCI == nil {
		t.Errorf("empty host root: kvm, iommu and pci must still report: kvm=%+v iommu=%+v pci=%+v", got.KVM, got.IOMMU, got.PCI)
	}

	opts = fixtureOptions("intel-qat-baremetal")
	opts.Sources = []string{SourceKVM}
	got = Discover(ctx, opts)
	if got.KVM == nil || got.CPU != nil || got.Kata != nil || got.Memory != nil {
		t.Errorf("sources=[kvm]: want only the kvm section, got %+v", got)
	}
}

func TestValidateSources(t *testing.T) {
	if err := ValidateSources([]string{"kvm", "cpu"}); err != nil {
		t.Errorf("valid sources: %v", err)
	}
	err := ValidateSources([]string{"kvm", "gpu"})
	if err == nil || !strings.Contains(err.Error(), `"gpu"`) || !strings.Contains(err.Error(), "valid sources") {
		t.Errorf("unknown source: want an error naming it and the valid ones, got %v", err)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"1048576k", gib}, {"2g", 2 * gib}, {"512m", 512 * mib}, {"4096", 4096}, {"50%", 500},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in, 1000)
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "x", "12q"} {
		if _, err := parseSize(bad, 1000); err == nil {
			t.Errorf("parseSize(%q): want an error", bad)
		}
	}
}
