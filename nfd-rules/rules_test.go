package nfdrules

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

func TestRules(t *testing.T) {
	rules := loadRules(t)
	const (
		sandboxMem = "135291469824"
		kataQemu   = "io.containerd.kata-qemu.v2"
	)
	tests := []struct {
		name string
		node *node
		want result
	}{
		{
			name: "bare-metal Intel with VT-x and QAT 4xxx VFs on vfio-pci",
			node: newNode().
				flags("cpu.cpuid", "VMX", "AVX512F").
				flags("kernel.loadedmodule", "kvm", "kvm_intel", "vfio_pci", "qat_4xxx").
				instance("pci.device", "class", "0b40", "vendor", "8086", "device", "4940", "sriov_totalvfs", "16").
				kvm(wellknown.ModuleKVMIntel).
				cpu("false", "true", "true").
				attrs(wellknown.FeatureVulnerability, notAffected...).
				attrs(wellknown.FeatureIOMMU, wellknown.IOMMUEnabled, "true", wellknown.IOMMUGroups, "212").
				qat("0000:6b:00.0", "4940", "4xxx", "41").
				qat("0000:6b:00.1", "4941", wellknown.DriverVFIOPCI, "180").
				qat("0000:6b:00.2", "4941", wellknown.DriverVFIOPCI, "181").
				qat("0000:6b:00.3", "4941", "4xxxvf", "182").
				capacity(sandboxMem, "64").
				runtime("runc", "io.containerd.runc.v2").
				runtime("kata-qemu", kataQemu).
				runtime("kata-clh", "io.containerd.kata-clh.v2"),
			want: result{
				Labels: map[string]string{
					"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "hardware", "mtscn.io/iommu": "true", "mtscn.io/qat-vfio": "true",
					"mtscn.io/runtime.kata-qemu": "true", "mtscn.io/runtime.kata-clh": "true", "mtscn.io/cotenancy-safe": "true",
				},
				ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": sandboxMem, "mtscn.io/sandboxes": "64"},
			},
		},
		{
			name: "QAT VFs still on the host driver are not passthrough-ready",
			node: newNode().
				kvm(wellknown.ModuleKVMIntel).
				cpu("false", "true", "true").
				attrs(wellknown.FeatureIOMMU, wellknown.IOMMUEnabled, "true", wellknown.IOMMUGroups, "212").
				qat("0000:6b:00.0", "4940", "4xxx", "41").
				qat("0000:6b:00.1", "4941", "4xxxvf", "180").
				qat("0000:6b:00.2", "4941", "", "181"),
			want: result{
				Labels:            map[string]string{"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "hardware", "mtscn.io/iommu": "true", "mtscn.io/cotenancy-safe": "true"},
				ExtendedResources: map[string]string{},
			},
		},
		{
			name: "a PF on vfio-pci is not a VF",
			node: newNode().
				attrs(wellknown.FeatureKVM, wellknown.KVMUsable, "false").
				qat("0000:6b:00.0", "4940", wellknown.DriverVFIOPCI, "41"),
			want: result{
				Labels:            map[string]string{},
				ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "0", "mtscn.io/sandboxes": "0"},
			},
		},
		{
			name: "bare-metal AMD with SEV-SNP",
			node: newNode().
				flags("cpu.cpuid", "SVM", "SEV", "SEV_SNP").
				attrs("cpu.security", "sev.enabled", "true", "sev.snp.enabled", "true", "sev.es.enabled", "true").
				flags("kernel.loadedmodule", "kvm", "kvm_amd", "ccp").
				kvm(wellknown.ModuleKVMAMD).
				cpu("false", "true", "true").
				attrs(wellknown.FeatureVulnerability, "l1tf", "Not affected", "mds", "Not affected", "spec_rstack_overflow", "Mitigation: Safe RET").
				attrs(wellknown.FeatureIOMMU, wellknown.IOMMUEnabled, "true", wellknown.IOMMUGroups, "96").
				capacity(sandboxMem, "128").
				runtime("kata-qemu-snp", "io.containerd.kata-qemu-snp.v2").
				runtime("kata-qemu", kataQemu),
			want: result{
				Labels: map[string]string{
					"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "hardware", "mtscn.io/iommu": "true",
					"mtscn.io/runtime.kata-qemu-snp": "true", "mtscn.io/runtime.kata-qemu": "true", "mtscn.io/cotenancy-safe": "true",
				},
				ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": sandboxMem, "mtscn.io/sandboxes": "128"},
			},
		},
		{
			name: "cloud VM with nested virtualization",
			node: newNode().
				flags("cpu.cpuid", "VMX", "HYPERVISOR").
				kvm(wellknown.ModuleKVMIntel).
				cpu("true", "true", "false"). // "SMT Host state unknown": the agent fails closed
				attrs(wellknown.FeatureVulnerability, "l1tf", "Mitigation: PTE Inversion; VMX: flush not necessary, SMT disabled",
					"mds", "Mitigation: Clear CPU buffers; SMT Host state unknown", "mmio_stale_data", "Mitigation: Clear CPU buffers; SMT Host state unknown").
				attrs(wellknown.FeatureIOMMU, wellknown.IOMMUEnabled, "false", wellknown.IOMMUGroups, "0").
				capacity("8375316480", "8").
				runtime("kata-qemu", kataQemu).
				runtime("kata-remote", "io.containerd.kata-remote.v2"),
			want: result{
				Labels: map[string]string{
					"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "nested",
					"mtscn.io/runtime.kata-qemu": "true", "mtscn.io/runtime.kata-remote": "true", "mtscn.io/cotenancy-safe": "false",
				},
				ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "8375316480", "mtscn.io/sandboxes": "8"},
			},
		},
		{
			name: "NFD's cpuid HYPERVISOR flag alone marks a VM as nested",
			node: newNode().
				flags("cpu.cpuid", "VMX", "HYPERVISOR").
				kvm(wellknown.ModuleKVMIntel),
			want: result{
				Labels:            map[string]string{"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "nested"},
				ExtendedResources: map[string]string{},
			},
		},
		{
			// The values of the machine mtscn is developed on (AMD, kvm_pvm,
			// no svm flag, SMT off).
			name: "cloud VM with KVM through kvm_pvm and no VMX/SVM",
			node: newNode().
				flags("cpu.cpuid", "HYPERVISOR", "AVX2").
				flags("kernel.loadedmodule", "kvm", "kvm_pvm").
				kvm(wellknown.ModuleKVMPVM).
				cpu("true", "false", "true").
				attrs(wellknown.FeatureVulnerability, "l1tf", "Not affected", "mds", "Not affected", "mmio_stale_data", "Not affected",
					"spec_rstack_overflow", "Vulnerable: Safe RET, no microcode", "spec_store_bypass", "Vulnerable",
					"spectre_v2", "Mitigation: Retpolines; STIBP: disabled; RSB filling; PBRSB-eIBRS: Not affected; BHI: Not affected").
				attrs(wellknown.FeatureIOMMU, wellknown.IOMMUEnabled, "false", wellknown.IOMMUGroups, "0").
				capacity("25276514304", "16").
				runtime("kata-qemu", kataQemu),
			want: result{
				Labels:            map[string]string{"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "pvm", "mtscn.io/runtime.kata-qemu": "true", "mtscn.io/cotenancy-safe": "true"},
				ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "25276514304", "mtscn.io/sandboxes": "16"},
			},
		},
		{
			name: "VM without KVM: Kata configured but no VM can start",
			node: newNode().
				flags("cpu.cpuid", "HYPERVISOR").
				attrs(wellknown.FeatureKVM, wellknown.KVMUsable, "false").
				cpu("true", "false", "true").
				attrs(wellknown.FeatureIOMMU, wellknown.IOMMUEnabled, "false", wellknown.IOMMUGroups, "0").
				capacity("4294967296", "8").
				runtime("kata-qemu", kataQemu).
				runtime("runsc", "io.containerd.runsc.v1"),
			want: result{
				Labels:            map[string]string{"mtscn.io/runtime.kata-qemu": "true", "mtscn.io/runtime.runsc": "true", "mtscn.io/cotenancy-safe": "true"},
				ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "0", "mtscn.io/sandboxes": "0"},
			},
		},
		{
			name: "usable KVM whose module the agent could not tell gets no virt-mode",
			node: newNode().
				attrs(wellknown.FeatureKVM, wellknown.KVMUsable, "true", wellknown.KVMAPIVersion, "12").
				cpu("false", "", "true"),
			want: result{
				Labels:            map[string]string{"mtscn.io/kvm": "true", "mtscn.io/cotenancy-safe": "true"},
				ExtendedResources: map[string]string{},
			},
		},
		// mtscn-node judges co-tenancy (pkg/node/discover, where its cases
		// are tested); the rules publish its verdict and fail closed.
		{
			name: "agent says unsafe (SMT on with L1TF Vulnerable)",
			node: newNode().
				kvm(wellknown.ModuleKVMIntel).
				cpu("false", "true", "false").
				attrs(wellknown.FeatureVulnerability, "l1tf", "Vulnerable", "mds", "Not affected", "mmio_stale_data", "Not affected").
				capacity(sandboxMem, "64"),
			want: result{
				Labels:            map[string]string{"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "hardware", "mtscn.io/cotenancy-safe": "false"},
				ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": sandboxMem, "mtscn.io/sandboxes": "64"},
			},
		},
		{
			name: "agent says safe",
			node: newNode().cpu("false", "true", "true"),
			want: result{Labels: map[string]string{"mtscn.io/cotenancy-safe": "true"}, ExtendedResources: map[string]string{}},
		},
		{
			// An agent that does not judge co-tenancy (older version): not safe.
			name: "CPU feature without a verdict: not safe",
			node: newNode().cpu("false", "false", "").
				attrs(wellknown.FeatureVulnerability, "l1tf", "Not affected", "mds", "Not affected"),
			want: result{Labels: map[string]string{"mtscn.io/cotenancy-safe": "false"}, ExtendedResources: map[string]string{}},
		},
		{
			name: "a verdict that is not a boolean: not safe",
			node: newNode().cpu("false", "false", "maybe"),
			want: result{Labels: map[string]string{"mtscn.io/cotenancy-safe": "false"}, ExtendedResources: map[string]string{}},
		},
		{
			// gVisor installed through the runc shim with runsc as its binary
			// (the layout that works where gVisor's shim cannot lower its OOM
			// score): the agent reports it as a gVisor sandbox.
			name: "gVisor through the runc shim",
			node: newNode().
				attrs(wellknown.FeatureKVM, wellknown.KVMUsable, "false").
				instance(wellknown.FeatureRuntime, wellknown.RuntimeHandler, "runsc", wellknown.RuntimeType, "io.containerd.runc.v2",
					wellknown.RuntimeSandbox, wellknown.SandboxGVisor, wellknown.RuntimeCRIListed, "true").
				runtime("runc", "io.containerd.runc.v2"),
			want: result{
				Labels:            map[string]string{"mtscn.io/runtime.runsc": "true"},
				ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "0", "mtscn.io/sandboxes": "0"},
			},
		},
		{
			// Configured but not listed by the CRI (containerd not restarted,
			// or the drop-in overridden): the agent leaves sandbox out.
			name: "a sandbox handler the CRI does not list gets no label",
			node: newNode().
				instance(wellknown.FeatureRuntime, wellknown.RuntimeHandler, "kata-qemu", wellknown.RuntimeType, kataQemu, wellknown.RuntimeCRIListed, "false"),
			want: result{Labels: map[string]string{}, ExtendedResources: map[string]string{}},
		},
		{
			name: "node whose agent has not reported: nothing",
			node: newNode().flags("cpu.cpuid", "VMX").flags("kernel.loadedmodule", "kvm_intel"),
			want: result{Labels: map[string]string{}, ExtendedResources: map[string]string{}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := process(t, rules, tc.node.f)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("node labels and extended resources (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestReadmeExample decodes the NodeFeature of README.md's example and
// checks that the rules give the labels and capacity the README shows.
func TestReadmeExample(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "## Example")
	if start < 0 {
		t.Fatal("README.md has no ## Example section")
	}
	block := text[start:]
	open := strings.Index(block, "```yaml\n")
	if open < 0 {
		t.Fatal("README.md example has no yaml block")
	}
	block = block[open+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	var nf nfdv1alpha1.NodeFeature
	if err := yaml.UnmarshalStrict([]byte(block), &nf); err != nil {
		t.Fatalf("decoding README example: %v", err)
	}
	if nf.Labels[nfdv1alpha1.NodeFeatureObjNodeNameLabel] == "" {
		t.Errorf("README example lacks the %s label", nfdv1alpha1.NodeFeatureObjNodeNameLabel)
	}
	got := process(t, loadRules(t), &nf.Spec.Features)
	want := result{
		Labels:            map[string]string{"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "pvm", "mtscn.io/runtime.kata-qemu": "true", "mtscn.io/cotenancy-safe": "true"},
		ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "4294967296", "mtscn.io/sandboxes": "16"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("README example output (-want,+got):\n%s", diff)
	}
	for k, v := range want.Labels {
		if !strings.Contains(text, k+"="+v) {
			t.Errorf("README.md does not show label %s=%s", k, v)
		}
	}
	for k, v := range want.ExtendedResources {
		if !strings.Contains(text, k+": "+v) {
			t.Errorf("README.md does not show capacity %s: %s", k, v)
		}
	}
}
