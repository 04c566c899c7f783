package sandboxfeatures

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"
	"sigs.k8s.io/yaml"

	nfdrules "github.com/mtscn/mtscn/nfd-rules"
	"github.com/mtscn/mtscn/pkg/wellknown"
	"github.com/mtscn/mtscn/test/integration/harness"
)

var (
	nodeFeatureRules = schema.GroupVersionResource{Group: "nfd.k8s-sigs.io", Version: "v1alpha1", Resource: "nodefeaturerules"}
	nodeFeatures     = schema.GroupVersionResource{Group: "nfd.k8s-sigs.io", Version: "v1alpha1", Resource: "nodefeatures"}
)

func TestNFDAcceptsRulesAndFeatures(t *testing.T) {
	cp := harness.StartFullControlPlane(t)
	cp.InstallCRDs(t, harness.NFDCRDs(t))
	client := dynamic.NewForConfigOrDie(cp.Config)
	strict := metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}

	for _, path := range nfdrules.Paths() {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &obj.Object); err != nil {
			t.Fatalf("decoding %s: %v", path, err)
		}
		created, err := client.Resource(nodeFeatureRules).Create(cp.Ctx, obj, strict)
		if err != nil {
			t.Errorf("the NodeFeatureRule CRD rejects %s: %v", filepath.Base(path), err)
			continue
		}
		if diff := cmp.Diff(obj.Object["spec"], created.Object["spec"]); diff != "" {
			t.Errorf("%s changed when stored (-file,+stored):\n%s", filepath.Base(path), diff)
		}
	}
	list, err := client.Resource(nodeFeatureRules).List(cp.Ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(list.Items), len(nfdrules.Files); got != want {
		t.Errorf("%d NodeFeatureRules stored, want %d", got, want)
	}

	cp.CreateNamespace(t, "mtscn-system", nil)
	nf := agentNodeFeature()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(nf)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := client.Resource(nodeFeatures).Namespace("mtscn-system").Create(cp.Ctx, &unstructured.Unstructured{Object: u}, strict)
	if err != nil {
		t.Fatalf("the NodeFeature CRD rejects the agent's features: %v", err)
	}
	back := &nfdv1alpha1.NodeFeature{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(stored.Object, back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(nf.Spec, back.Spec); diff != "" {
		t.Errorf("NodeFeature changed when stored (-sent,+stored):\n%s", diff)
	}
}

// agentNodeFeature is a NodeFeature holding every raw feature of the
// contract in nfd-rules/README.md, with values as the agent writes them.
func agentNodeFeature() *nfdv1alpha1.NodeFeature {
	f := nfdv1alpha1.NewFeatures()
	f.Attributes[wellknown.FeatureKVM] = nfdv1alpha1.NewAttributeFeatures(map[string]string{
		wellknown.KVMUsable: "true", wellknown.KVMAPIVersion: "12", wellknown.KVMModule: wellknown.ModuleKVMPVM})
	f.Attributes[wellknown.FeatureCPU] = nfdv1alpha1.NewAttributeFeatures(map[string]string{
		wellknown.CPUHypervisor: "true", wellknown.CPUSMTActive: "false", wellknown.CPUCotenancySafe: "true"})
	f.Attributes[wellknown.FeatureVulnerability] = nfdv1alpha1.NewAttributeFeatures(map[string]string{
		"l1tf": "Mitigation: PTE Inversion; VMX: conditional cache flushes, SMT vulnerable", "spec_rstack_overflow": "Vulnerable: Safe RET, no microcode"})
	f.Attributes[wellknown.FeatureIOMMU] = nfdv1alpha1.NewAttributeFeatures(map[string]string{
		wellknown.IOMMUEnabled: "true", wellknown.IOMMUGroups: "212"})
	f.Attributes[wellknown.FeatureCapacity] = nfdv1alpha1.NewAttributeFeatures(map[string]string{
		wellknown.CapacityMemoryBytes: "270582939648", wellknown.CapacityShmBytes: "135291469824",
		wellknown.CapacitySandboxMemoryBytes: "135291469824", wellknown.CapacitySandboxes: "64"})
	f.Instances[wellknown.FeatureQAT] = nfdv1alpha1.NewInstanceFeatures(*nfdv1alpha1.NewInstanceFeature(map[string]string{
		wellknown.QATAddress: "0000:6b:00.1", wellknown.QATVendor: "8086", wellknown.QATDevice: "4941",
		wellknown.QATClass: "0b4000", wellknown.QATDriver: wellknown.DriverVFIOPCI, wellknown.QATIOMMUGroup: "180"}))
	f.Instances[wellknown.FeatureRuntime] = nfdv1alpha1.NewInstanceFeatures(
		*nfdv1alpha1.NewInstanceFeature(map[string]string{
			wellknown.RuntimeHandler: "kata-qemu", wellknown.RuntimeType: "io.containerd.kata-qemu.v2", wellknown.RuntimeSandbox: wellknown.SandboxKata,
			wellknown.RuntimeConfigPath:       "/opt/kata/share/defaults/kata-containers/configuration-qemu.toml",
			wellknown.RuntimeDefaultMemoryMiB: "2048", wellknown.RuntimeDefaultVCPUs: "1"}),
		*nfdv1alpha1.NewInstanceFeature(map[string]string{wellknown.RuntimeHandler: "runc", wellknown.RuntimeType: "io.containerd.runc.v2"}))
	return &nfdv1alpha1.NodeFeature{
		TypeMeta: metav1.TypeMeta{APIVersion: "nfd.k8s-sigs.io/v1alpha1", Kind: "NodeFeature"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      "mtscn-node-worker-1",
			Namespace: "mtscn-system",
			Labels:    map[string]string{nfdv1alpha1.NodeFeatureObjNodeNameLabel: "worker-1"},
		},
		Spec: nfdv1alpha1.NodeFeatureSpec{Features: *f},
	}
}
