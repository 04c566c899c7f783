package nfdrules

import (
	"strings"
	"testing"

	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

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
