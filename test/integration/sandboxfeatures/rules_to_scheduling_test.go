package sandboxfeatures

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	nfdrules "github.com/mtscn/mtscn/nfd-rules"
	"github.com/mtscn/mtscn/pkg/plugins/sandboxfeatures"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// vmFeatures are the raw features mtscn-node publishes on a cloud VM with
// Kata installed: KVM through module (kvm_pvm, kvm_intel, or "" for none).
func vmFeatures(module string) *nfdv1alpha1.Features {
	f := nfdv1alpha1.NewFeatures()
	kvm := map[string]string{wellknown.KVMUsable: "false"}
	if module != "" {
		kvm = map[string]string{wellknown.KVMUsable: "true", wellknown.KVMAPIVersion: "12", wellknown.KVMModule: module}
	}
	f.Attributes[wellknown.FeatureKVM] = nfdv1alpha1.NewAttributeFeatures(kvm)
	f.Attributes[wellknown.FeatureCPU] = nfdv1alpha1.NewAttributeFeatures(map[string]string{wellknown.CPUHypervisor: "true", wellknown.CPUSMTActive: "false", wellknown.CPUCotenancySafe: "true"})
	f.Attributes[wellknown.FeatureIOMMU] = nfdv1alpha1.NewAttributeFeatures(map[string]string{wellknown.IOMMUEnabled: "false", wellknown.IOMMUGroups: "0"})
	f.Attributes[wellknown.FeatureCapacity] = nfdv1alpha1.NewAttributeFeatures(map[string]string{
		wellknown.CapacityMemoryBytes: "137438953472", wellknown.CapacityShmBytes: "68719476736",
		wellknown.CapacitySandboxMemoryBytes: "68719476736", wellknown.CapacitySandboxes: "16"})
	f.Instances[wellknown.FeatureRuntime] = nfdv1alpha1.NewInstanceFeatures(
		*nfdv1alpha1.NewInstanceFeature(map[string]string{wellknown.RuntimeHandler: "kata-qemu", wellknown.RuntimeType: "io.containerd.kata-qemu.v2", wellknown.RuntimeSandbox: wellknown.SandboxKata}),
		*nfdv1alpha1.NewInstanceFeature(map[string]string{wellknown.RuntimeHandler: "runc", wellknown.RuntimeType: "io.containerd.runc.v2"}))
	return f
}

// nodeFromRules builds the Node nfd-master would produce: the labels and
// extended resources of nfd-rules/ evaluated by NFD's engine.
func nodeFromRules(t *testing.T, rules []nfdv1alpha1.NodeFeatureRule, name string, f *nfdv1alpha1.Features) *v1.Node {
	t.Helper()
	out, err := nfdrules.Evaluate(rules, f)
	if err != nil {
		t.Fatalf("evaluating the rules for %s: %v", name, err)
	}
	var labels []string
	for k, v := range out.Labels {
		labels = append(labels, k, v)
	}
	ext := map[v1.ResourceName]string{}
	for k, v := range out.ExtendedResources {
		ext[v1.ResourceName(k)] = v
	}
	return nodeWith(name, ext, labels...)
}

// TestRulesToScheduling runs the whole chain: the agent's raw features go
// through nfd-rules/ with NFD's engine, the resulting labels and capacity
// are put on Nodes, and the scheduler places a Kata pod by them: never on
// the VM without KVM, and on the PVM node rather than the nested one.
func TestRulesToScheduling(t *testing.T) {
	rules, err := nfdrules.Load()
	if err != nil {
		t.Fatal(err)
	}
	cp := setup(t)
	cp.CreateNode(t, nodeFromRules(t, rules, "vm-nested", vmFeatures(wellknown.ModuleKVMIntel)))
	cp.CreateNode(t, nodeFromRules(t, rules, "vm-pvm", vmFeatures(wellknown.ModuleKVMPVM)))
	cp.CreateNode(t, nodeFromRules(t, rules, "vm-no-kvm", vmFeatures("")))

	for _, name := range []string{"vm-0", "vm-1"} {
		cp.CreatePod(t, makePod(name, "kata-qemu", nil))
		if got := cp.WaitForBound(t, ns, name, bindIn); got != "vm-pvm" {
			t.Errorf("%s bound to %s, want vm-pvm (pvm scores above nested, the third VM has no KVM)", name, got)
		}
	}
	// A TDX pod fits nowhere; the reason names what each node lacks.
	cp.CreatePod(t, makePod("tee", "kata-qemu-tdx", nil))
	msg := cp.WaitForUnschedulable(t, ns, "tee", bindIn)
	if want := "2 " + sandboxfeatures.ErrReasonNodeLacks + "kata-qemu-tdx runtime handler, TDX"; !strings.Contains(msg, want) {
		t.Errorf("unschedulable message %q does not contain %q", msg, want)
	}
	// The VM without KVM has mtscn.io/sandboxes=0 from the rules too, so
	// whichever filter runs first (SandboxOverhead or this plugin) rejects it.
	if !strings.Contains(msg, "usable /dev/kvm") && !strings.Contains(msg, "mtscn.io/sandboxes") {
		t.Errorf("unschedulable message %q gives no reason for the VM without KVM", msg)
	}
}
