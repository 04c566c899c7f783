package nfdrules

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/sets"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"
	"sigs.k8s.io/node-feature-discovery/pkg/apis/nfd/validate"
	"sigs.k8s.io/yaml"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

func loadRules(t testing.TB) []nfdv1alpha1.NodeFeatureRule {
	t.Helper()
	rules, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// result is what nfd-master would put on the Node.
type result = Output

func process(t *testing.T, rules []nfdv1alpha1.NodeFeatureRule, features *nfdv1alpha1.Features) result {
	t.Helper()
	out, err := Evaluate(rules, features)
	if err != nil {
		t.Errorf("nfd-master would drop outputs or fail rules: %v", err)
	}
	return out
}

// node builds a feature set the way nfd-master sees it: NFD worker's
// features merged with mtscn-node's.
type node struct{ f *nfdv1alpha1.Features }

func newNode() *node { return &node{f: nfdv1alpha1.NewFeatures()} }

func (n *node) flags(name string, keys ...string) *node {
	n.f.Flags[name] = nfdv1alpha1.NewFlagFeatures(keys...)
	return n
}

func (n *node) attrs(name string, kv ...string) *node {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	n.f.Attributes[name] = nfdv1alpha1.NewAttributeFeatures(m)
	return n
}

func (n *node) instance(name string, kv ...string) *node {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	set := n.f.Instances[name]
	set.Elements = append(set.Elements, *nfdv1alpha1.NewInstanceFeature(m))
	n.f.Instances[name] = set
	return n
}

func (n *node) kvm(module string) *node {
	return n.attrs(wellknown.FeatureKVM, wellknown.KVMUsable, "true", wellknown.KVMAPIVersion, "12", wellknown.KVMModule, module)
}

// runtime adds a handler as mtscn-node reports one containerd serves: Kata
// and gVisor shims carry their sandbox kind.
func (n *node) runtime(handler, runtimeType string) *node {
	kv := []string{wellknown.RuntimeHandler, handler, wellknown.RuntimeType, runtimeType}
	switch {
	case strings.HasPrefix(runtimeType, "io.containerd.kata"):
		kv = append(kv, wellknown.RuntimeSandbox, wellknown.SandboxKata)
	case strings.HasPrefix(runtimeType, "io.containerd.runsc"):
		kv = append(kv, wellknown.RuntimeSandbox, wellknown.SandboxGVisor)
	}
	return n.instance(wellknown.FeatureRuntime, kv...)
}

// cpu adds mtscn.cpu with the agent's co-tenancy verdict ("" leaves it
// out, as an agent that does not judge it would).
func (n *node) cpu(hypervisor, smtActive, cotenancySafe string) *node {
	kv := []string{wellknown.CPUHypervisor, hypervisor}
	if smtActive != "" {
		kv = append(kv, wellknown.CPUSMTActive, smtActive)
	}
	if cotenancySafe != "" {
		kv = append(kv, wellknown.CPUCotenancySafe, cotenancySafe)
	}
	return n.attrs(wellknown.FeatureCPU, kv...)
}

func (n *node) capacity(sandboxMemory, sandboxes string) *node {
	return n.attrs(wellknown.FeatureCapacity,
		wellknown.CapacityMemoryBytes, "270582939648",
		wellknown.CapacityShmBytes, sandboxMemory,
		wellknown.CapacitySandboxMemoryBytes, sandboxMemory,
		wellknown.CapacitySandboxes, sandboxes)
}

func (n *node) qat(addr, device, driver, group string) *node {
	kv := []string{wellknown.QATAddress, addr, wellknown.QATVendor, "8086", wellknown.QATDevice, device, wellknown.QATClass, "0b4000"}
	if driver != "" {
		kv = append(kv, wellknown.QATDriver, driver)
	}
	if group != "" {
		kv = append(kv, wellknown.QATIOMMUGroup, group)
	}
	return n.instance(wellknown.FeatureQAT, kv...)
}

var notAffected = []string{
	"l1tf", "Not affected", "mds", "Not affected", "tsx_async_abort", "Not affected",
	"mmio_stale_data", "Not affected", "spectre_v2", "Mitigation: Enhanced / Automatic IBRS; IBPB: conditional; RSB filling; PBRSB-eIBRS: SW sequence; BHI: BHI_DIS_S",
}

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

// TestRulesAreValid checks every rule the way nfd-master's NodeFeatureRule
// validation does, and that each rule can produce output (a rule with a
// typo in a feature name would silently never match).
func TestRulesAreValid(t *testing.T) {
	rules := loadRules(t)
	names := sets.New[string]()
	seen := sets.New[string]()
	for _, obj := range rules {
		if names.Has(obj.Name) {
			t.Errorf("duplicate NodeFeatureRule name %q", obj.Name)
		}
		names.Insert(obj.Name)
		for _, r := range obj.Spec.Rules {
			var errs []error
			errs = append(errs, validate.MatchFeatures(r.MatchFeatures)...)
			errs = append(errs, validate.MatchAny(r.MatchAny)...)
			errs = append(errs, validate.Template(r.LabelsTemplate)...)
			errs = append(errs, validate.Labels(r.Labels)...)
			errs = append(errs, validate.Taints(r.Taints)...)
			for k, v := range r.ExtendedResources {
				if strings.HasPrefix(v, "@") {
					v = "1"
				}
				if err := validate.ExtendedResource(k, v); err != nil {
					errs = append(errs, fmt.Errorf("extended resource %s: %w", k, err))
				}
			}
			for _, err := range errs {
				t.Errorf("%s rule %q: %v", obj.Name, r.Name, err)
			}
			if seen.Has(r.Name) {
				t.Errorf("duplicate rule name %q", r.Name)
			}
			seen.Insert(r.Name)
			for _, term := range allTerms(r) {
				if !strings.HasPrefix(term, wellknown.FeatureDomain+".") && !knownNFDFeature.MatchString(term) {
					t.Errorf("%s rule %q matches feature %q that neither mtscn-node nor NFD publishes", obj.Name, r.Name, term)
				}
			}
		}
	}
}

var knownNFDFeature = regexp.MustCompile(`^(cpu\.(cpuid|security|topology)|kernel\.(loadedmodule|config)|pci\.device)$`)

func allTerms(r nfdv1alpha1.Rule) []string {
	var out []string
	for _, m := range r.MatchFeatures {
		out = append(out, m.Feature)
	}
	for _, a := range r.MatchAny {
		for _, m := range a.MatchFeatures {
			out = append(out, m.Feature)
		}
	}
	return out
}

// TestKustomizationListsEveryRule keeps kustomization.yaml, Files and the
// directory in step.
func TestKustomizationListsEveryRule(t *testing.T) {
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("decoding kustomization.yaml: %v", err)
	}
	if diff := cmp.Diff(Files, k.Resources); diff != "" {
		t.Errorf("kustomization resources (-Files,+kustomization.yaml):\n%s", diff)
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var yamls []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "kustomization.yaml" {
			yamls = append(yamls, e.Name())
		}
	}
	want := append([]string(nil), Files...)
	sort.Strings(want)
	if diff := cmp.Diff(want, yamls); diff != "" {
		t.Errorf("rule files in the directory (-Files,+directory):\n%s", diff)
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

// TestEvaluate checks Evaluate itself: it leaves the caller's features
// alone and reports what nfd-master would drop instead of hiding it.
func TestEvaluate(t *testing.T) {
	features := newNode().kvm(wellknown.ModuleKVMIntel).attrs(wellknown.FeatureCPU, wellknown.CPUHypervisor, "false").f
	before := features.DeepCopy()
	rules := loadRules(t)
	if _, err := Evaluate(rules, features); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, features); diff != "" {
		t.Errorf("Evaluate changed its input (-before,+after):\n%s", diff)
	}

	broken := nfdv1alpha1.NodeFeatureRule{Spec: nfdv1alpha1.NodeFeatureRuleSpec{Rules: []nfdv1alpha1.Rule{{
		Name:              "typo",
		ExtendedResources: map[string]string{"mtscn.io/sandboxes": "@mtscn.capacity.sandbox"},
		Labels:            map[string]string{"kubernetes.io/forbidden": "true", "mtscn.io/fine": "true"},
		MatchFeatures:     nfdv1alpha1.FeatureMatcher{{Feature: wellknown.FeatureKVM}},
	}}}}
	got, err := Evaluate([]nfdv1alpha1.NodeFeatureRule{broken}, newNode().kvm(wellknown.ModuleKVMIntel).capacity("1", "2").f)
	if err == nil {
		t.Fatal("Evaluate accepted a dynamic value naming a missing element and a label in a denied namespace")
	}
	for _, want := range []string{"element sandbox not found on feature mtscn.capacity", "label kubernetes.io/forbidden"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if diff := cmp.Diff(Output{Labels: map[string]string{"mtscn.io/fine": "true"}, ExtendedResources: map[string]string{}}, got); diff != "" {
		t.Errorf("output next to the error (-want,+got):\n%s", diff)
	}
}
